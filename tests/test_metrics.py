"""/metrics: queue gauges from Redis, upload counters, and what the workers count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests import factories
from tests.support import free_port, wait_until
from tests.support.client import upload
from tests.support.pageserver import PageServer
from tests.support.stack import LiveStack

FILE_ONLY = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text as ``{(sample name, labels): value}``."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@FILE_ONLY
def test_metrics_show_queue_depth_and_count_uploads(client):
    before = samples(client.get("/metrics").get_data(as_text=True))
    upload(client, factories.jpeg(seed=1))
    upload(client, factories.jpeg(seed=2))
    upload(client, b"%PDF-1.4 not an image", "cv.jpg")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    after = samples(response.get_data(as_text=True))
    assert value(after, "imgsvc_redis_up") == 1
    assert value(after, "imgsvc_queue_depth", queue="default") == 2
    assert value(after, "imgsvc_queue_depth", queue="default-wordcounts") == 0
    assert value(after, "imgsvc_queue_jobs", queue="default", state="failed") == 0
    accepted = ("imgsvc_uploads_total", {"outcome": "accepted"})
    refused = ("imgsvc_uploads_total", {"outcome": "unsupported_format"})
    for name, labels in (accepted, refused):
        grew = value(after, name, **labels) - value(before, name, **labels)
        assert grew == (2 if labels["outcome"] == "accepted" else 1)
    assert value(after, "imgsvc_upload_bytes_total") > value(before, "imgsvc_upload_bytes_total")
    requests_seen = value(
        after,
        "imgsvc_http_requests_total",
        method="POST",
        endpoint="api.upload_image",
        status="202",
    )
    assert requests_seen >= 2


@FILE_ONLY
def test_made_up_methods_and_paths_add_no_series(client):
    from imgsvc import metrics

    for n in range(5):
        client.open(f"/api/images?n={n}", method=f"BREW{n}")
        client.open(f"/no-such-page-{n}", method="GET")
        client.open(f"/no-such-page-{n}", method=f"PROP{n}FIND")

    found = samples(client.get("/metrics").get_data(as_text=True))

    series = [dict(labels) for name, labels in found if name == "imgsvc_http_requests_total"]
    assert {labels["method"] for labels in series} <= {*metrics.METHODS, "other"}
    assert not [labels for labels in series if "no-such-page" in labels["endpoint"]]
    assert (
        value(found, "imgsvc_http_requests_total", method="GET", endpoint="unmatched", status="404")
        >= 5
    )
    others = sum(
        count
        for (name, labels), count in found.items()
        if name == "imgsvc_http_requests_total" and dict(labels)["method"] == "other"
    )
    assert others >= 10
    assert value(found, "imgsvc_http_request_duration_seconds_count", endpoint="unmatched") >= 10


@FILE_ONLY
def test_metrics_say_when_redis_is_down(env, monkeypatch):
    from imgsvc import create_app

    monkeypatch.setenv("IMGSVC_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    client = create_app({"TESTING": True}).test_client()

    response = client.get("/metrics")

    assert response.status_code == 200
    assert value(samples(response.get_data(as_text=True)), "imgsvc_redis_up") == 0


@FILE_ONLY
def test_workers_count_jobs_variants_and_failures(client, run_worker, monkeypatch, tmp_path):
    folder = tmp_path / "prometheus"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    good = upload(client, factories.jpeg(1200, 800)).get_json()
    data = factories.jpeg(800, 600)
    upload(client, data[: len(data) // 3])
    server = PageServer()
    try:
        client.application.config["FETCH_ALLOWLIST"] = server.allow_entry
        monkeypatch.setenv("IMGSVC_FETCH_ALLOWLIST", server.allow_entry)
        queued = client.post("/api/wordcounts", json={"url": f"{server.base}/png"})
        assert queued.status_code == 202
        run_worker()
    finally:
        server.close()

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    found = samples(generate_latest(registry).decode())

    count = "imgsvc_job_duration_seconds_count"
    assert value(found, count, type="image", outcome="success") == 1
    assert value(found, count, type="image", outcome="failure") == 1
    assert value(found, count, type="wordcount", outcome="failure") == 1
    failures = "imgsvc_job_failures_total"
    assert value(found, failures, type="image", code="invalid_image") == 1
    assert value(found, failures, type="wordcount", code="unsupported_content_type") == 1
    variants = client.get(f"/api/images/{good['id']}").get_json()["variants"]
    assert value(found, "imgsvc_variants_total", format="jpeg") == 6
    written = sum(v["bytes"] for v in variants.values())
    assert value(found, "imgsvc_variant_bytes_total", format="jpeg") == written
    # Three jobs ran in three forked processes, yet their samples share the worker's files.
    owners = {path.stem.split("_", 1)[1] for path in Path(folder).glob("*.db")}
    assert len([owner for owner in owners if owner.startswith("rq-")]) == 1
    assert len([owner for owner in owners if owner.isdigit()]) <= 1  # the worker itself

    # A machine that runs only workers serves the same samples with `imgsvc metrics-server`.
    port = free_port()
    command = [sys.executable, "-m", "imgsvc", "metrics-server", "--port", str(port)]
    server = subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.PIPE, text=True)
    try:
        assert "serving the samples" in server.stdout.readline()
        served = samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    assert value(served, count, type="image", outcome="success") == 1
    assert value(served, "imgsvc_variant_bytes_total", format="jpeg") == written


@pytest.mark.slow
def test_several_gunicorn_processes_and_the_worker_add_up(redis_url, tmp_path):
    stack = LiveStack(tmp_path, {"IMGSVC_REDIS_URL": redis_url}).start()
    try:
        ids = [stack.upload(factories.jpeg(640, 480, seed=seed))["id"] for seed in range(6)]
        refused = requests.post(
            f"{stack.url}/api/images", files={"file": ("a.jpg", b"GIF87a...")}, timeout=10
        )
        assert refused.status_code == 400
        sizes = sum(
            requests.get(f"{stack.url}/api/images/{i}", timeout=10).json()["original"]["bytes"]
            for i in ids
        )
        for image_id in ids:
            assert stack.wait_final(image_id)["status"] == "done"

        def scraped() -> dict | None:
            found = samples(requests.get(f"{stack.url}/metrics", timeout=10).text)
            count = value(
                found, "imgsvc_job_duration_seconds_count", type="image", outcome="success"
            )
            # The worker marks itself idle just after it records the job's duration.
            idle = value(found, "imgsvc_workers", state="idle")
            return found if count == 6 and idle == 1 else None

        # Every scrape, whichever gunicorn process answers it, sees every process's counts.
        for _ in range(6):
            found = wait_until(scraped, timeout=20, message="worker samples not visible")
            assert value(found, "imgsvc_uploads_total", outcome="accepted") == 6
            assert value(found, "imgsvc_uploads_total", outcome="invalid_image") == 1
            assert value(found, "imgsvc_upload_bytes_total") == sizes
            assert value(found, "imgsvc_variants_total", format="jpeg") == 36
            assert value(found, "imgsvc_queue_depth", queue=stack.env["IMGSVC_QUEUE_NAME"]) == 0
            assert value(found, "imgsvc_workers", state="idle") == 1
    finally:
        stack.stop()
    # gunicorn's processes log one JSON line per request, with the image's id.
    lines = [json.loads(line) for line in stack.web_log.read_text().splitlines() if line[:1] == "{"]
    uploads = [e for e in lines if e.get("path") == "/api/images" and e.get("status") == 202]
    assert sorted(e["image_id"] for e in uploads) == sorted(ids)
    assert all(e["request_id"] and e["duration_ms"] > 0 for e in uploads)


def test_a_vanished_samples_folder_never_fails_the_work(tmp_path):
    folder = tmp_path / "prometheus"
    script = (
        "import shutil, sys\n"
        "from imgsvc import metrics\n"
        "metrics.record_variant('JPEG', 10)\n"
        "shutil.rmtree(sys.argv[1])  # e.g. a second `imgsvc dev` emptied it\n"
        "metrics.record_variant('WEBP', 20)\n"
        "with metrics.track_job('image', image_id='x'):\n"
        "    pass\n"
    )
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder))
    subprocess.run([sys.executable, "-c", script, str(folder)], env=env, check=True)

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    found = samples(generate_latest(registry).decode())
    # Samples kept in files deleted under the process are lost; new files work again.
    assert value(found, "imgsvc_job_duration_seconds_count", type="image", outcome="success") == 1
