"""Structured logs: one JSON line per request and per job."""

from __future__ import annotations

import json
import logging

import pytest

from imgsvc.logs import JsonFormatter, TextFormatter
from tests import factories
from tests.support.client import upload

FILE_ONLY = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


def record(**extra) -> logging.LogRecord:
    entry = logging.LogRecord("imgsvc.job", logging.INFO, __file__, 1, "job %s done", ("j1",), None)
    entry.__dict__.update(extra)
    return entry


def test_json_lines_carry_the_extra_fields():
    line = JsonFormatter().format(record(job_id="j1", duration_ms=12.5, image_id="abc"))

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "job j1 done" and entry["level"] == "info"
    assert entry["logger"] == "imgsvc.job" and entry["ts"].endswith("Z")
    assert (entry["job_id"], entry["duration_ms"], entry["image_id"]) == ("j1", 12.5, "abc")


def test_text_lines_append_the_extra_fields():
    line = TextFormatter().format(record(job_id="j1", status="finished"))
    assert line.endswith("imgsvc.job: job j1 done job_id=j1 status=finished")


@FILE_ONLY
def test_one_line_per_request_with_its_id_and_the_image(client, caplog):
    caplog.set_level(logging.INFO, logger="imgsvc.request")

    response = upload(client, factories.jpeg())
    echoed = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    replaced = client.get("/healthz", headers={"X-Request-ID": 'bad id {"x": 1}'})

    lines = [r for r in caplog.records if r.name == "imgsvc.request"]
    assert len(lines) == 3
    body = response.get_json()
    first = lines[0]
    assert (first.method, first.path, first.status) == ("POST", "/api/images", 202)
    assert (first.image_id, first.job_id) == (body["id"], body["job_id"])
    assert first.duration_ms > 0 and len(first.request_id) == 32
    assert response.headers["X-Request-ID"] == first.request_id
    assert lines[1].request_id == "trace-123" == echoed.headers["X-Request-ID"]
    assert lines[2].request_id == replaced.headers["X-Request-ID"] != 'bad id {"x": 1}'


@FILE_ONLY
def test_one_json_line_per_job_from_the_worker(client, run_worker, monkeypatch):
    monkeypatch.setenv("IMGSVC_LOG_LEVEL", "INFO")
    good = upload(client, factories.jpeg()).get_json()
    data = factories.jpeg(800, 600)
    bad = upload(client, data[: len(data) // 3]).get_json()

    stderr = run_worker().stderr

    entries = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert len(entries) == len(stderr.splitlines()), "every worker line is JSON"
    jobs = {e["job_id"]: e for e in entries if e["logger"] == "imgsvc.job"}
    done, failed = jobs[good["job_id"]], jobs[bad["job_id"]]
    assert (done["status"], done["type"], done["image_id"]) == ("finished", "image", good["id"])
    assert done["duration_ms"] > 0 and "error_code" not in done
    assert (failed["status"], failed["error_code"], failed["image_id"]) == (
        "failed",
        "invalid_image",
        bad["id"],
    )
    assert failed["will_retry"] is False
