"""Slow clients against the front: a normal client's latency with 0 and 1,000 slow connections.

``make bench-slowclients`` (``python -m benchmarks.front --json out.json``).

One run, side by side, on the stack ``make run`` starts (the front, gunicorn
with 2 processes, one worker, Redis; all on loopback):

1. a normal client's uploads (a 12 MP camera JPEG) and variant fetches (the
   ``xl`` JPEG), with no slow connection open;
2. the same while 1,000 slow connections are open: a third trickle headers,
   a third trickle upload bodies, a third read a variant a few bytes a second;
3. the memory of the front (nginx's processes, and the kernel's TCP buffers)
   without and with those connections: bytes per connection;
4. for comparison, gunicorn facing the clients itself (no front), with sync
   processes and with gthread ones (32 threads each), and 100 slow
   connections: how many of a normal client's requests are answered.

Ratios are phase 2 over phase 1 (the goal: p99 within 2x).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.service.client import camera_jpeg, post, wait_done
from tests.support.percentiles import nearest_rank
from tests.support.processes import rss_kib
from tests.support.slow_clients import CrowdProcess, paced_upload
from tests.support.stack import Stack

SLOW = 1000
# Without the front: a crowd a tenth the size already shows the difference.
NO_FRONT_CROWD = 50


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 and p99 (nearest rank) of ``values`` (seconds) in ms."""
    ordered = sorted(values)
    return {f"p{p}": round(nearest_rank(ordered, p) * 1000, 1) for p in (50, 99)}


def normal_client(
    stack: Stack, photo: bytes, variant: str, rounds: int, pause: float = 0.2
) -> dict[str, list[float]]:
    """A normal client's rounds (one upload, three variant fetches, a pause): latencies.

    The pause paces the rounds as a person's uploads would come, so that a
    phase lasts longer than the front's header deadline (tricklers cut off and
    coming back are part of what is measured).
    """
    upload_times, fetch_times = [], []
    session = requests.Session()
    for _ in range(rounds):
        elapsed, response = post(stack.url, photo)
        assert response.status_code == 202, response.text
        upload_times.append(elapsed)
        for _ in range(3):
            started = time.perf_counter()
            response = session.get(stack.url + variant, timeout=60)
            fetch_times.append(time.perf_counter() - started)
            assert response.status_code == 200 and response.content, response.status_code
        time.sleep(pause)
    return {"upload": upload_times, "variant": fetch_times}


def tcp_memory_bytes() -> int:
    """The kernel's TCP buffer memory now (``/proc/net/sockstat``, in pages)."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1]) * 4096
    return 0


def front_memory(stack: Stack) -> dict[str, int]:
    return {
        "nginx_rss_bytes": sum(rss_kib(pid) for pid in stack.front_pids()) * 1024,
        "kernel_tcp_bytes": tcp_memory_bytes(),
    }


def with_front(root: Path, photo: bytes, rounds: int) -> dict:
    stack = Stack(root / "front", web_workers=2, queue_workers=1, front=True)
    with stack:
        response = post(stack.url, photo)[1].json()
        wait_done(stack, response["id"])
        variant = f"/images/{response['id']}/xl"
        normal_client(stack, photo, variant, 5, pause=0)  # warm every web process
        quiet = normal_client(stack, photo, variant, rounds)
        memory_before = front_memory(stack)
        third = SLOW // 3
        crowd = CrowdProcess(
            "127.0.0.1",
            int(stack.url.rsplit(":", 1)[1]),
            headers=SLOW - 2 * third,
            bodies=third,
            readers=third,
            reader_path=variant,
        )
        with crowd:
            memory_with = front_memory(stack)
            loaded = normal_client(stack, photo, variant, rounds)
    per_connection = {
        name: round((memory_with[name] - memory_before[name]) / SLOW) for name in memory_before
    }
    quiet_p = {kind: percentiles(times) for kind, times in quiet.items()}
    loaded_p = {kind: percentiles(times) for kind, times in loaded.items()}
    return {
        "no_slow_connections": quiet_p,
        "with_slow_connections": loaded_p,
        "ratio_p50": {k: round(loaded_p[k]["p50"] / quiet_p[k]["p50"], 2) for k in quiet_p},
        "ratio_p99": {k: round(loaded_p[k]["p99"] / quiet_p[k]["p99"], 2) for k in quiet_p},
        "slow_crowd": crowd.counts,
        "front_memory_without": memory_before,
        "front_memory_with": memory_with,
        "bytes_per_slow_connection": per_connection,
    }


def without_front(root: Path, threads: int, attempts: int = 5) -> dict:
    """gunicorn facing a crowd itself (2 processes; sync, or gthread with ``threads``
    threads each): how many of a normal client's requests are answered within 5 s."""
    name = f"gthread-{threads}" if threads > 1 else "sync"
    with Stack(root / name, web_workers=2, web_threads=threads, queue_workers=0) as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        answered, times = 0, []
        with CrowdProcess("127.0.0.1", port, headers=NO_FRONT_CROWD, bodies=NO_FRONT_CROWD):
            for _ in range(attempts):
                started = time.perf_counter()
                with contextlib.suppress(requests.RequestException):
                    answered += requests.get(stack.url + "/healthz", timeout=5).status_code == 200
                times.append(round(time.perf_counter() - started, 2))
    return {
        "gunicorn": name,
        "slow_connections": {"headers": NO_FRONT_CROWD, "bodies": NO_FRONT_CROWD},
        "healthz_answered_within_5_s": f"{answered} of {attempts}",
        "healthz_seconds": times,
    }


def long_upload(root: Path, kbit_per_second: int) -> dict:
    """The largest upload the default limit allows (a PNG just under 20 MiB with its
    framing), sent at ``kbit_per_second`` through the front: its answer, and the image."""
    import io

    import numpy as np
    from PIL import Image

    side = 2550  # random RGB pixels barely compress: ~19.5 MB of PNG
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    data = buffer.getvalue()
    seconds = len(data) * 8 / (kbit_per_second * 1000)
    with Stack(root / "long", web_workers=2, queue_workers=1, front=True) as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        status, answer, took = paced_upload("127.0.0.1", port, data, seconds, int(seconds))
        final = wait_done(stack, answer["id"]) and "done" if status == 202 else None
    return {
        "bytes": len(data),
        "kbit_per_second": kbit_per_second,
        "seconds_on_the_wire": round(took, 1),
        "status": status,
        "image": final,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--rounds", type=int, default=150, help="uploads per phase (x3 fetches)")
    parser.add_argument(
        "--long-upload",
        type=int,
        metavar="KBIT",
        help="also send a ~20 MB upload at KBIT kbit/s (256: about 10 minutes)",
    )
    args = parser.parse_args(argv)
    photo = camera_jpeg()
    with tempfile.TemporaryDirectory(prefix="bench-front-") as folder:
        root = Path(folder)
        figures = {
            "front": with_front(root, photo, args.rounds),
            "no_front": [without_front(root, 1), without_front(root, 32)],
        }
        if args.long_upload:
            figures["long_upload"] = long_upload(root, args.long_upload)
    figures["setup"] = {
        "slow_connections": SLOW,
        "photo_bytes": len(photo),
        "uploads_per_phase": args.rounds,
        "variant_fetches_per_phase": args.rounds * 3,
        "date": time.strftime("%Y-%m-%d"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.machine()}, {platform.processor() or '?'}, "
        f"{len(os.sched_getaffinity(0))} cores",
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0
