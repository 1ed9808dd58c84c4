"""Redis connections: the one place a Redis client of imgsvc is built.

``IMGSVC_REDIS_URL`` takes either form, and every process (web, workers and
their scheduler, ``imgsvc reconcile`` / ``stats``, ``/healthz``, ``imgsvc dev``)
connects through :func:`connect_redis`:

- a plain Redis URL, as redis-py's ``Redis.from_url`` reads it:
  ``redis://[[user]:password@]host:6379/0``, ``rediss://...``, ``unix://...``;
- a Sentinel URL, for a master that Redis Sentinel fails over::

      redis+sentinel://[[user]:password@]host1:26379,host2:26379,host3/mymaster[/db][?options]

  the sentinels (port 26379 when left out; ``[::1]:26379`` for IPv6), the
  name of the monitored master, the database (0). The user and password are
  the *master's* (``requirepass`` / ACL). Options: ``sentinel_password`` and
  ``sentinel_username`` when the sentinels themselves require auth
  (``requirepass`` in sentinel.conf). ``rediss+sentinel://`` speaks TLS to
  the master and the sentinels.

A Sentinel client asks the sentinels for the master's address when it
connects, and again whenever a connection fails or the server it reached has
become a replica (redis-py's ``SentinelConnectionPool``), so a failover needs
no restart: commands fail with a ``redis.ConnectionError`` (``MasterNotFoundError``
while no sentinel names a master) until the new master is elected, then work.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from redis import Redis
from redis.connection import parse_url
from redis.sentinel import Sentinel

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # scheme: TLS
SENTINEL_PORT = 26379
_SENTINEL_OPTIONS = {"sentinel_password", "sentinel_username"}
# Asking a sentinel is one short command; a sentinel that does not answer in this
# time is skipped for the next one.
SENTINEL_TIMEOUT = 1.0
CONNECT_TIMEOUT = 2.0


@dataclass(frozen=True)
class SentinelAddress:
    """What a ``redis+sentinel://`` URL names."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` is in the Sentinel form (its scheme is ``redis+sentinel``)."""
    return url.partition("://")[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelAddress:
    """Read a ``redis+sentinel://`` URL (syntax in the module docstring).

    Raises ``ValueError`` naming what is wrong: another scheme, no sentinel, a
    port that is not a number, no master name, a database that is not a
    number, an unknown option.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL (redis+sentinel://...): {scheme}://")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = tuple(_host_port(item) for item in hosts.split(",") if item.strip())
    if not sentinels:
        raise ValueError("a Sentinel URL names at least one sentinel: redis+sentinel://host:26379/")
    path = [unquote(item) for item in parts.path.split("/") if item]
    if not path or len(path) > 2:
        raise ValueError("a Sentinel URL's path is /<master name>[/<db>]")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ValueError(f"the database of a Sentinel URL is a number, not {path[1]!r}")
        db = int(path[1])
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(options) - _SENTINEL_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown Sentinel URL option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_SENTINEL_OPTIONS))}"
        )
    return SentinelAddress(
        sentinels=sentinels,
        service=path[0],
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
        ssl=SENTINEL_SCHEMES[scheme],
    )


def _host_port(item: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not host:
        raise ValueError(f"a sentinel without a host: {item!r}")
    if port and not port.isdigit():
        raise ValueError(f"the port of sentinel {item!r} is not a number")
    return host, int(port) if port else SENTINEL_PORT


def check_redis_url(url: str) -> None:
    """Raise ``ValueError`` unless ``url`` is a Redis URL of either form; no network."""
    if is_sentinel_url(url):
        parse_sentinel_url(url)
    else:
        parse_url(url)


def connect_redis(url: str, socket_timeout: float = 10) -> Redis:
    """A Redis client for ``url`` (either form) that fails fast when Redis is down.

    Nothing is sent until the first command. ``socket_timeout`` bounds each
    command's wait for an answer (a worker's blocking dequeue needs more than
    the default); connecting is bounded by a couple of seconds. Raises
    ``ValueError`` for a malformed URL; commands raise ``redis.RedisError`` /
    ``OSError`` when no master answers.
    """
    if not is_sentinel_url(url):
        return Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=socket_timeout
        )
    address = parse_sentinel_url(url)
    sentinel_kwargs = {
        "socket_timeout": SENTINEL_TIMEOUT,
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        "username": address.sentinel_username,
        "password": address.sentinel_password,
        "ssl": address.ssl,
    }
    sentinel = Sentinel(list(address.sentinels), sentinel_kwargs=sentinel_kwargs)
    return sentinel.master_for(
        address.service,
        db=address.db,
        username=address.username,
        password=address.password,
        ssl=address.ssl,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT,
    )
