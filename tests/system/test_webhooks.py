"""Webhook deliveries in a long-running worker: retries with backoff after 5xx, a
receiver that is down for a while, a bounded number of attempts, and deliveries
that never hold up an image.

Real redis-server, a real forking ``worker.py`` with RQ's scheduler (retries are
scheduled), a real receiver on loopback.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rq.job import Job

from imgsvc.webhooks import record
from imgsvc.webhooks.delivery import announce
from imgsvc.webhooks.signing import new_secret
from tests import factories
from tests.support import wait_until
from tests.support.client import wait_final
from tests.support.processes import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("storage_url", ["file"], indirect=True)]


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def worker(app, receiver, secret, monkeypatch, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A long-running worker; webhooks retried after 1 s, then 2 s at most."""
    settings = {
        "WEBHOOK_SECRET": secret,
        "FETCH_ALLOWLIST": receiver.allow_entry,
        "WEBHOOK_BACKOFF": "1",
        "WEBHOOK_BACKOFF_MAX": "2",
        "WEBHOOK_MAX_ATTEMPTS": "8",
        "WEBHOOK_TIMEOUT": "5",
        "LOG_LEVEL": "INFO",  # WorkerProcess waits for "Listening on"
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"IMGSVC_{name}", value)
        app.config[name] = value
    process = WorkerProcess(dict(os.environ), tmp_path / "worker.log")
    yield process
    process.stop()


def upload_with_callback(client, callback_url: str, seed: int = 1) -> dict:
    response = client.post(
        "/api/images",
        data={
            "file": (io.BytesIO(factories.jpeg(320, 240, seed=seed)), "p.jpg"),
            "callback_url": callback_url,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def delivery_of(client, image_id: str) -> dict | None:
    hooks = client.get(f"/api/images/{image_id}").get_json().get("webhooks") or []
    return hooks[0] if hooks else None


def test_a_receiver_answering_5xx_gets_the_event_after_retries(client, receiver, secret, worker):
    receiver.script = [500, 500, 503]
    body = upload_with_callback(client, receiver.url())

    delivered = wait_until(
        lambda: (d := delivery_of(client, body["id"])) and d["state"] == "delivered" and d,
        timeout=60,
        message="the event was not delivered",
    )

    attempts = [(a["status"], a["error"]) for a in delivered["attempts"]]
    assert attempts == [
        (500, "webhook_failed"),
        (500, "webhook_failed"),
        (503, "webhook_failed"),
        (200, None),
    ]
    events = receiver.verified(secret)
    assert len(events) == 4 and all(event == events[0] for event in events)
    assert len({each.headers["webhook-id"] for each in receiver.received}) == 1  # one message
    assert events[0]["type"] == "image.done" and events[0]["data"]["id"] == body["id"]


def test_a_receiver_that_is_down_for_a_while_gets_the_event_once_it_is_back(
    client, receiver, secret, worker
):
    receiver.stop()  # connections refused
    body = upload_with_callback(client, receiver.url())
    wait_until(
        lambda: (d := delivery_of(client, body["id"])) and len(d["attempts"]) >= 2,
        timeout=60,
        message="no failed attempts while the receiver was down",
    )
    failed = delivery_of(client, body["id"])
    assert failed["state"] == "retrying"
    assert {(a["status"], a["error"]) for a in failed["attempts"]} == {(None, "webhook_failed")}

    receiver.start()  # back, on the same port

    delivered = wait_until(
        lambda: (d := delivery_of(client, body["id"])) and d["state"] == "delivered" and d,
        timeout=60,
        message="the event was not delivered once the receiver was back",
    )
    assert delivered["attempts"][-1]["status"] == 200
    [event] = receiver.verified(secret)  # exactly one request reached it: one success
    assert event["type"] == "image.done"


def test_attempts_stop_at_the_bound_and_the_delivery_fails(client, receiver, worker):
    receiver.script = [500] * 20  # WEBHOOK_MAX_ATTEMPTS is 8 here
    body = upload_with_callback(client, receiver.url())

    failed = wait_until(
        lambda: (d := delivery_of(client, body["id"])) and d["state"] == "failed" and d,
        timeout=90,
        message="the delivery did not end failed",
    )
    assert len(failed["attempts"]) == 8
    assert len(receiver.received) == 8


def test_a_backlog_of_deliveries_to_a_slow_receiver_does_not_hold_up_an_image(
    app, client, receiver, worker
):
    svc = app.extensions["imgsvc"]
    receiver.hold.clear()  # the receiver answers only when the test lets it
    for n in range(10):
        announce(svc, f"wordcount:w{n}", "wordcount.finished", {"n": n}, receiver.url())
    # The worker is busy with a delivery, its receiver holding the answer, when the image arrives.
    wait_until(lambda: len(receiver.received) == 1, message="no delivery started")
    response = client.post(
        "/api/images",
        data={"file": (io.BytesIO(factories.jpeg(320, 240)), "p.jpg")},
        content_type="multipart/form-data",
    )
    body = response.get_json()
    receiver.hold.set()
    done = wait_final(client, body["id"], timeout=60)

    image_job = Job.fetch(body["job_id"], connection=svc.redis, serializer=svc.queue.serializer)
    started = image_job.started_at
    started = started if started.tzinfo else started.replace(tzinfo=UTC)  # RQ's UTC
    before_image = [
        n
        for n in range(10)
        for delivery in record.public_view(svc.redis, f"wordcount:w{n}")
        if delivery["attempts"] and datetime.fromisoformat(delivery["attempts"][0]["at"]) < started
    ]
    assert done["status"] == "done"
    assert len(before_image) <= 1, f"{len(before_image)} deliveries ran before the image"
    wait_until(lambda: len(receiver.received) == 10, timeout=60, message="backlog not delivered")
