"""Job reading (imgsvc/jobs.py): the times as clients see them."""

from __future__ import annotations

from datetime import UTC, datetime

from imgsvc import jobs


def test_iso_keeps_each_callers_precision() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert jobs.iso(moment) == "2026-01-02T03:04:05.678Z"
    assert jobs.iso(moment, "seconds") == "2026-01-02T03:04:05Z"
    assert jobs.iso(None) is None
