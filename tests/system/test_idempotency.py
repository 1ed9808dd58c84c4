"""``Idempotency-Key`` across real processes: concurrent retries over real HTTP to
two gunicorn processes store one image."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests import factories
from tests.support.stack import LiveStack

pytestmark = pytest.mark.slow


def test_concurrent_requests_with_one_key_over_http_store_one_image(tmp_path: Path, redis_url: str):
    stack = LiveStack(tmp_path, {"IMGSVC_REDIS_URL": redis_url}).start()
    try:
        photo = factories.jpeg(320, 240)
        start = threading.Barrier(6)

        def send(_: int) -> requests.Response:
            start.wait()
            return requests.post(
                f"{stack.url}/api/images",
                files={"file": ("a.jpg", photo, "image/jpeg")},
                headers={"Idempotency-Key": "one-photo"},
                timeout=30,
            )

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(send, range(6)))

        assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == 1
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 5
        assert {p.name for p in (tmp_path / "media" / "images").iterdir()} == ids
        assert stack.wait_final(ids.pop())["status"] == "done"
    finally:
        stack.stop()
