"""`imgsvc retry-failed`: failed images enqueued again, filtered by error code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from imgsvc.images import record
from tests import factories
from tests.support.client import upload


def imgsvc(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "imgsvc", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def two_failures(app, client, run_worker) -> tuple[str, str, bytes]:
    """An ``invalid_image`` (a truncated JPEG) and a ``not_found`` (its original lost
    before the job ran); the lost original's bytes."""
    storage = app.extensions["imgsvc"].storage
    data = factories.jpeg(600, 400)
    truncated = upload(client, data[: len(data) // 2]).get_json()["id"]
    lost_bytes = factories.jpeg(640, 480, seed=3)
    lost = upload(client, lost_bytes).get_json()["id"]
    storage.delete_prefix(record.original_key(lost))
    run_worker()
    for image_id, code in ((truncated, "invalid_image"), (lost, "not_found")):
        body = client.get(f"/api/images/{image_id}").get_json()
        assert (body["status"], body["error"]["code"]) == ("failed", code)
    return truncated, lost, lost_bytes


def test_retry_failed_with_a_code_filter_and_a_dry_run(app, client, run_worker):
    truncated, lost, lost_bytes = two_failures(app, client, run_worker)
    svc = app.extensions["imgsvc"]

    dry = json.loads(imgsvc("retry-failed", "--code", "not_found", "--dry-run", "--json").stdout)

    assert dry["failed"] == {"invalid_image": 1, "not_found": 1}
    assert dry["retried"] == [lost]
    assert svc.queue.count == 0
    assert client.get(f"/api/images/{lost}").get_json()["status"] == "failed"

    svc.storage.put(record.original_key(lost), lost_bytes, "image/jpeg")  # storage healed
    text = imgsvc("retry-failed", "--code", "not_found").stdout

    assert f"retried {lost}" in text and truncated not in text
    assert client.get(f"/api/images/{lost}").get_json()["status"] == "queued"
    run_worker()
    assert client.get(f"/api/images/{lost}").get_json()["status"] == "done"
    body = client.get(f"/api/images/{truncated}").get_json()
    assert (body["status"], body["error"]["code"]) == ("failed", "invalid_image")
    again = json.loads(imgsvc("retry-failed", "--json").stdout)
    assert again["failed"] == {"invalid_image": 1}  # the retried one is done now
