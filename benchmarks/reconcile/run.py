"""What a reconcile pass costs per finished image, with and without settled markers.

``make bench-reconcile`` (``python -m benchmarks.reconcile``) fills storage
with finished images (a done manifest, an original and six variants each, as
the worker leaves them), then times three passes over them side by side:

1. **manifest read**: the markers are missing and are not written, so each
   image costs a Redis lookup and a manifest read (the cost before markers);
2. **first pass**: the same, writing each missing marker (once per image
   finished before markers existed, or whose marker write failed);
3. **settled**: the markers are there: each image costs its share of a listing.

With ``--s3`` storage is S3 on moto's server (in a process of its own).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.common import start_moto
from imgsvc.config import load_settings
from imgsvc.extensions import Services
from imgsvc.images import record
from imgsvc.images.reconcile import reconcile
from tests.support.stack import Stack

VARIANT_NAMES = ("thumb.jpg", "xs.jpg", "sm.jpg", "md.jpg", "lg.jpg", "xl.jpg")


def fill(svc: Services, count: int) -> list[str]:
    """``count`` finished images, without their markers."""
    ids = sorted(record.new_image_id() for _ in range(count))
    for image_id in ids:
        svc.storage.put(record.original_key(image_id), b"o" * 64, "image/jpeg")
        for name in VARIANT_NAMES:
            svc.storage.put(f"{record.prefix(image_id)}{name}", b"v" * 64, "image/jpeg")
        manifest = {"id": image_id, "status": "done", "variants": {}, "error": None}
        record.write_manifest(svc.storage, manifest)
    return ids


def timed_pass(svc: Services) -> dict[str, Any]:
    """One whole pass: seconds, µs per image, and the storage requests it made
    (on S3, ``list`` counts LIST pages; on disk, calls to walk the keys)."""
    calls: Counter[str] = Counter()
    storage = svc.storage
    real = {name: getattr(storage, name) for name in ("get", "put", "iter_keys")}

    def counting(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls["list" if name == "iter_keys" else name] += 1
            return real[name](*args, **kwargs)

        return call

    client = getattr(storage, "client", None)
    with ExitStack() as patches:
        for name in real:
            patches.enter_context(mock.patch.object(storage, name, counting(name)))
        if client is not None:  # S3: one call lists page after page
            calls["list"] -= 1
            event = "provide-client-params.s3.ListObjectsV2"
            count_page = lambda **_: calls.update(["list"])  # noqa: E731
            client.meta.events.register(event, count_page)
            patches.callback(client.meta.events.unregister, event, count_page)
        started = time.perf_counter()
        report = reconcile(svc)
        seconds = time.perf_counter() - started
    assert report.requeued == [] and report.finished == report.scanned, report
    return {
        "images": report.scanned,
        "seconds": round(seconds, 3),
        "us_per_image": round(seconds / report.scanned * 1e6, 1),
        "storage_requests": dict(calls),
    }


def measure(svc: Services, count: int) -> dict[str, Any]:
    """The three passes over ``count`` finished images."""
    fill(svc, count)
    with mock.patch.object(record, "mark_settled", lambda *args: None):
        before = timed_pass(svc)
    first = timed_pass(svc)
    settled = timed_pass(svc)
    return {
        "manifest_read": before,
        "first_pass": first,
        "settled": settled,
        "ratio_manifest_read_over_settled": round(
            before["us_per_image"] / settled["us_per_image"], 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--s3", action="store_true", help="store in S3 on moto's server")
    parser.add_argument("--count", type=int, help="images (default 5000; 300 with --s3)")
    args = parser.parse_args(argv)
    count = args.count or (300 if args.s3 else 5000)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        root = Path(tmp)
        env = start_moto(stack, root) if args.s3 else {}
        redis = stack.enter_context(Stack(root, web_workers=1, queue_workers=0))
        overrides = {"REDIS_URL": redis.redis_url, "STORAGE_URL": f"file://{root}/media"}
        if args.s3:
            overrides["STORAGE_URL"] = env["IMGSVC_STORAGE_URL"]
            overrides["S3_ENDPOINT_URL"] = env["IMGSVC_S3_ENDPOINT_URL"]
        svc = Services(load_settings(overrides))
        figures = {"storage": "s3 (moto server)" if args.s3 else "filesystem", "count": count}
        figures.update(measure(svc, count))
    for name in ("manifest_read", "first_pass", "settled"):
        row = figures[name]
        print(f"{name:<14}{row['us_per_image']:>10} µs/image  {row['storage_requests']}")
    ratio = figures["ratio_manifest_read_over_settled"]
    print(f"{count} finished images on {figures['storage']}: ×{ratio} cheaper with markers")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0
