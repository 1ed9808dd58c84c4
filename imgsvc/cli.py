"""The ``imgsvc`` command: ``dev``, ``worker``, ``reconcile``, ``stats``."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from imgsvc.config import load_settings
from imgsvc.queue import REDIS_ERRORS, Services, connect_redis

log = logging.getLogger(__name__)


def _setup_logging() -> None:
    from imgsvc.logs import setup_logging

    setup_logging()  # IMGSVC_LOG_FORMAT (json or text) and IMGSVC_LOG_LEVEL


@click.group()
def main() -> None:
    """imgsvc: image-resizing upload service."""
    _setup_logging()


@main.command()
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
def worker(burst: bool, name: str | None) -> None:
    """Run an RQ worker on the configured queue, with the scheduler (for retries)."""
    run_worker(burst=burst, name=name)


def worker_services(settings: Mapping[str, Any]) -> Services:
    """The clients of a worker process.

    A worker blocks in BLMOVE for up to WORKER_MAINTENANCE_INTERVAL seconds; a
    shorter socket timeout would abandon that call while Redis hands it a job,
    stranding the job in RQ's intermediate queue and wedging the worker.
    """
    return Services(
        settings, redis_socket_timeout=int(settings["WORKER_MAINTENANCE_INTERVAL"]) + 30
    )


def run_worker(burst: bool = False, name: str | None = None) -> None:
    """Start imgsvc's forking RQ worker with Pillow and imgsvc preloaded."""
    import imgsvc.tasks  # noqa: F401  (preload Pillow and the pipeline before forking)
    from imgsvc.imaging import jpegplanes
    from imgsvc.worker import ImgsvcWorker, warn_about_redis

    if not jpegplanes.preload():
        log.warning("libturbojpeg not found: JPEGs take the slower RGB decode")
    from imgsvc.priority import lower_priority

    svc = worker_services(load_settings())
    lower_priority(svc.settings)
    warn_about_redis(svc)
    worker = ImgsvcWorker(
        [svc.queue],
        connection=svc.redis,
        name=name,
        serializer=svc.queue.serializer,
        settings=svc.settings,
    )
    level = logging.getLevelName(logging.getLogger().level)
    worker.work(burst=burst, with_scheduler=True, logging_level=level)


@main.command()
def reconcile() -> None:
    """Re-enqueue every unfinished image that has no live job."""
    from imgsvc.reconcile import reconcile as run_reconcile

    report = run_reconcile(Services(load_settings()))
    click.echo(
        f"scanned {report.scanned}, finished {report.finished}, live {report.live}, "
        f"requeued {len(report.requeued)}, unreadable {len(report.unreadable)}, "
        f"discarded {len(report.discarded)}"
    )
    for image_id in report.requeued:
        click.echo(f"requeued {image_id}")
    for image_id in report.discarded:
        click.echo(f"discarded {image_id} (an abandoned upload: no manifest)")


@main.command()
@click.option("--failures", default=10, show_default=True, help="How many recent failures.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
def stats(failures: int, as_json: bool) -> None:
    """Queue depth per state, the workers, and the latest failures with their codes."""
    import json

    from imgsvc.stats import snapshot

    try:
        state = snapshot(Services(load_settings()).queue, failures)
    except REDIS_ERRORS as exc:
        raise click.ClickException(f"Redis is not answering: {exc}") from exc
    if as_json:
        click.echo(json.dumps(state, indent=2, default=str))
        return
    for name, counts in state["queues"].items():
        click.echo(f"queue {name}: " + ", ".join(f"{n} {label}" for label, n in counts.items()))
    click.echo(f"workers: {len(state['workers'])}")
    for row in state["workers"]:
        job = row["current_job"] or "-"
        click.echo(
            f"  {row['name']}  {row['state']}  {job}  {row['hostname']}:{row['pid']}"
            f"  (done {row['successful']}, failed {row['failed']})"
        )
    click.echo(f"recent failures: {len(state['failures'])}")
    for job in state["failures"]:
        error = job["error"] or {}
        click.echo(
            f"  {job['ended_at'] or '-'}  {job['id']}  {job['type']}  "
            f"{error.get('code', '-')}  {error.get('message', '')}"
        )


@main.command("metrics-server")
@click.option("--port", type=int, default=9100, show_default=True, help="Port to serve on.")
@click.option("--host", default=None, help="Address to bind (default: $IMGSVC_HOST).")
def metrics_server(port: int, host: str | None) -> None:
    """Serve this machine's worker samples on /metrics (for machines without the web app)."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    from imgsvc.metrics import multiprocess_dir

    folder = multiprocess_dir()
    if folder is None:
        raise click.ClickException("set PROMETHEUS_MULTIPROC_DIR to the workers' folder")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    address = host or str(load_settings()["HOST"])
    start_http_server(port, addr=address, registry=registry)
    click.echo(f"serving the samples in {folder} on http://{address}:{port}/metrics")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


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


@main.command()
@click.option("--port", type=int, default=None, help="Web port (default: $PORT or 5000).")
@click.option("--workers", type=int, default=1, help="How many RQ workers to start.")
def dev(port: int | None, workers: int) -> None:
    """Run everything on this machine: Redis (unless configured), gunicorn, workers."""
    var = Path("var").resolve()
    var.mkdir(exist_ok=True)
    env = dict(os.environ, IMGSVC_DEV="true")
    env.setdefault("IMGSVC_LOG_FORMAT", "text")
    metrics_dir = _fresh_metrics_dir(env, var)
    env.setdefault("IMGSVC_STORAGE_URL", "file://" + str(var / "media"))
    secret_file = var / "secret_key"
    if "IMGSVC_SECRET_KEY" not in env:
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(32))
            secret_file.chmod(0o600)
        env["IMGSVC_SECRET_KEY"] = secret_file.read_text().strip()
    settings = load_settings()
    port = port or int(settings["PORT"])
    host = settings["HOST"]
    children: list[subprocess.Popen] = []
    if "IMGSVC_REDIS_URL" not in env:
        redis_proc, env["IMGSVC_REDIS_URL"] = _start_redis(var)
        children.append(redis_proc)
    try:
        subprocess.run([sys.executable, "-m", "imgsvc", "reconcile"], env=env, check=False)
        children += [
            _spawn([sys.executable, "-m", "imgsvc", "worker"], env) for _ in range(workers)
        ]
        web = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", "2"]
        web += ["--no-control-socket", "imgsvc.wsgi:app"]  # the app logs each request
        children.append(_spawn(web, env))
        click.echo(f"\n  imgsvc is running at http://{host}:{port}/  (Ctrl-C stops it)")
        click.echo(f"  redis {env['IMGSVC_REDIS_URL']}, storage {env['IMGSVC_STORAGE_URL']}")
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
