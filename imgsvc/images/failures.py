"""Failed images: an index by error code, and retrying them.

The manifest is the record (``status: failed`` with ``error.code``); Redis
keeps an index beside it, ``imgsvc:failed:<code>`` (a set of ids per code, the
codes in ``imgsvc:failed-codes``), written when an image is marked failed and
by every pass that reads a failed manifest (``imgsvc retry-failed``,
``imgsvc backfill``), so ``/ops`` counts failures by code without reading
storage. The index may lag (Redis lost it): ``imgsvc retry-failed`` walks
storage itself and rebuilds it as it goes.

Retrying a failed image sets its manifest back to ``queued`` (and removes its
settled marker, so reconcile sees it unfinished again), drops it from the
index, and enqueues its upload job ``image-<id>`` afresh.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from imgsvc.errors import ImgsvcError, NotFound
from imgsvc.extensions import REDIS_ERRORS, Services, text_of
from imgsvc.images import record, tombstones
from imgsvc.images.reconcile import _image_folders
from imgsvc.queue import enqueue_image, fetch_job

CODES_KEY = "imgsvc:failed-codes"


def failed_key(code: str) -> str:
    return f"imgsvc:failed:{code}"


def failure_code(manifest: dict[str, Any]) -> str:
    return str((manifest.get("error") or {}).get("code") or "internal_error")


def remember_failed(svc: Services, manifest: dict[str, Any]) -> None:
    """Index a ``failed`` manifest under its error code (best effort)."""
    code = failure_code(manifest)
    with contextlib.suppress(*REDIS_ERRORS), svc.redis.pipeline() as pipe:
        pipe.sadd(CODES_KEY, code)
        pipe.sadd(failed_key(code), manifest["id"])
        pipe.execute()


def forget_failed(svc: Services, image_id: str, codes: Iterable[str] | None = None) -> None:
    """Drop ``image_id`` from the index (under every code unless ``codes``)."""
    with contextlib.suppress(*REDIS_ERRORS):
        known = list(codes) if codes is not None else failed_codes(svc)
        with svc.redis.pipeline() as pipe:
            for code in known:
                pipe.srem(failed_key(code), image_id)
            pipe.execute()


def failed_codes(svc: Services) -> list[str]:
    return sorted(text_of(code) for code in svc.redis.smembers(CODES_KEY))


def failed_counts(svc: Services) -> dict[str, int]:
    """``{code: images}`` from the index (codes without images left out)."""
    codes = failed_codes(svc)
    with svc.redis.pipeline() as pipe:
        for code in codes:
            pipe.scard(failed_key(code))
        counts = pipe.execute()
    return {code: int(n) for code, n in zip(codes, counts, strict=True) if int(n)}


def indexed_failures(svc: Services, codes: Iterable[str]) -> list[str]:
    """The ids the index holds under ``codes``, sorted."""
    ids: set[str] = set()
    for code in codes:
        ids.update(text_of(each) for each in svc.redis.smembers(failed_key(code)))
    return sorted(ids)


@dataclass
class RetryReport:
    """What ``retry-failed`` found (by code) and retried."""

    dry_run: bool = False
    codes: list[str] = field(default_factory=list)  # the filter; empty: every code
    scanned: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # every failed image, by code
    retried: list[str] = field(default_factory=list)  # matching ones (in a dry run: would be)
    skipped: list[str] = field(default_factory=list)  # no longer failed, or deleted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def retry_image(svc: Services, image_id: str, codes: Iterable[str] = ()) -> bool:
    """Retry one failed image (whose code is in ``codes``, if any are given).

    ``False`` when it is not failed (any more), not of those codes, or deleted.
    Storage errors and ``QueueUnavailable`` are left to raise.
    """
    wanted_codes = set(codes)
    if tombstones.is_deleted(svc.redis, image_id):
        return False
    manifest = record.read_manifest(svc.storage, image_id)
    if manifest.get("status") != "failed":
        forget_failed(svc, image_id)
        return False
    code = failure_code(manifest)
    if wanted_codes and code not in wanted_codes:
        return False
    manifest.update(status="queued", error=None, processed_at=None)
    svc.storage.delete_prefix(record.settled_key(image_id))  # unfinished again
    record.save_manifest(svc, manifest)
    job = fetch_job(svc.queue, record.job_id_for(image_id))
    if job is not None:
        job.delete()  # the failed run: start over under the same id
    enqueue_image(svc.queue, image_id, svc.settings)
    forget_failed(svc, image_id, [code])
    return True


def retry_failed(
    svc: Services,
    codes: Iterable[str] = (),
    *,
    dry_run: bool = False,
    on_image: Callable[[str], None] | None = None,
) -> RetryReport:
    """Walk storage; retry every failed image whose code is in ``codes`` (every
    failed image when empty). The index is rebuilt from what the walk reads."""
    report = RetryReport(dry_run=dry_run, codes=sorted(set(codes)))
    for image_id, names in _image_folders(svc.storage, ""):
        report.scanned += 1
        if on_image is not None:
            on_image(image_id)
        if record.SETTLED not in names:
            continue  # unfinished: not failed yet
        try:
            manifest = record.read_manifest(svc.storage, image_id)
        except ImgsvcError:
            continue
        if manifest.get("status") != "failed":
            continue
        code = failure_code(manifest)
        report.failed[code] = report.failed.get(code, 0) + 1
        remember_failed(svc, manifest)
        if report.codes and code not in report.codes:
            continue
        if dry_run or retry_image(svc, image_id, report.codes):
            report.retried.append(image_id)
        else:
            report.skipped.append(image_id)
    return report


def retry_indexed(svc: Services, code: str, limit: int) -> RetryReport:
    """Retry up to ``limit`` images the index holds under ``code`` (``/ops``'s
    action); each is checked against its manifest first."""
    report = RetryReport(codes=[code])
    for image_id in indexed_failures(svc, [code])[:limit]:
        report.scanned += 1
        try:
            retried = retry_image(svc, image_id, [code])
        except NotFound:  # gone from storage: the index forgets it
            forget_failed(svc, image_id, [code])
            retried = False
        (report.retried if retried else report.skipped).append(image_id)
    return report
