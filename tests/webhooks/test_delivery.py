"""Webhook deliveries run by a real worker against a loopback receiver."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rq.job import Job

from imgsvc.webhooks import record
from imgsvc.webhooks.delivery import announce
from tests import factories
from tests.support.client import upload

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


@pytest.fixture
def hooked(app, receiver, secret, monkeypatch):
    """Webhooks signed with ``secret``; the receiver allowlisted (it is on loopback)."""
    for name, value in {"WEBHOOK_SECRET": secret, "FETCH_ALLOWLIST": receiver.allow_entry}.items():
        monkeypatch.setenv(f"IMGSVC_{name}", value)
        app.config[name] = value
    return receiver


def deliveries(app, subject: str) -> list[dict]:
    return record.public_view(app.extensions["imgsvc"].redis, subject)


def test_an_event_arrives_signed_once_and_its_attempt_is_recorded(app, hooked, secret, run_worker):
    svc = app.extensions["imgsvc"]
    data = {"id": "job-1", "status": "finished", "result": {"total_words": 3}}
    job_ids = announce(svc, "wordcount:job-1", "wordcount.finished", data, hooked.url("/in?t=1"))
    assert len(job_ids) == 1

    run_worker()

    events = hooked.verified(secret)  # the reference library's verification
    assert len(events) == 1
    assert events[0]["type"] == "wordcount.finished"
    assert events[0]["data"] == data
    assert hooked.received[0].path == "/in?t=1"
    assert hooked.received[0].headers["webhook-id"].startswith("msg_")
    [delivery] = deliveries(app, "wordcount:job-1")
    assert delivery["state"] == "delivered"
    assert delivery["receiver"] == "callback"
    assert delivery["target"] == f"http://{hooked.allow_entry}"  # never the path or query
    assert [(a["status"], a["error"]) for a in delivery["attempts"]] == [(200, None)]


def test_the_same_event_again_is_not_delivered_twice(app, hooked, secret, run_worker):
    svc = app.extensions["imgsvc"]
    announce(svc, "wordcount:job-2", "wordcount.finished", {"n": 1}, hooked.url())
    run_worker()
    # The job that announced it ran again (a retry after a crash): nothing new is sent.
    assert announce(svc, "wordcount:job-2", "wordcount.finished", {"n": 1}, hooked.url()) == []
    run_worker()
    assert len(hooked.verified(secret)) == 1


def test_an_event_not_yet_delivered_keeps_its_message_id_when_announced_again(app, hooked):
    svc = app.extensions["imgsvc"]
    first = announce(svc, "wordcount:job-3", "wordcount.failed", {"n": 1}, hooked.url())
    again = announce(svc, "wordcount:job-3", "wordcount.failed", {"n": 1}, hooked.url())
    assert len(first) == len(again) == 1
    raw = svc.redis.hgetall(record.record_key("wordcount:job-3"))
    assert len(raw) == 1  # one delivery, one message id


@pytest.mark.parametrize("status", [400, 404, 301])
def test_a_refusal_fails_the_delivery_at_once(app, hooked, secret, run_worker, status):
    hooked.script = [status]
    announce(app.extensions["imgsvc"], "wordcount:j", "wordcount.finished", {}, hooked.url())

    run_worker()

    assert len(hooked.received) == 1
    [delivery] = deliveries(app, "wordcount:j")
    assert delivery["state"] == "failed"
    assert [(a["status"], a["error"]) for a in delivery["attempts"]] == [(status, "webhook_failed")]


def test_a_destination_the_guard_refuses_fails_without_a_connection(
    app, hooked, run_worker, monkeypatch
):
    monkeypatch.setenv("IMGSVC_FETCH_ALLOWLIST", "")  # the receiver is on loopback: refused
    announce(app.extensions["imgsvc"], "wordcount:k", "wordcount.finished", {}, hooked.url())

    run_worker()

    assert hooked.received == []
    [delivery] = deliveries(app, "wordcount:k")
    assert delivery["state"] == "failed"
    assert delivery["attempts"][0]["error"] == "destination_not_allowed"


def test_deliveries_queued_first_wait_for_an_image_queued_after_them(
    app, client, hooked, run_worker
):
    svc = app.extensions["imgsvc"]
    for n in range(3):
        announce(svc, f"wordcount:w{n}", "wordcount.finished", {"n": n}, hooked.url())
    body = upload(client, factories.jpeg(320, 240)).get_json()

    run_worker()

    image_job = Job.fetch(body["job_id"], connection=svc.redis, serializer=svc.queue.serializer)
    first_delivery = min(
        deliveries(app, f"wordcount:w{n}")[0]["attempts"][0]["at"] for n in range(3)
    )
    assert client.get(f"/api/images/{body['id']}").get_json()["status"] == "done"
    assert _utc(image_job.ended_at) < datetime.fromisoformat(first_delivery)
    assert len(hooked.received) == 3


def _utc(moment: datetime) -> datetime:
    """RQ's times are UTC, naive or aware depending on its version."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
