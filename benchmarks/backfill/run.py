"""Backfill throughput, and what a running backfill costs an upload's wait.

``make bench-backfill`` (``python -m benchmarks.backfill``) starts gunicorn and
one ``worker.py`` on their own Redis, configured with the default variants
plus ``xxl:2560``, and stores finished images whose 12 MP originals have every
default variant but not ``xxl`` (as after adding a variant to a running
service). Then, side by side in one run:

1. **idle**: uploads one at a time with the queues empty; for each, the seconds
   from its enqueue to its job's start;
2. **backfill**: ``imgsvc backfill`` enqueues a job per image; while the worker
   makes the 2560 px variants, the same uploads again, the same wait measured.

Throughput is images per second of one worker's job time (the backfill jobs'
own start-to-end, so the uploads in between do not count against it), and
per second of wall time from the first backfill job's start to the last's end.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

from imgsvc.config import load_settings
from imgsvc.extensions import Services
from imgsvc.images import record
from imgsvc.images.backfill import run_backfill
from imgsvc.images.variantset import image_specs, spec_fields, versioned_key, versioned_url
from imgsvc.imaging import probe
from imgsvc.queue import backfill_queue, variants_job_id
from imgsvc.settings import Settings
from tests import factories
from tests.support.percentiles import percentiles
from tests.support.stack import Stack
from tests.support.wait import wait_until

DEFAULT = "thumb:200x200:cover,xs:320,sm:640,md:1024,lg:1600,xl:2048"
ADDED = "xxl:2560"


def store_images(svc: Services, count: int) -> list[str]:
    """``count`` finished images of one 12 MP photo, every default variant in the
    manifest (their objects are not needed: only ``xxl`` is made)."""
    data = factories.jpeg(4000, 3000, quality=90)
    info = probe(io.BytesIO(data), allowed_formats=["JPEG"], max_pixels=50_000_000, max_frames=1)
    ids = []
    for _ in range(count):
        image_id = record.new_image_id()
        svc.storage.put(record.original_key(image_id), data, "image/jpeg")
        manifest = record.new_manifest(image_id, info, len(data), "bench")
        manifest["original"]["etag"] = f"{image_id}-original"
        variants = {}
        # The specs of an image without a focal point, as the service judges them.
        for spec in image_specs({}, Settings({"VARIANTS": DEFAULT, "CROP": svc.config.CROP})):
            width, height = spec.target_size(4000, 3000)
            tag = spec.tag()
            variants[spec.name] = {
                "key": versioned_key(image_id, spec.name, tag, "jpg"),
                "url": versioned_url(image_id, spec.name, tag),
                "width": width,
                "height": height,
                "format": "JPEG",
                "content_type": "image/jpeg",
                "bytes": 1,
                "etag": tag,
                "formats": {},
                **spec_fields(spec),
            }
        manifest.update(status="done", variants=variants, processed_at=record.now_iso())
        record.save_manifest(svc, manifest)
        ids.append(image_id)
    return ids


def upload_waits(svc: Services, url: str, count: int, pause: float) -> tuple[list[float], int]:
    """Upload ``count`` small photos one after another; each one's seconds from
    enqueue to its job's start, and how many went in while backfill jobs waited."""
    waits, overlapping = [], 0
    queue = backfill_queue(svc.queue)
    for index in range(count):
        data = factories.jpeg(640, 480, seed=100 + index)
        response = requests.post(f"{url}/api/images", files={"file": ("p.jpg", data)}, timeout=30)
        response.raise_for_status()
        job_id = response.json()["job_id"]
        overlapping += queue.count > 0

        def started(job_id: str = job_id) -> Any:
            job = svc.queue.fetch_job(job_id)
            return job if job is not None and job.started_at else None

        job = wait_until(started, timeout=120, interval=0.01, message="upload job never started")
        waits.append((job.started_at - job.enqueued_at).total_seconds())
        time.sleep(pause)  # spread the uploads over the backfill
    return waits, overlapping


def measure(stack: Stack, count: int, uploads: int) -> dict[str, Any]:
    svc = Services(load_settings({**_settings(stack)}))
    ids = store_images(svc, count)
    idle, _ = upload_waits(svc, stack.url, uploads, pause=0.5)
    report = run_backfill(svc)
    assert report.enqueued == count, report
    busy, overlapping = upload_waits(svc, stack.url, uploads, pause=0.5)
    queue = backfill_queue(svc.queue)
    wait_until(lambda: queue.count == 0, timeout=900, message="backfill did not finish")
    jobs = [queue.fetch_job(variants_job_id(i, background=True)) for i in ids]
    wait_until(
        lambda: all(j.get_status() == "finished" for j in jobs), timeout=600, message="unfinished"
    )
    jobs = [queue.fetch_job(job.id) for job in jobs]  # read again: their end times
    job_seconds = sum((j.ended_at - j.started_at).total_seconds() for j in jobs)
    wall = (max(j.ended_at for j in jobs) - min(j.started_at for j in jobs)).total_seconds()
    return {
        "images": count,
        "original": "4000x3000 JPEG (12 MP)",
        "variant": ADDED,
        "workers": 1,
        "images_per_second_per_worker": round(count / job_seconds, 3),
        "images_per_second_wall": round(count / wall, 3),
        "seconds_per_image": round(job_seconds / count, 3),
        "upload_wait_idle_s": percentiles(sorted(idle)),
        "upload_wait_during_backfill_s": percentiles(sorted(busy)),
        "uploads_made_while_backfill_jobs_waited": overlapping,
        "estimate_after_run_s_per_megapixel": _cost(svc),
    }


def _cost(svc: Services) -> float | None:
    from imgsvc.images.jobcost import seconds_per_megapixel

    value = seconds_per_megapixel(svc.redis)
    return None if value is None else round(value, 4)


def _settings(stack: Stack) -> dict[str, str]:
    return {
        "REDIS_URL": stack.redis_url or "",
        "STORAGE_URL": f"file://{stack.media}",
        "VARIANTS": f"{DEFAULT},{ADDED}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        help="also write the figures as JSON to this file (no file: to stdout)",
    )
    parser.add_argument("--count", type=int, default=100, help="12 MP images to backfill")
    parser.add_argument("--uploads", type=int, default=10, help="uploads timed in each phase")
    args = parser.parse_args(argv)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        env = {"IMGSVC_VARIANTS": f"{DEFAULT},{ADDED}", "IMGSVC_MAX_QUEUED_JOBS": "0"}
        live = stack.enter_context(Stack(Path(tmp), web_workers=2, queue_workers=1, env=env))
        figures = measure(live, args.count, args.uploads)
    idle, busy = figures["upload_wait_idle_s"], figures["upload_wait_during_backfill_s"]
    print(
        f"backfill of {figures['variant']} over {figures['images']} 12 MP images, one worker: "
        f"{figures['images_per_second_per_worker']} images/s of job time "
        f"({figures['seconds_per_image']} s each), {figures['images_per_second_wall']} wall"
    )
    for label, row in (("idle", idle), ("with backfill", busy)):
        print(f"upload wait, {label:<14} p50 {row['p50']:.3f} s, max {row['max']:.3f} s")
    if args.json == "-":
        print(json.dumps(figures, indent=2))
    elif args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0
