"""The front: nginx between the network and gunicorn's sync processes.

A sync process serves one request at a time, so it must never wait on a
client. nginx (Debian's package; the layout gunicorn's deployment docs ask
for) reads each whole request before passing it on and takes each whole
response before trickling it out; the web processes only ever talk to it, on
loopback or a unix socket, at memory speed. What the front guarantees:

- **Headers** must arrive within ``FRONT_HEADER_TIMEOUT`` seconds of the
  connection's first byte, and an idle kept-alive connection is closed after
  ``FRONT_KEEPALIVE_TIMEOUT``: the front closes the connection (nginx logs 408).
- **Bodies** may take minutes: the front buffers them (on disk past 64 KiB),
  cutting a client off only when no byte came for ``FRONT_IDLE_TIMEOUT``
  seconds (408). A body larger than ``MAX_CONTENT_LENGTH`` is refused with the
  app's ``413 file_too_large``. Once the whole request is in, the front tells
  the app how long it took (``X-Imgsvc-Receive-Seconds``), and an upload past
  ``UPLOAD_DEADLINE`` is refused with ``408 request_timeout`` before anything
  is stored (:mod:`imgsvc.web.deadline`).
- **Responses** are taken from the app whole (in memory, then on disk up to
  ``FRONT_MAX_RESPONSE_SPOOL``), so a slow reader of a variant holds a cheap
  nginx connection, not a Python process; a reader that takes no byte for
  ``FRONT_IDLE_TIMEOUT`` seconds is cut off.
- **Connections**: at most ``FRONT_MAX_CONNECTIONS`` per front process, and
  ``FRONT_MAX_CONNECTIONS_PER_CLIENT`` requests in progress per client address
  (past it: the app's ``429 too_many_connections``). Past the process's
  connections, new ones wait in the kernel's accept queue (``FRONT_BACKLOG``),
  then are refused by the kernel.

Behind load balancers (``FRONT_REAL_IP_FROM``: their networks), the client's
address is the one they put in ``X-Forwarded-For``, for the per-client cap and
for the app alike.

Every refusal or cut-off is a line in ``<FRONT_DIR>/refusals.log``, which
``/metrics`` counts (:mod:`imgsvc.front.refusals`).
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from imgsvc.config import csv_list
from imgsvc.settings import Settings

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
TEMP_FOLDERS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


class FrontUnavailable(RuntimeError):
    """nginx is not installed, or its configuration was refused."""


def render_config(settings: Mapping[str, Any], *, listen: str, upstream: str, folder: Path) -> str:
    """The nginx configuration for ``settings``.

    ``listen`` is nginx's ``listen`` address (``host:port``); ``upstream`` the
    app's (``host:port`` or ``unix:/path``); ``folder`` holds the pid file, the
    logs and the spooled bodies.
    """
    config = Settings(settings)
    max_connections = config.FRONT_MAX_CONNECTIONS
    return _TEMPLATES.get_template("nginx.conf.j2").render(
        user=pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None,
        workers=config.FRONT_WORKERS,
        # Each proxied request holds two descriptors (client and app), plus spooled files.
        rlimit_nofile=max_connections * 3 + 64,
        max_connections=max_connections,
        folder=folder,
        header_timeout=_seconds(config.FRONT_HEADER_TIMEOUT),
        idle_timeout=_seconds(config.FRONT_IDLE_TIMEOUT),
        keepalive_timeout=_seconds(config.FRONT_KEEPALIVE_TIMEOUT),
        app_timeout=_seconds(config.FRONT_APP_TIMEOUT),
        max_body=config.MAX_CONTENT_LENGTH,
        max_response_spool=config.FRONT_MAX_RESPONSE_SPOOL,
        per_client=config.FRONT_MAX_CONNECTIONS_PER_CLIENT,
        real_ip_from=csv_list(config.FRONT_REAL_IP_FROM),
        zone_size="10m",
        upstream=upstream,
        listen=listen,
        backlog=config.FRONT_BACKLOG,
        reuseport=False,
    )


def _seconds(value: float) -> int:
    return max(1, round(value))


def nginx_binary() -> str:
    """The path of nginx; ``FrontUnavailable`` when it is not installed."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FrontUnavailable(
        "nginx not found: `make run` installs it (Debian: apt-get install nginx)"
    )


def prepare(settings: Mapping[str, Any], *, listen: str, upstream: str, folder: Path) -> list[str]:
    """Write the configuration into ``folder``; the command that runs nginx in the foreground."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in TEMP_FOLDERS:
        (folder / "tmp" / name).mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(render_config(settings, listen=listen, upstream=upstream, folder=folder))
    return [nginx_binary(), "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(config)]
