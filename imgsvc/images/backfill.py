"""``imgsvc backfill``: make missing or stale variants of every image, in slices.

A pass walks the image folders in id order, as reconcile does. The listing
alone clears most images: a settled image whose folder holds an object of
every configured variant under its current tag (``<name>-<tag>.<ext>``, the
tags of an image without a focal point) needs nothing, and an unsettled one
is its upload job's business. An image with a focal point has its own cover
tag (``variantset.image_specs``), so it costs a manifest read. The rest cost a
manifest read; a ``done`` image that lacks a variant, or has one under an older
spec, gets a ``make_variants`` job on the backfill queue (``backfill-<id>``,
never twice while one is queued), which workers take only when the upload and
word-count queues are empty.

The pass goes in slices of ``BACKFILL_SLICE_SECONDS`` and saves its place in
Redis after each (with the variant set it was for), so a run that was killed
resumes after the last slice it finished; re-checking a few images is
harmless (a live job is never enqueued twice). ``prune`` also deletes the
objects of renders no longer configured (superseded specs, removed names) and
only those. A dry run reads and counts, enqueues and deletes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from imgsvc.errors import ImgsvcError
from imgsvc.extensions import Services, text_of
from imgsvc.images import failures, record, tombstones
from imgsvc.images.jobcost import seconds_per_megapixel
from imgsvc.images.reconcile import _image_folders
from imgsvc.images.record import LIVE_STATUSES
from imgsvc.images.variantset import image_specs, prunable, prune, signature, wanted
from imgsvc.imaging import VariantSpec
from imgsvc.queue import backfill_queue, enqueue_variants, fetch_job, variants_job_id

CURSOR = "imgsvc:backfill-cursor"
_RECORD_NAMES = {"original", "manifest.json", record.SETTLED}


@dataclass
class BackfillReport:
    """What a backfill pass saw and did (or, in a dry run, would do)."""

    dry_run: bool = False
    prune: bool = False
    resumed_after: str = ""
    scanned: int = 0
    current: int = 0  # nothing to make
    unfinished: int = 0  # queued or processing: their upload job makes everything
    failed: int = 0  # see `imgsvc retry-failed`
    unreadable: int = 0
    live: int = 0  # a variants job already queued or running
    enqueued: int = 0  # images given a backfill job (in a dry run: that would be)
    variants: dict[str, int] = field(default_factory=dict)  # per name: images lacking it
    megapixels: float = 0.0  # of the originals the jobs decode
    pruned_images: int = 0
    pruned_objects: int = 0
    seconds_per_megapixel: float | None = None
    estimated_worker_seconds: float | None = None
    resume_after: str = ""  # set while the pass is not complete

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backfill_slice(
    svc: Services,
    specs: list[VariantSpec],
    report: BackfillReport,
    *,
    start_after: str = "",
    budget: float | None = None,
    on_image: Callable[[str], None] | None = None,
) -> str:
    """Go through the images after ``start_after`` until ``budget`` seconds have
    passed (``None``: to the end), adding to ``report``; the last image seen when
    the budget stopped it, or ``""`` at the end. Storage errors while listing are
    left to raise; an image that cannot be read is counted ``unreadable``."""
    deadline = None if budget is None else time.monotonic() + budget
    prefixes = [f"{spec.name}-{spec.tag()}." for spec in specs]
    for image_id, names in _image_folders(svc.storage, start_after):
        report.scanned += 1
        _one_image(svc, specs, image_id, names, prefixes, report)
        if on_image is not None:
            on_image(image_id)
        if deadline is not None and time.monotonic() >= deadline:
            return image_id
    return ""


def _one_image(
    svc: Services,
    specs: list[VariantSpec],
    image_id: str,
    names: set[str],
    prefixes: list[str],
    report: BackfillReport,
) -> None:
    if record.SETTLED not in names:
        report.unfinished += 1
        return
    has_all = all(any(name.startswith(p) for name in names) for p in prefixes)
    extra = [n for n in names if n not in _RECORD_NAMES and not n.startswith(tuple(prefixes))]
    if has_all and not (report.prune and extra):
        report.current += 1  # the listing says enough: no manifest read
        return
    try:
        manifest = record.read_manifest(svc.storage, image_id)
    except ImgsvcError:
        report.unreadable += 1
        return
    if manifest.get("status") == "failed":
        report.failed += 1
        failures.remember_failed(svc, manifest)
        return
    if manifest.get("status") != "done":
        report.unfinished += 1
        return
    if _live(svc, image_id):
        report.live += 1
        return
    own = image_specs(manifest, svc.config)  # its cover tag follows its focal point
    missing = wanted(manifest, own)
    if report.prune:
        _prune(svc, manifest, specs, report)
    if not missing:
        report.current += 1
        return
    for spec in missing:
        report.variants[spec.name] = report.variants.get(spec.name, 0) + 1
    original = manifest.get("original") or {}
    report.megapixels += int(original.get("width", 0)) * int(original.get("height", 0)) / 1e6
    report.enqueued += 1
    if not report.dry_run:
        old = fetch_job(svc.queue, variants_job_id(image_id, background=True))
        if old is not None:
            old.delete()  # ended: start over under the same id
        enqueue_variants(
            svc.queue, image_id, svc.settings, signature=signature(own), background=True
        )


def _live(svc: Services, image_id: str) -> bool:
    """Whether a variants job of the image (a request's or backfill's) is on its way."""
    for background in (False, True):
        job = fetch_job(svc.queue, variants_job_id(image_id, background))
        if job is not None and job.get_status(refresh=False) in LIVE_STATUSES:
            return True
    return False


def _prune(
    svc: Services, manifest: dict[str, Any], specs: list[VariantSpec], report: BackfillReport
) -> None:
    """Delete the objects of the image's renders that are no longer configured:
    the manifest first (nothing points at them once it is saved), then the objects."""
    doomed = prunable(manifest, specs)
    if not doomed:
        return
    keys = prune(manifest, specs)
    report.pruned_images += 1
    report.pruned_objects += len(keys)
    if report.dry_run or tombstones.is_deleted(svc.redis, manifest["id"]):
        return
    record.save_manifest_unless_deleted(svc, manifest)
    for key in keys:
        svc.storage.delete_prefix(key)  # a whole key: no other key extends it


def run_backfill(
    svc: Services,
    *,
    dry_run: bool = False,
    prune_old: bool = False,
    restart: bool = False,
    on_image: Callable[[str], None] | None = None,
) -> BackfillReport:
    """A whole backfill pass in slices, resuming a killed run's place unless
    ``restart`` (a dry run always starts at the beginning and saves nothing)."""
    specs = image_specs({}, svc.config)  # an image's without a focal point: the listing's
    set_signature = signature(specs)
    report = BackfillReport(dry_run=dry_run, prune=prune_old)
    start_after = "" if dry_run or restart else _saved_place(svc, set_signature, prune_old)
    report.resumed_after = start_after
    budget = max(0.01, svc.config.BACKFILL_SLICE_SECONDS)
    while True:
        start_after = backfill_slice(
            svc, specs, report, start_after=start_after, budget=budget, on_image=on_image
        )
        if dry_run:
            if not start_after:
                break
            continue
        if not start_after:
            svc.redis.delete(CURSOR)
            break
        place = {"after": start_after, "signature": set_signature, "prune": prune_old}
        svc.redis.set(CURSOR, json.dumps(place))
    report.seconds_per_megapixel = seconds_per_megapixel(svc.redis)
    if report.seconds_per_megapixel is not None:
        report.estimated_worker_seconds = report.megapixels * report.seconds_per_megapixel
    return report


def _saved_place(svc: Services, set_signature: str, prune_old: bool) -> str:
    """Where a killed run of the same variant set (and prune choice) stopped, or ``""``."""
    raw = svc.redis.get(CURSOR)
    if not raw:
        return ""
    try:
        place = json.loads(text_of(raw))
    except ValueError:
        return ""
    if place.get("signature") != set_signature or bool(place.get("prune")) != prune_old:
        return ""
    return str(place.get("after") or "")


def backfill_waiting(svc: Services) -> int:
    """Jobs waiting in the backfill queue."""
    return int(svc.redis.llen(backfill_queue(svc.queue).key))


def count_images(svc: Services) -> int:
    """How many image folders storage holds (one listing pass: a progress bar's length)."""
    return sum(1 for _ in _image_folders(svc.storage, ""))
