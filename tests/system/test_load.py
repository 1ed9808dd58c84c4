"""A short load run: concurrent uploads over HTTP, nothing lost or duplicated.

The same run and checks as ``make bench-load`` (tests/support/load.py), on fewer
and smaller images. Timing goals belong to the benchmark, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.load import make_photos, report, run_load
from tests.support.stack import Stack

pytestmark = pytest.mark.slow


def test_concurrent_uploads_all_end_done_exactly_once(redis_url: str, tmp_path: Path):
    files = make_photos([(1600, 1200, 1), (1024, 768, 2), (800, 600, 3), (640, 480, 4)])

    with Stack(tmp_path, redis_url=redis_url, web_workers=4, queue_workers=2) as stack:
        result = run_load(stack, files, total=40, clients=8, timeout=180)

    assert not result.problems, report(result, "test")
    assert result.statuses == {"202": 40}
    assert result.final == {"done": 40}
    assert result.server_errors == 0
    assert len(list(stack.images_dir.iterdir())) == 40
