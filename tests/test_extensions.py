"""One home per concept: the old import paths still name the same objects."""

from __future__ import annotations

from datetime import UTC, datetime

from imgsvc import extensions, gallery, jobs, manifests, queue
from imgsvc.errors import Unauthorized
from imgsvc.images import indexes, record
from imgsvc.web import ops, present


def test_old_paths_re_export_the_one_home() -> None:
    assert queue.Services is extensions.Services
    assert queue.REDIS_ERRORS is extensions.REDIS_ERRORS
    assert present.services is extensions.services
    assert queue.remember_upload is indexes.remember_upload
    assert queue.RECENT_KEY == indexes.RECENT_KEY
    assert queue.LIVE_STATUSES is record.LIVE_STATUSES
    assert gallery.tile_key is indexes.tile_key and gallery.remember is indexes.remember_tile
    assert manifests.load is record.load_manifest and manifests.cache_key is record.cache_key
    assert ops.Unauthorized is Unauthorized


def test_unauthorized_declares_its_challenge() -> None:
    error = Unauthorized()
    assert error.status == 401 and error.headers is not None
    assert error.headers["WWW-Authenticate"].startswith("Basic ")


def test_iso_keeps_each_callers_precision() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert jobs.iso(moment) == "2026-01-02T03:04:05.678Z"
    assert jobs.iso(moment, "seconds") == "2026-01-02T03:04:05Z"
    assert jobs.iso(None) is None
