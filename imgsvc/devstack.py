"""``imgsvc dev``: the whole service on one machine, as ``make run`` starts it.

Redis (unless ``IMGSVC_REDIS_URL`` is set), the front (nginx on
``HOST:PORT``), gunicorn behind it on a loopback port of its own, and the
workers; storage in ``var/media`` unless ``IMGSVC_STORAGE_URL`` is set (an
``s3://`` one gets the upload form's CORS rule, ``imgsvc s3-cors``, when
``IMGSVC_S3_CORS_ORIGINS`` is set). The
front is the same as in production (:mod:`imgsvc.front`), so the embedded
default is protected from slow and idle clients as well. Ctrl-C (or SIGTERM,
or the terminal closing) stops the children in order: front and web first,
workers after their running job, Redis last. If any child exits, everything
stops.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from imgsvc.config import SettingsError, load_settings
from imgsvc.extensions import REDIS_ERRORS
from imgsvc.front import FrontUnavailable, prepare
from imgsvc.redisconn import connect_redis
from imgsvc.settings import parse_settings


def run_dev(port: int | None, workers: int) -> None:
    """Start everything and wait; return once it is all stopped again.

    Raises ``click.ClickException`` naming a setting of the wrong type, before
    anything starts.
    """
    var = Path("var").resolve()
    var.mkdir(exist_ok=True)
    env = dict(os.environ, IMGSVC_DEV="true")
    env.setdefault("IMGSVC_LOG_FORMAT", "text")
    metrics_dir = _fresh_metrics_dir(env, var)
    env.setdefault("IMGSVC_STORAGE_URL", "file://" + str(var / "media"))
    env.setdefault("IMGSVC_FRONT_DIR", str(var / "front"))
    env.setdefault("IMGSVC_TRUSTED_PROXIES", "1")  # the front sets X-Forwarded-For
    secret_file = var / "secret_key"
    if "IMGSVC_SECRET_KEY" not in env:
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(32))
            secret_file.chmod(0o600)
        env["IMGSVC_SECRET_KEY"] = secret_file.read_text().strip()
    try:
        config = parse_settings(load_settings())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    port = port or config.PORT
    host = config.HOST
    app_address = f"127.0.0.1:{_free_port()}"
    try:
        front = prepare(
            load_settings({"FRONT_DIR": env["IMGSVC_FRONT_DIR"]}),
            listen=f"{host}:{port}",
            upstream=app_address,
            folder=Path(env["IMGSVC_FRONT_DIR"]),
        )
    except FrontUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    children: list[subprocess.Popen] = []
    if "IMGSVC_REDIS_URL" not in env:
        redis_proc, env["IMGSVC_REDIS_URL"] = _start_redis(var)
        children.append(redis_proc)
    try:
        subprocess.run([sys.executable, "-m", "imgsvc", "reconcile"], env=env, check=False)
        if config.S3_CORS_ORIGINS and env["IMGSVC_STORAGE_URL"].startswith("s3://"):
            # The bucket's rule for the form's direct uploads; if S3 refuses it, the
            # command says why and the form posts files through the web instead.
            subprocess.run([sys.executable, "-m", "imgsvc", "s3-cors"], env=env, check=False)
        children += [
            _spawn([sys.executable, "-m", "imgsvc", "worker"], env) for _ in range(workers)
        ]
        web = [sys.executable, "-m", "gunicorn", "--bind", app_address, "--workers", "2"]
        web += ["--no-control-socket", "imgsvc.wsgi:app"]  # the app logs each request
        children.append(_spawn(web, env))
        children.append(_spawn(front, env))
        click.echo(f"\n  imgsvc is running at http://{host}:{port}/  (Ctrl-C stops it)")
        click.echo(f"  redis {env['IMGSVC_REDIS_URL']}, storage {env['IMGSVC_STORAGE_URL']}")
        click.echo(f"  front: nginx on {host}:{port} before gunicorn on {app_address}")
        click.echo(f"  metrics http://{host}:{port}/metrics (samples in {metrics_dir})\n")
        # SIGINT too: a shell starts a background job with SIGINT ignored, and
        # Python then leaves it ignored; `kill -INT` (or Ctrl-C) must still stop it.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGHUP, _interrupt)  # the terminal closed
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise click.ClickException("a child process exited; stopping")
    except KeyboardInterrupt:
        click.echo("stopping…")
    finally:
        _stop(children)
        if metrics_dir == var / "prometheus":
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(var: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise click.ClickException("redis-server not found: run `make run`, which installs it.")
    port = _free_port()
    folder = var / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        process_group=0,  # see _spawn
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            connect_redis(url).ping()
            return proc, url
        except REDIS_ERRORS:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.terminate()
                raise click.ClickException("redis-server did not start") from None
            time.sleep(0.05)


def _fresh_metrics_dir(env: dict[str, str], var: Path) -> Path:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty ``var/prometheus`` (unless set).

    The web and worker processes write their samples there; a new run starts at zero.
    """
    if env.get("PROMETHEUS_MULTIPROC_DIR"):
        return Path(env["PROMETHEUS_MULTIPROC_DIR"])
    folder = var / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Own process group: Ctrl-C reaches only `imgsvc dev`, which stops the
    # children in order. Same session: Linux schedules each session as one
    # group, so the workers' SCHED_IDLE yields to the web (imgsvc.priority).
    return subprocess.Popen(args, env=env, process_group=0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen]) -> None:
    """Stop web and workers first (workers finish their job), Redis last."""
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
