"""The ``imgsvc`` command: ``dev``, ``worker``, ``reconcile``, ``backfill``, ``retry-failed``,
``stats``, ``metrics-server``, ``front``, ``keys``, ``s3-cors``, ``upload``."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import click

from imgsvc.config import SettingsError, load_settings
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.redisconn import check_redis_url
from imgsvc.settings import Settings, parse_settings

log = logging.getLogger(__name__)


def _setup_logging() -> None:
    """Log as ``IMGSVC_LOG_FORMAT`` (json or text) says, from ``IMGSVC_LOG_LEVEL`` up.

    Raises ``SettingsError`` for an ``IMGSVC_*`` variable that names no setting.
    """
    from imgsvc.logs import setup_logging

    setup_logging(Settings(load_settings()))


def _settings() -> Settings:
    """This command's settings, checked whole at its start.

    Raises ``click.ClickException`` naming a setting of the wrong type (or an
    ``IMGSVC_*`` variable naming none, or a malformed ``IMGSVC_REDIS_URL``):
    the command stops before doing anything.
    """
    try:
        settings = parse_settings(load_settings())
        check_redis_url(settings.REDIS_URL)
    except ValueError as exc:  # SettingsError among them
        raise click.ClickException(f"{exc}") from exc
    return settings


@click.group()
def main() -> None:
    """imgsvc: image-resizing upload service."""
    try:
        _setup_logging()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
def worker(burst: bool, name: str | None) -> None:
    """Run an RQ worker on the image and word-count queues in turn, with the scheduler."""
    try:
        run_worker(burst=burst, name=name)
    except ValueError as exc:  # SettingsError, or a malformed IMGSVC_REDIS_URL
        raise click.ClickException(str(exc)) from exc


def worker_services(settings: Mapping[str, Any]) -> Services:
    """The clients of a worker process.

    A worker blocks in BLMOVE for up to WORKER_MAINTENANCE_INTERVAL seconds; a
    shorter socket timeout would abandon that call while Redis hands it a job,
    stranding the job in RQ's intermediate queue and wedging the worker.
    """
    interval = Settings(settings).WORKER_MAINTENANCE_INTERVAL
    return Services(settings, redis_socket_timeout=interval + 30)


def run_worker(burst: bool = False, name: str | None = None) -> None:
    """Start imgsvc's forking RQ worker with Pillow and imgsvc preloaded.

    Raises ``SettingsError`` naming a setting of the wrong type, or
    ``ValueError`` for a malformed ``IMGSVC_REDIS_URL``, before it starts.
    """
    import imgsvc.tasks  # noqa: F401  (preload Pillow and the pipeline before forking)
    import imgsvc.web.present  # noqa: F401  (the image view webhook events carry; not per job)
    from imgsvc.imaging import jpegplanes
    from imgsvc.queue import job_queues
    from imgsvc.worker import ImgsvcWorker, warn_about_redis

    if not jpegplanes.preload():
        log.warning("libturbojpeg not found: JPEGs take the slower RGB decode")
    from imgsvc.priority import lower_priority

    settings = parse_settings(load_settings())
    check_redis_url(settings.REDIS_URL)
    svc = worker_services(settings.values)
    lower_priority(svc.settings)
    warn_about_redis(svc)
    worker = ImgsvcWorker(
        job_queues(svc.queue),  # images first, then word counts; taken in turn
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
    from imgsvc.images.reconcile import reconcile as run_reconcile

    report = run_reconcile(Services(_settings().values))
    click.echo(
        f"scanned {report.scanned}, finished {report.finished}, live {report.live}, "
        f"requeued {len(report.requeued)}, unreadable {len(report.unreadable)}, "
        f"discarded {len(report.discarded)}"
    )
    for image_id in report.requeued:
        click.echo(f"requeued {image_id}")
    for image_id in report.discarded:
        click.echo(f"discarded {image_id} (an abandoned upload: no manifest)")


@main.command("s3-cors")
def s3_cors() -> None:
    """Let the upload form's pages (IMGSVC_S3_CORS_ORIGINS) POST files to the bucket.

    Writes the bucket's CORS rule for the form (other rules stay); with no
    origins configured, removes it. Exits 1 unless the storage is S3 and the
    bucket took the rule.
    """
    from imgsvc.config import csv_list
    from imgsvc.errors import StorageUnavailable
    from imgsvc.storage import S3Storage, storage_from_settings
    from imgsvc.storage.cors import RULE_ID, apply_upload_cors

    settings = _settings()
    storage = storage_from_settings(settings.values)
    if not isinstance(storage, S3Storage):
        raise click.ClickException("IMGSVC_STORAGE_URL is not s3://: the form posts to the web")
    origins = csv_list(settings.S3_CORS_ORIGINS)
    try:
        rules = apply_upload_cors(storage, origins)
    except (ValueError, StorageUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    if origins:
        click.echo(f"bucket {storage.bucket}: POST allowed from {', '.join(origins)} ({RULE_ID})")
    else:
        click.echo(f"bucket {storage.bucket}: no IMGSVC_S3_CORS_ORIGINS, rule {RULE_ID} removed")
    click.echo(f"{len(rules)} CORS rule(s) on the bucket")


@main.command()
@click.option(
    "--dry-run", is_flag=True, help="Count and estimate only: enqueue and delete nothing."
)
@click.option("--prune", is_flag=True, help="Also delete objects of variants no longer configured.")
@click.option(
    "--restart", is_flag=True, help="Start at the first image, not where a killed run was."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def backfill(dry_run: bool, prune: bool, restart: bool, as_json: bool) -> None:
    """Make missing or stale variants of every image (jobs on the backfill queue)."""
    import json
    import sys

    from imgsvc.images.backfill import count_images, run_backfill

    svc = Services(_settings().values)
    try:
        if as_json or not sys.stdout.isatty():
            report = run_backfill(svc, dry_run=dry_run, prune_old=prune, restart=restart)
        else:
            with click.progressbar(length=count_images(svc), label="images") as bar:
                report = run_backfill(
                    svc,
                    dry_run=dry_run,
                    prune_old=prune,
                    restart=restart,
                    on_image=lambda _image_id: bar.update(1),
                )
    except REDIS_ERRORS as exc:
        raise click.ClickException(f"Redis is not answering: {exc}") from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    for line in report_lines(report):
        click.echo(line)


def report_lines(report: Any) -> list[str]:
    """``imgsvc backfill``'s report as text."""
    verb = "would enqueue" if report.dry_run else "enqueued"
    lines = []
    if report.resumed_after:
        lines.append(f"resumed after image {report.resumed_after} (use --restart to start over)")
    lines.append(
        f"scanned {report.scanned}: {verb} {report.enqueued}, current {report.current}, "
        f"unfinished {report.unfinished}, failed {report.failed}, live {report.live}, "
        f"unreadable {report.unreadable}"
    )
    if report.variants:
        lacking = ", ".join(f"{name} {n}" for name, n in sorted(report.variants.items()))
        lines.append(f"images lacking each variant: {lacking}")
    if report.estimated_worker_seconds is not None:
        lines.append(
            f"estimated worker time: {report.estimated_worker_seconds:.0f} s "
            f"({report.megapixels:.1f} megapixels of originals at "
            f"{report.seconds_per_megapixel:.3f} s per megapixel, as measured by the jobs so far)"
        )
    else:
        lines.append(
            f"estimated worker time: unknown until a variants job has run "
            f"({report.megapixels:.1f} megapixels of originals to decode)"
        )
    if report.prune:
        verb = "would delete" if report.dry_run else "deleted"
        lines.append(
            f"prune: {verb} {report.pruned_objects} object(s) of {report.pruned_images} image(s)"
        )
    if report.failed:
        lines.append("failed images are not backfilled: see `imgsvc retry-failed --dry-run`")
    return lines


@main.command("retry-failed")
@click.option("--code", "codes", multiple=True, help="Only images failed with this code (repeat).")
@click.option("--dry-run", is_flag=True, help="List what would be retried; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def retry_failed(codes: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Enqueue failed images again (e.g. --code storage_unavailable --code timeout)."""
    import json

    from imgsvc.images.failures import retry_failed as run_retry

    try:
        report = run_retry(Services(_settings().values), codes, dry_run=dry_run)
    except REDIS_ERRORS as exc:
        raise click.ClickException(f"Redis is not answering: {exc}") from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    by_code = ", ".join(f"{code} {n}" for code, n in sorted(report.failed.items())) or "none"
    verb = "would retry" if dry_run else "retried"
    click.echo(f"scanned {report.scanned}; failed by code: {by_code}")
    click.echo(f"{verb} {len(report.retried)}, skipped {len(report.skipped)}")
    for image_id in report.retried:
        click.echo(f"{verb} {image_id}")


@main.command()
@click.option("--failures", default=10, show_default=True, help="How many recent failures.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
def stats(failures: int, as_json: bool) -> None:
    """Queue depth per state, the workers, and the latest failures with their codes."""
    import json

    from imgsvc.stats import snapshot

    try:
        state = snapshot(Services(_settings().values).queue, failures)
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
    address = host or _settings().HOST
    start_http_server(port, addr=address, registry=registry)
    click.echo(f"serving the samples in {folder} on http://{address}:{port}/metrics")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--port", type=int, default=None, help="Web port (default: $PORT or 5000).")
@click.option("--workers", type=int, default=1, help="How many RQ workers to start.")
def dev(port: int | None, workers: int) -> None:
    """Run everything on this machine: Redis (unless configured), the front, gunicorn, workers."""
    from imgsvc.devstack import run_dev

    run_dev(port, workers)


@main.command()
@click.option("--listen", default=None, help="Address to listen on (default: $IMGSVC_HOST:$PORT).")
@click.option("--upstream", required=True, help="gunicorn's address: host:port or unix:/path.")
@click.option("--print-config", is_flag=True, help="Print nginx's configuration and exit.")
def front(listen: str | None, upstream: str, print_config: bool) -> None:
    """Run the front (nginx, configured from IMGSVC_FRONT_*) before gunicorn, in the foreground."""
    from imgsvc.front import FrontUnavailable, prepare, render_config

    config = _settings()
    listen = listen or f"{config.HOST}:{config.PORT}"
    folder = Path(config.FRONT_DIR)
    if print_config:
        click.echo(
            render_config(config.values, listen=listen, upstream=upstream, folder=folder), nl=False
        )
        return
    try:
        command = prepare(config.values, listen=listen, upstream=upstream, folder=folder)
    except FrontUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    os.execv(command[0], command)


@main.group()
def keys() -> None:
    """API keys (IMGSVC_API_KEYS)."""


@keys.command("create")
@click.argument("name")
@click.option(
    "--rate", default="", help="Its upload rate limit, e.g. 120/60 (default: everyone's)."
)
@click.option("--daily", type=int, default=None, help="Its uploads per UTC day (0: no quota).")
def keys_create(name: str, rate: str, daily: int | None) -> None:
    """Make a key for NAME: print it once, and the entry to add to IMGSVC_API_KEYS."""
    from imgsvc import apikeys

    key = apikeys.new_key()
    line = apikeys.entry(name, key, rate, daily)
    try:
        apikeys.parse_keys(line)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"key (shown once, keep it secret): {key}")
    click.echo(f"add this entry to IMGSVC_API_KEYS (comma-separated) or its file: {line}")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--url", required=True, help="The service, e.g. http://127.0.0.1:5000.")
@click.option("--key", default=None, help="API key (visible to ps: prefer --key-file).")
@click.option("--key-file", type=click.File(), default=None, help="A file holding the API key.")
@click.option("--no-wait", is_flag=True, help="Do not wait for the images to finish.")
@click.option("--json", "json_path", default=None, help="Also write the results to this file.")
@click.option("--parallel", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait.")
@click.option("--retries", type=click.IntRange(0, 100), default=8, show_default=True)
def upload(
    paths: tuple[str, ...],
    url: str,
    key: str | None,
    key_file: TextIO | None,
    no_wait: bool,
    json_path: str | None,
    parallel: int,
    timeout: float,
    retries: int,
) -> None:
    """Upload files and folders of images to the service at --url (safe to rerun)."""
    from imgsvc.client import ClientError, Options, run

    if key_file is not None:
        key = key_file.read().strip()
    options = Options(url, key, not no_wait, timeout, parallel, retries)
    try:
        code = run(list(paths), options, json_path)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    raise SystemExit(code)
