"""Service-level speed: upload latency, queue overhead, worker scaling.

``make bench-service`` (``python -m benchmarks.service --json out.json``)
starts the real stack on loopback (gunicorn, redis-server, ``worker.py``
processes, filesystem storage, or S3 on moto's server with ``--s3``) and
measures, in one run:

- upload latency p50/p95/p99 for a ~4 MB 12 MP JPEG while every worker is
  busy, next to the same upload processed synchronously in the request
  (:mod:`benchmarks.service.sync_app`, same pipeline and storage);
- queue overhead: time-to-ready seen by a polling client minus the job's own
  run time (RQ's started_at → ended_at), p50/p99, with idle workers;
- throughput (images per second) with 1 and with 2 workers, and the ratio;
- enqueue-to-start latency of tiny word-count jobs under a backlog of images;
- the cost of RQ's fork per job, with imgsvc preloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import start_moto
from benchmarks.service.client import (
    busy_workers,
    camera_jpeg,
    job_times,
    post,
    wait_done,
)
from benchmarks.service.report import report
from benchmarks.service.upload import measure_upload_latency
from tests.support.images import jpeg_input
from tests.support.percentiles import percentiles
from tests.support.stack import Stack
from tests.support.wait import wait_for


def measure_queue_overhead(root: Path, photo: bytes, env: dict[str, str], samples: int) -> dict:
    """Time-to-ready seen by a client minus the job's own run time, idle workers."""
    overheads, waits = [], []
    with Stack(root / "overhead", queue_workers=1, env=env) as stack:
        for _ in range(samples):
            sent = time.perf_counter()
            _, response = post(stack.url, photo)
            body = response.json()
            seen = wait_done(stack, body["id"])
            # The manifest says done a moment before RQ stamps the job's end.
            times = wait_for(
                lambda j=body["job_id"]: (
                    job_times(stack, j) if job_times(stack, j)["ended"] else None
                ),
                30,
                "job never ended",
                interval=0.005,
            )
            run = times["ended"] - times["started"]
            overheads.append((seen - sent) - run - _upload_time(sent, response))
            waits.append(times["started"] - times["enqueued"])
    ms = {k: round(v * 1000, 1) for k, v in percentiles(overheads).items()}
    return {
        "queue_overhead_ms": ms,
        "enqueue_to_start_ms": {k: round(v * 1000, 1) for k, v in percentiles(waits).items()},
    }


def _upload_time(sent: float, response: requests.Response) -> float:
    return response.elapsed.total_seconds()


def measure_throughput(root: Path, photo: bytes, env: dict[str, str], count: int) -> dict:
    """Images per second with 1 and 2 workers over the same backlog of ``count`` images.

    The rate is the workers': ``count`` over the span from the first job's start
    to the last job's end (RQ's timestamps), so the uploads before the first
    start do not dilute it. The wall time from the first upload to the last
    image seen done by a polling client is reported too.
    """
    result: dict[str, Any] = {}
    for workers in (1, 2):
        with Stack(root / f"throughput-{workers}", queue_workers=workers, env=env) as stack:
            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                bodies = [
                    r.json() for _, r in pool.map(lambda _: post(stack.url, photo), range(count))
                ]
            finished = max(wait_done(stack, body["id"], interval=0.05) for body in bodies)
            times = [job_times(stack, body["job_id"]) for body in bodies]
            span = max(t["ended"] for t in times) - min(t["started"] for t in times)
            runs = sorted(t["ended"] - t["started"] for t in times)
            result[f"images_per_s_{workers}_worker"] = round(count / span, 2)
            result[f"job_run_ms_median_{workers}_worker"] = round(runs[len(runs) // 2] * 1000)
            result[f"images_per_s_{workers}_worker_wall"] = round(count / (finished - started), 2)
    result["ratio_2_over_1"] = round(
        result["images_per_s_2_worker"] / result["images_per_s_1_worker"], 2
    )
    result["ratio_2_over_1_wall"] = round(
        result["images_per_s_2_worker_wall"] / result["images_per_s_1_worker_wall"], 2
    )
    return result


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"<html><body><p>one two two three three three</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def measure_wordcount_latency(root: Path, photo: bytes, env: dict[str, str], count: int) -> dict:
    """Word counts submitted while a backlog of image jobs waits in the same queue."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = f"http://127.0.0.1:{server.server_address[1]}/"
    env = {**env, "IMGSVC_FETCH_ALLOWLIST": f"127.0.0.1:{server.server_address[1]}"}
    waits = []
    try:
        with Stack(root / "wordcount", queue_workers=2, env=env) as stack:
            backlog = [post(stack.url, photo)[1].json()["id"] for _ in range(4 * count)]
            wait_for(lambda: busy_workers(stack) == 2, 60, "workers never got busy")
            jobs = []
            for _ in range(count):
                response = requests.post(
                    f"{stack.url}/api/wordcounts", json={"url": page}, timeout=30
                )
                jobs.append(response.json()["job_id"])
                # Spread submissions over the backlog, as real users would arrive.
                time.sleep(0.2)
            for job_id in jobs:
                wait_for(lambda j=job_id: job_times(stack, j)["ended"], 120, "word count stuck")
                times = job_times(stack, job_id)
                waits.append(times["started"] - times["enqueued"])
            images_left = sum(
                1
                for i in backlog
                if requests.get(f"{stack.url}/api/images/{i}", timeout=30).json()["status"]
                != "done"
            )
    finally:
        server.shutdown()
    return {
        "wordcount_enqueue_to_start_ms": {
            k: round(v * 1000, 1) for k, v in percentiles(waits).items()
        },
        "image_jobs_still_waiting_when_counts_finished": images_left,
    }


def measure_redis_ops(root: Path, photo: bytes, env: dict[str, str], count: int = 10) -> dict:
    """Redis commands per image, web and worker together (for sizing Redis)."""
    from rq.registry import FinishedJobRegistry

    with Stack(root / "redis-ops", queue_workers=1, env=env) as stack:
        redis = stack.redis()
        wait_for(lambda: busy_workers(stack) == 0, 30, "worker not idle")
        before = redis.info("stats")["total_commands_processed"]
        for _ in range(count):
            post(stack.url, photo)
        polls = 0

        def finished() -> bool:
            nonlocal polls
            polls += 1
            return FinishedJobRegistry("default", connection=redis).count >= count

        wait_for(finished, 300, "images not processed", interval=0.1)
        after = redis.info("stats")["total_commands_processed"]
        workers_idle_rate = _idle_commands_per_second(redis)
    return {
        "redis_commands_per_image": round((after - before - 2 * polls) / count, 1),
        "redis_commands_per_second_idle_worker": workers_idle_rate,
    }


def _idle_commands_per_second(redis: Any, seconds: float = 5.0) -> float:
    start = redis.info("stats")["total_commands_processed"]
    time.sleep(seconds)  # measuring a rate: the wait is the measurement
    return round((redis.info("stats")["total_commands_processed"] - start - 2) / seconds, 1)


def measure_fork_cost(rounds: int = 200) -> dict:
    """What RQ's fork per job costs, with Pillow and imgsvc already imported."""
    import imgsvc.tasks  # noqa: F401

    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        timings.append(time.perf_counter() - started)
    return {"fork_and_reap_ms": {k: round(v * 1000, 2) for k, v in percentiles(timings).items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--s3", action="store_true", help="store in S3 on moto's server")
    parser.add_argument("--samples", type=int, default=100, help="uploads per latency figure")
    parser.add_argument("--count", type=int, default=16, help="images per throughput run")
    args = parser.parse_args(argv)

    photo = camera_jpeg()
    figures: dict[str, Any] = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "input": f"12 MP JPEG, {len(photo) / 1e6:.1f} MB",
        "storage": "s3 (moto server)" if args.s3 else "filesystem",
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        env = {"IMGSVC_LOG_LEVEL": "WARNING"}
        root = Path(tmp)
        if args.s3:
            env.update(start_moto(stack, root))
        figures["upload"] = measure_upload_latency(root, photo, env, args.samples)
        print(json.dumps(figures["upload"]), flush=True)
        small = jpeg_input("jpeg-1mp", 1200, 900).data
        figures["queue"] = measure_queue_overhead(root, small, env, max(10, args.samples // 2))
        print(json.dumps(figures["queue"]), flush=True)
        figures["throughput"] = measure_throughput(root, photo, env, args.count)
        print(json.dumps(figures["throughput"]), flush=True)
        figures["wordcount"] = measure_wordcount_latency(root, photo, env, 8)
        print(json.dumps(figures["wordcount"]), flush=True)
        figures["redis"] = measure_redis_ops(root, small, env)
        print(json.dumps(figures["redis"]), flush=True)
    figures["fork"] = measure_fork_cost()
    figures["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(report(figures))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0
