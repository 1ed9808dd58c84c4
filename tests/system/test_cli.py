"""`imgsvc dev` (`make run`): Redis, the front, gunicorn and a worker; Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from imgsvc.imaging.variants import VariantSpec
from tests import factories
from tests.support import free_port, wait_until
from tests.support.processes import children

pytestmark = pytest.mark.slow


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sigint_at_start", ["default", "ignored"])
def test_dev_runs_everything_and_ctrl_c_stops_it(tmp_path: Path, sigint_at_start: str):
    """``ignored``: as a shell starts a background job (``imgsvc dev &``), which
    Python then leaves ignored unless told otherwise."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    env["IMGSVC_LOG_LEVEL"] = "WARNING"
    log = tmp_path / "dev.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "imgsvc", "dev", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_ignore_sigint if sigint_at_start == "ignored" else None,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: f"running at {url}/" in log.read_text(),
            timeout=60,
            message="imgsvc dev printed no URL",
        )

        def healthy() -> bool:
            try:
                return requests.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=30)
        # Redis, the worker, gunicorn and the front (nginx): each its own process group
        # (Ctrl-C reaches only `imgsvc dev`), all in its session (SCHED_IDLE workers
        # yield to the web).
        spawned = children(proc.pid)
        assert len(spawned) == 4
        assert all(os.getpgid(pid) == pid for pid in spawned)
        assert {os.getsid(pid) for pid in spawned} == {os.getsid(proc.pid)}
        image_id = requests.post(
            f"{url}/api/images",
            files={"file": ("a.jpg", factories.jpeg(), "image/jpeg")},
            timeout=10,
        ).json()["id"]
        wait_until(
            lambda: (
                requests.get(f"{url}/api/images/{image_id}", timeout=5).json()["status"] == "done"
            ),
            timeout=60,
        )
        xl_tag = VariantSpec("xl", 2048).tag()  # the variant's versioned key
        assert (tmp_path / "var" / "media" / "images" / image_id / f"xl-{xl_tag}.jpg").exists()
        # The job records its duration once it returns, just after the manifest says done.
        sample = 'imgsvc_job_duration_seconds_count{outcome="success",type="image"} 1.0'
        wait_until(lambda: sample in requests.get(f"{url}/metrics", timeout=5).text, timeout=10)
        assert any((tmp_path / "var" / "prometheus").glob("*.db"))
        redis_port = int(log.read_text().split("redis redis://127.0.0.1:")[1].split("/")[0])
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    assert not listening(port)
    assert not listening(redis_port)
    assert (tmp_path / "var" / "redis").is_dir()
    assert not (tmp_path / "var" / "prometheus").exists()  # samples do not outlive the run


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
def test_stats_shows_queues_workers_and_recent_failures(client, run_worker, env):
    from redis import Redis
    from rq import Worker

    from tests.support.client import upload

    data = factories.jpeg(400, 300)
    bad = upload(client, data[: len(data) // 3]).get_json()
    upload(client, factories.jpeg(300, 200))
    run_worker()
    upload(client, factories.jpeg(300, 200, seed=3))  # stays queued: no worker yet
    worker = subprocess.Popen(
        [sys.executable, "-m", "imgsvc", "worker", "--name", "stats-test-worker"],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        redis = Redis.from_url(env["IMGSVC_REDIS_URL"])
        wait_until(lambda: [w for w in Worker.all(connection=redis) if w.name.startswith("stats")])
        wait_until(lambda: redis.llen("rq:queue:default") == 0, timeout=60)

        def idle() -> str | None:
            command = [sys.executable, "-m", "imgsvc", "stats"]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            return out if "stats-test-worker  idle  -" in out and "0 started" in out else None

        text = wait_until(idle, timeout=60)
        as_json = subprocess.run(
            [sys.executable, "-m", "imgsvc", "stats", "--json", "--failures", "5"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    assert "queue default: 0 queued, 0 started" in text and "1 failed" in text
    assert "workers: 1" in text
    assert "recent failures: 1" in text
    assert f"{bad['job_id']}  image  invalid_image  " in text
    state = json.loads(as_json)
    assert state["queues"]["default"]["finished"] == 2
    assert [w["name"] for w in state["workers"]] == ["stats-test-worker"]
    assert state["failures"][0]["error"]["code"] == "invalid_image"


def test_dev_on_s3_gives_the_bucket_the_forms_cors_rule(tmp_path: Path, s3_endpoint: str) -> None:
    import boto3

    from imgsvc.storage import S3Storage
    from imgsvc.storage.cors import RULE_ID, bucket_rules
    from tests.support.stack import dev_stack

    bucket = f"dev-{os.getpid()}-{free_port()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    settings = {
        "IMGSVC_STORAGE_URL": f"s3://{bucket}/dev",
        "IMGSVC_S3_ENDPOINT_URL": s3_endpoint,
        "IMGSVC_S3_CORS_ORIGINS": "http://dev.example:5000",
    }
    with dev_stack(tmp_path, settings) as stack:
        page = requests.get(f"{stack.url}/", timeout=10)
        assert 'data-direct="/api/uploads"' in page.text

    [rule] = bucket_rules(S3Storage(bucket, endpoint_url=s3_endpoint))
    assert rule["ID"] == RULE_ID and rule["AllowedOrigins"] == ["http://dev.example:5000"]
