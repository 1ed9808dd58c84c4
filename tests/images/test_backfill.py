"""`imgsvc backfill`: counts and an estimate in a dry run, jobs on the backfill queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from imgsvc import create_app
from imgsvc.images.backfill import run_backfill
from imgsvc.queue import backfill_queue, variants_job_id
from tests import factories
from tests.support.client import upload

DEFAULT = "thumb:200x200:cover,xs:320,sm:640,md:1024,lg:1600,xl:2048"


def backfill(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "imgsvc", "backfill", "--json", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def test_dry_run_counts_then_backfill_enqueues_on_its_own_queue(client, run_worker, monkeypatch):
    ids = [upload(client, factories.jpeg(1200, 800, seed=i)).get_json()["id"] for i in range(3)]
    run_worker()
    monkeypatch.setenv("IMGSVC_VARIANTS", DEFAULT + ",xxl:2560,tiny:64")
    restarted = create_app({"TESTING": True})
    svc = restarted.extensions["imgsvc"]
    queue = backfill_queue(svc.queue)

    dry = backfill("--dry-run")

    assert (dry["scanned"], dry["enqueued"], dry["current"]) == (3, 3, 0)
    assert dry["variants"] == {"xxl": 3, "tiny": 3}
    assert dry["megapixels"] == 3 * 1200 * 800 / 1e6
    assert dry["estimated_worker_seconds"] is None  # no variants job has run yet
    assert queue.count == 0 and svc.queue.count == 0

    done = backfill()

    assert done["enqueued"] == 3
    assert sorted(queue.job_ids) == sorted(variants_job_id(i, background=True) for i in ids)
    assert svc.queue.count == 0  # nothing on the upload queue
    assert backfill()["live"] == 3  # queued jobs are not enqueued twice
    run_worker()
    after = run_backfill(svc, dry_run=True)
    assert (after.enqueued, after.current) == (0, 3)
    assert after.seconds_per_megapixel and after.seconds_per_megapixel > 0
    for image_id in ids:
        body = restarted.test_client().get(f"/api/images/{image_id}").get_json()
        assert body["variants"]["tiny"]["width"] == 64
        assert body["variants"]["xxl"]["width"] == 1200  # never upscaled


def test_on_a_terminal_backfill_shows_a_progress_bar_then_its_report(client, run_worker):
    import pty

    for seed in range(3):
        upload(client, factories.jpeg(400, 300, seed=seed))
    run_worker()
    env = dict(os.environ, IMGSVC_VARIANTS=DEFAULT + ",tiny:64", COLUMNS="100")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgsvc", "backfill", "--dry-run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    try:
        while True:  # until the command closes the terminal (bounded by pytest's timeout)
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        assert proc.wait(timeout=60) == 0, shown[-2000:]
    text = shown.decode(errors="replace")
    assert "images" in text and "100%" in text, text  # click's bar, filled
    assert "scanned 3: would enqueue 3" in text, text
