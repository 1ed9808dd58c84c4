"""A load run against a whole stack: concurrent uploads over HTTP, every image
waited for, and every check that nothing was lost or duplicated.

Shared by ``tests/system/test_load.py`` (a short run) and ``make bench-load``
(:mod:`benchmarks.load`, the long one with its figures). A run never fails by
itself: every failed check is a line of :attr:`LoadResult.problems`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from tests.support.percentiles import percentiles
from tests.support.stack import Stack
from tests.support.wait import wait_all_final

# (width, height, seed): a phone photo, a camera export, web-sized images.
PHOTO_SIZES = [(4000, 3000, 1), (3000, 2000, 2), (1600, 1200, 3), (1024, 768, 4), (800, 600, 5)]
VARIANTS = ("thumb", "xs", "sm", "md", "lg", "xl")


@dataclass
class Upload:
    """One upload as the client saw it."""

    index: int
    sent_at: float  # wall clock, to compare with the server's processed_at
    latency: float
    status: int
    image_id: str | None


@dataclass
class LoadResult:
    """What a run measured, and every check that failed."""

    uploads: int
    clients: int
    bytes_sent: int
    upload_seconds: float
    total_seconds: float
    upload_latency: dict[str, float]
    time_to_ready: dict[str, float]
    processing_time: dict[str, float]
    statuses: dict[str, int]
    final: dict[str, int]
    server_errors: int
    problems: list[str] = field(default_factory=list)

    @property
    def uploads_per_second(self) -> float:
        return self.uploads / self.upload_seconds if self.upload_seconds else 0.0

    @property
    def images_per_second(self) -> float:
        return self.uploads / self.total_seconds if self.total_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict, throughput included."""
        return {
            **asdict(self),
            "uploads_per_second": round(self.uploads_per_second, 2),
            "images_per_second": round(self.images_per_second, 2),
        }


def make_photos(sizes: list[tuple[int, int, int]] = PHOTO_SIZES) -> list[tuple[str, bytes]]:
    """Photo-like JPEGs (gradients, shapes, noise, EXIF) of the given sizes."""
    from tests import factories

    return [
        (f"photo-{w}x{h}.jpg", factories.jpeg(w, h, quality=85, seed=seed)) for w, h, seed in sizes
    ]


def upload_all(url: str, files: list[tuple[str, bytes]], total: int, clients: int) -> list[Upload]:
    """Send ``total`` uploads from ``clients`` threads, each with its own session."""
    counter, lock = itertools.count(), threading.Lock()
    results: list[Upload] = []

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                index = next(counter)
            if index >= total:
                return
            name, data = files[index % len(files)]
            sent_at, started = time.time(), time.perf_counter()
            try:
                response = session.post(
                    f"{url}/api/images", files={"file": (name, data, "image/jpeg")}, timeout=120
                )
                status = response.status_code
                image_id = response.json().get("id") if status == 202 else None
            except requests.RequestException:
                status, image_id = 0, None  # connection refused/reset: counted as lost
            latency = time.perf_counter() - started
            with lock:
                results.append(Upload(index, sent_at, latency, status, image_id))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda upload: upload.index)


def check_storage(images_dir: Path, ids: list[str]) -> list[str]:
    """Problems with what is on disk: extra or missing folders, unfinished manifests."""
    problems = []
    folders = sorted(path.name for path in images_dir.iterdir()) if images_dir.exists() else []
    if len(folders) != len(ids) or set(folders) != set(ids):
        problems.append(f"storage holds {len(folders)} image folders for {len(ids)} uploads")
    for image_id in ids:
        path = images_dir / image_id / "manifest.json"
        if not path.exists():
            problems.append(f"{image_id}: no manifest")
            continue
        manifest = json.loads(path.read_text())
        variants = manifest.get("variants") or {}
        if manifest.get("status") != "done" or sorted(variants) != sorted(VARIANTS):
            problems.append(
                f"{image_id}: manifest {manifest.get('status')} with {sorted(variants)}"
            )
        missing = [
            name for name, v in variants.items() if not (images_dir.parent / v["key"]).exists()
        ]
        if missing:
            problems.append(f"{image_id}: variant files missing: {missing}")
    return problems


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def job_seconds(url: str, ids: list[str]) -> list[float]:
    """How long each image's job ran in a worker (RQ's started_at → ended_at)."""
    session = requests.Session()

    def seconds(image_id: str) -> float | None:
        job = session.get(f"{url}/api/jobs/image-{image_id}", timeout=30).json()
        if not (job.get("started_at") and job.get("ended_at")):
            return None
        return _epoch(job["ended_at"]) - _epoch(job["started_at"])

    with ThreadPoolExecutor(4) as pool:
        return [value for value in pool.map(seconds, ids) if value is not None]


def run_load(
    stack: Stack, files: list[tuple[str, bytes]], total: int, clients: int, timeout: float = 900
) -> LoadResult:
    """Upload ``total`` files from ``clients`` threads, wait for all, check everything."""
    started = time.monotonic()
    uploads = upload_all(stack.url, files, total, clients)
    upload_seconds = time.monotonic() - started
    ids = [upload.image_id for upload in uploads if upload.image_id]
    final, server_errors = wait_all_final(stack.url, ids, timeout)
    total_seconds = time.monotonic() - started

    problems: list[str] = []
    statuses: dict[str, int] = {}
    for upload in uploads:
        statuses[str(upload.status)] = statuses.get(str(upload.status), 0) + 1
        server_errors += upload.status >= 500
    if statuses != {"202": total}:
        problems.append(f"upload answers {statuses}, expected {total} × 202")
    if len(set(ids)) != len(ids):
        problems.append(f"duplicate ids: {len(ids) - len(set(ids))}")
    if len(final) != len(ids):
        problems.append(f"{len(ids) - len(final)} images not finished within {timeout:.0f} s")
    outcomes: dict[str, int] = {}
    for body in final.values():
        outcomes[body["status"]] = outcomes.get(body["status"], 0) + 1
        if body["status"] != "done":
            problems.append(f"{body['id']} ended {body['status']}: {body.get('error')}")
    if server_errors:
        problems.append(f"{server_errors} responses were 5xx")
    problems += check_storage(stack.images_dir, ids)
    queue = stack.redis()
    if queue.llen("rq:queue:default"):
        problems.append("jobs left in the queue")

    ready = [
        _epoch(final[u.image_id]["processed_at"]) - u.sent_at
        for u in uploads
        if u.image_id in final and final[u.image_id].get("processed_at")
    ]
    return LoadResult(
        uploads=total,
        clients=clients,
        bytes_sent=sum(len(files[u.index % len(files)][1]) for u in uploads),
        upload_seconds=round(upload_seconds, 3),
        total_seconds=round(total_seconds, 3),
        upload_latency=percentiles([u.latency for u in uploads]),
        time_to_ready=percentiles(ready),
        processing_time=percentiles(job_seconds(stack.url, list(final))),
        statuses=statuses,
        final=outcomes,
        server_errors=server_errors,
        problems=problems,
    )


def report(result: LoadResult, setup: str) -> str:
    """A human-readable summary."""
    lat, ready, work = result.upload_latency, result.time_to_ready, result.processing_time
    lines = [
        f"setup: {setup}",
        f"uploads: {result.uploads} from {result.clients} clients, "
        f"{result.bytes_sent / 1e6:.1f} MB; answers {result.statuses}; final {result.final}",
        f"upload latency  p50 {lat.get('p50')} s  p90 {lat.get('p90')} s  "
        f"p99 {lat.get('p99')} s  max {lat.get('max')} s",
        f"time to ready   p50 {ready.get('p50')} s  p90 {ready.get('p90')} s  "
        f"p99 {ready.get('p99')} s  max {ready.get('max')} s",
        f"job run time    p50 {work.get('p50')} s  p90 {work.get('p90')} s  "
        f"p99 {work.get('p99')} s  max {work.get('max')} s  (in a worker, queue wait excluded)",
        f"upload phase {result.upload_seconds:.1f} s "
        f"({result.uploads_per_second:.1f} uploads/s); all processed after "
        f"{result.total_seconds:.1f} s ({result.images_per_second:.2f} images/s)",
        f"5xx responses: {result.server_errors}",
        "checks: " + ("all passed" if not result.problems else f"{len(result.problems)} FAILED"),
    ]
    lines += [f"  - {problem}" for problem in result.problems[:50]]
    return "\n".join(lines)
