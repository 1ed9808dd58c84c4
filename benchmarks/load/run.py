"""Load benchmark: many concurrent uploads through the running stack, none lost.

``make bench-load`` (or ``python -m benchmarks.load --json out.json``) starts
gunicorn, two ``worker.py`` processes and a private ``redis-server`` on
loopback (see :mod:`tests.support.stack`), uploads photo-like JPEGs of several
sizes from concurrent clients, waits until every image is processed and checks
that nothing was lost or duplicated: every upload answered 202, ids are
unique, storage holds exactly that many image folders, each manifest is
``done`` with every variant on disk, and no response was a 5xx.

It prints upload latency (request sent → 202 received) and time-to-ready
(request sent → the manifest's ``processed_at``; same machine, same clock),
with totals and throughput. The run and its checks are in
:mod:`tests.support.load`; ``tests/system/test_load.py`` runs a short version.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tests.support.load import PHOTO_SIZES, make_photos, report, run_load
from tests.support.stack import Stack


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if any check failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help=">1: gunicorn gthread workers")
    parser.add_argument("--workers", type=int, default=2, help="worker.py processes")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for all")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    files = make_photos()
    setup = (
        f"gunicorn {args.web_workers} workers × {args.threads} threads, "
        f"{args.workers} worker.py, redis-server (no persistence), file storage; "
        f"inputs {', '.join(f'{w}x{h}' for w, h, _ in PHOTO_SIZES)} JPEG"
    )
    with tempfile.TemporaryDirectory(prefix="imgsvc-load-") as root:
        stack = Stack(
            Path(root),
            web_workers=args.web_workers,
            web_threads=args.threads,
            queue_workers=args.workers,
        )
        with stack:
            result = run_load(stack, files, args.uploads, args.clients, args.timeout)
    print(report(result, setup))
    if args.json:
        args.json.write_text(json.dumps({"setup": setup, **result.to_json()}, indent=2) + "\n")
    return 1 if result.problems else 0
