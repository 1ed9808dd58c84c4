"""Variants made on demand and by backfill, with real processes: gunicorn,
``worker.py`` and the ``imgsvc backfill`` command, on both storage backends."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from redis import Redis

from imgsvc.config import load_settings
from imgsvc.extensions import Services
from imgsvc.images import record
from imgsvc.images.uploads import accept_upload
from imgsvc.imaging import probe
from imgsvc.queue import backfill_queue, variants_job_id
from imgsvc.settings import parse_settings
from tests import factories
from tests.imaging.subjects import skin_share, with_face
from tests.support import wait_until
from tests.support.processes import ROOT, WorkerProcess
from tests.support.stack import LiveStack

pytestmark = pytest.mark.slow

DEFAULT = "thumb:200x200:cover,xs:320,sm:640,md:1024,lg:1600,xl:2048"


def jobs_run(url: str, job_type: str) -> float:
    """Job attempts of ``job_type`` that ended in success, from ``/metrics``."""
    for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
        if (
            line.startswith("imgsvc_job_duration_seconds_count{")
            and f'type="{job_type}"' in line
            and 'outcome="success"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_thousand_concurrent_first_requests_make_one_job(env, tmp_path: Path):
    first = LiveStack(tmp_path, {**env, "IMGSVC_VARIANTS": DEFAULT}).start()
    try:
        image_id = first.upload(factories.jpeg(3000, 2000))["id"]
        assert first.wait_final(image_id)["status"] == "done"
    finally:
        first.stop()
    stack = LiveStack(tmp_path, {**env, "IMGSVC_VARIANTS": DEFAULT + ",xxl:2560"}).start()
    try:
        url = f"{stack.url}/images/{image_id}/xxl"

        def get(_: int) -> tuple[int, str | None]:
            response = requests.get(url, timeout=60)
            code = response.json()["error"]["code"] if response.status_code == 404 else None
            return response.status_code, code

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(get, range(1000)))

        assert set(answers) <= {(404, "variant_pending"), (200, None)}
        assert answers.count((404, "variant_pending")) > 0
        wait_until(
            lambda: requests.get(url, timeout=10).status_code == 200,
            timeout=60,
            message="xxl was never made",
        )
        assert jobs_run(stack.url, "variants") == 1.0
        body = requests.get(f"{stack.url}/api/images/{image_id}", timeout=10).json()
        assert body["variants"]["xxl"]["width"] == 2560
    finally:
        stack.stop()


def store_done_images(svc: Services, count: int) -> list[str]:
    """``count`` finished images as an older deployment left them: original,
    ``done`` manifest without the variant now configured, settled marker."""
    data = factories.jpeg(48, 32)
    info = probe(io.BytesIO(data), allowed_formats=["JPEG"], max_pixels=10**6, max_frames=1)
    ids = []
    for _ in range(count):
        image_id = record.new_image_id()
        svc.storage.put(record.original_key(image_id), data, "image/jpeg")
        manifest = record.new_manifest(image_id, info, len(data), "token")
        manifest["original"]["etag"] = f"{image_id}-original"
        manifest.update(status="done", processed_at=record.now_iso())
        record.write_manifest(svc.storage, manifest)
        svc.storage.put(record.settled_key(image_id), b"", "application/octet-stream")
        ids.append(image_id)
    return ids


BACKFILL = [sys.executable, "-m", "imgsvc", "backfill", "--json"]


def test_a_backfill_of_hundreds_of_images_resumes_after_a_kill_and_never_delays_an_upload(
    env, storage_url: str, tmp_path: Path, monkeypatch
):
    # moto's server slows with every object the bucket holds: fewer images keep the S3 run
    # well inside the suite's per-test limit, and still span several slices.
    count = 500 if storage_url.startswith("file") else 150
    monkeypatch.setenv("IMGSVC_VARIANTS", "a:16")
    monkeypatch.setenv("IMGSVC_BACKFILL_SLICE_SECONDS", "0.02")
    svc = Services(parse_settings(load_settings()).values)
    ids = store_done_images(svc, count)
    redis: Redis = svc.redis
    waiting = backfill_queue(svc.queue)

    killed = subprocess.Popen(BACKFILL, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL)
    wait_until(
        lambda: redis.exists("imgsvc:backfill-cursor") and waiting.count >= 50,
        timeout=60,
        interval=0.002,
        message="backfill saved no place",
    )
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    enqueued_before = waiting.count
    assert 0 < enqueued_before < count, "the kill came too late to test resuming"

    resumed = subprocess.run(
        BACKFILL,
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["resumed_after"] and report["scanned"] < count
    assert waiting.count == count  # every image once: none twice, none left out
    assert sorted(waiting.job_ids) == sorted(variants_job_id(i, background=True) for i in ids)
    assert not redis.exists("imgsvc:backfill-cursor")  # the pass is complete

    worker = WorkerProcess({**os.environ, "IMGSVC_LOG_LEVEL": "INFO"}, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: waiting.count <= count - 50, timeout=60, message="backfill did not start"
        )
        # Two uploads at once, as the web stores them: with RQ's plain turn the
        # worker would take a backfill job between them (after an image job it
        # looks at the other queues first).
        uploads = [accept_upload(svc, io.BytesIO(factories.jpeg(64, 48, seed=n))) for n in (1, 2)]
        wait_until(
            lambda: waiting.count == 0 and not svc.queue.count,
            timeout=180,
            message="backfill did not finish",
        )
    finally:
        worker.stop()
    first, second = (svc.queue.fetch_job(upload.job_id) for upload in uploads)
    assert first.get_status() == second.get_status() == "finished"
    starts = [
        job.started_at
        for job in (waiting.fetch_job(variants_job_id(i, background=True)) for i in ids)
        if job.started_at
    ]
    assert any(t > second.ended_at for t in starts), "the uploads came after the whole backfill"
    assert first.started_at < second.started_at
    assert not [t for t in starts if first.started_at < t < second.started_at]
    # At most one backfill job starts after the first upload's enqueue: the one the
    # worker was already dequeuing as it arrived (its start is stamped just after).
    assert len([t for t in starts if first.enqueued_at < t < first.started_at]) <= 1
    for image_id in ids[::50]:
        manifest = record.read_manifest(svc.storage, image_id)
        assert manifest["variants"]["a"]["width"] == 16


def test_a_patched_focus_recrops_only_the_thumbnail_on_a_running_stack(env, tmp_path: Path):
    # A face on the left; the upload points at the right edge, the PATCH at the face.
    stack = LiveStack(tmp_path, {**env, "IMGSVC_VARIANTS": DEFAULT}).start()
    try:
        response = requests.post(
            f"{stack.url}/api/images",
            files={"file": ("face.jpg", with_face((1600, 800), (180, 400)))},
            data={"focus": "0.95,0.5"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        image_id, token = response.json()["id"], response.json()["delete_token"]
        before = stack.wait_final(image_id)
        old_thumb = requests.get(f"{stack.url}{before['variants']['thumb']['url']}", timeout=10)
        assert skin_share(rgb(old_thumb.content)) == 0

        patched = requests.patch(
            f"{stack.url}/api/images/{image_id}",
            json={"focus": [0.1, 0.5]},
            headers={"X-Delete-Token": token},
            timeout=30,
        )
        assert patched.status_code == 202, patched.text

        def recropped() -> dict | None:
            view = requests.get(f"{stack.url}/api/images/{image_id}", timeout=10).json()
            return view if "thumb" in view["variants"] else None

        after = wait_until(recropped, timeout=60, message="the thumbnail was never re-made")
        assert after["variants"]["thumb"]["url"] != before["variants"]["thumb"]["url"]
        new_thumb = requests.get(f"{stack.url}{after['variants']['thumb']['url']}", timeout=10)
        assert skin_share(rgb(new_thumb.content)) > 0.035
        again = requests.get(f"{stack.url}{before['variants']['thumb']['url']}", timeout=10)
        assert (again.status_code, again.content) == (200, old_thumb.content)
        widths = {name for name in before["variants"] if name != "thumb"}
        assert {n: after["variants"][n]["url"] for n in widths} == {
            n: before["variants"][n]["url"] for n in widths
        }
        # One job, for the thumbnail alone (its metric is counted just after it saved).
        wait_until(lambda: jobs_run(stack.url, "variants") >= 1.0, timeout=30)
        assert jobs_run(stack.url, "variants") == 1.0
    finally:
        stack.stop()


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int32)
