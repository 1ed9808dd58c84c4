"""Announcing an event to its receivers, and the job that delivers it.

When an image ends ``done`` or ``failed``, or a word count ends, the job that
ended it calls :func:`announce`: for each receiver (the request's
``callback_url``, and ``WEBHOOK_URL`` when set) a delivery is recorded
(:mod:`imgsvc.webhooks.record`) and :func:`deliver_webhook` is enqueued on the
webhook queue, which workers take only when no image or word count waits.

The body is fixed when the event happens: ``{"type", "timestamp", "data"}``,
``data`` being the subject's view at that moment (the body of
``GET /api/images/<id>`` or ``GET /api/jobs/<job_id>``). Each attempt signs it
anew (:mod:`imgsvc.webhooks.signing`) under the same ``webhook-id``.

Delivery is at least once: a 2xx ends it; connection errors, timeouts, 5xx,
408 and 429 are retried with backoff within the window
(:func:`imgsvc.settings.webhook_retry_delays`); anything else (a 4xx, a
redirect, a refused destination) fails it at once. At most one success per
event and receiver is the goal: an attempt holds the delivery's lock and
none starts once one succeeded, but a worker that dies between the
receiver's 2xx and the record sends it again. Receivers deduplicate by
``webhook-id``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imgsvc import metrics
from imgsvc.config import csv_list
from imgsvc.errors import ImgsvcError, InvalidUrl, WebhookFailed, WebhooksNotConfigured
from imgsvc.extensions import REDIS_ERRORS, Services, worker_services
from imgsvc.images import tombstones
from imgsvc.jobs import iso, note_job_error
from imgsvc.netguard import Guard
from imgsvc.settings import Settings
from imgsvc.webhooks import record
from imgsvc.webhooks.signing import new_message_id, parse_secret, signed_headers
from imgsvc.webhooks.transport import post

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receiver:
    name: str  # "callback" or "global"
    url: str


def check_callback_url(config: Settings, url: object) -> str | None:
    """A request's ``callback_url`` checked as far as the URL alone shows; ``None``
    when there is none.

    Raises ``InvalidUrl`` (not an absolute http(s) URL), ``DestinationNotAllowed``
    (a blocked literal address or ``localhost``, unless allowlisted), or
    ``WebhooksNotConfigured`` (no ``WEBHOOK_SECRET`` to sign with). Names that
    resolve to blocked addresses are refused at each attempt.
    """
    if url is None or url == "":
        return None
    if not isinstance(url, str):
        raise InvalidUrl("callback_url must be an absolute http or https URL.")
    if not config.WEBHOOK_SECRET:
        raise WebhooksNotConfigured()
    Guard(csv_list(config.FETCH_ALLOWLIST)).check_literal(url.strip())
    return url.strip()


def receivers(config: Settings, callback_url: str | None) -> list[Receiver]:
    """Who hears of an event: the request's callback, then the global receiver."""
    if not config.WEBHOOK_SECRET:
        return []
    found = [Receiver("callback", callback_url)] if callback_url else []
    if config.WEBHOOK_URL:
        found.append(Receiver("global", config.WEBHOOK_URL))
    return found


def announce(
    svc: Services, subject: str, event: str, data: dict[str, Any], callback_url: str | None
) -> list[str]:
    """Record and enqueue the delivery of ``event`` about ``subject`` to each receiver;
    the ids of the jobs enqueued (none for a delivery already delivered).

    Never raises: the event's subject is already final, and a Redis that cannot
    take the delivery is logged (the event is then lost: see docs/api.md).
    """
    from imgsvc.queue import enqueue_webhook  # imgsvc.queue imports the image record

    config = svc.config
    targets = receivers(config, callback_url)
    if not targets:
        return []
    body = json.dumps({"type": event, "timestamp": _now(), "data": data}, separators=(",", ":"))
    job_ids = []
    for target in targets:
        delivery = record.Delivery(
            message_id=new_message_id(),
            event=event,
            receiver=target.name,
            url=target.url,
            body=body,
            created_at=_now(),
        )
        try:
            found = record.create(svc.redis, subject, delivery, config.WEBHOOK_RECORD_TTL)
            if found is not None:
                job = enqueue_webhook(svc.queue, subject, found.name, svc.settings)
                job_ids.append(job.id)
        except (ImgsvcError, *REDIS_ERRORS) as exc:
            log.error("could not enqueue the %s webhook of %s: %s", event, subject, exc)
    return job_ids


@metrics.tracked("webhook")
def deliver_webhook(subject: str, name: str) -> dict[str, Any]:
    """Make one attempt at the delivery ``name`` of ``subject`` (an RQ job).

    Returns ``{"state": ...}``: ``delivered`` on a 2xx, or the state found when
    there is nothing to do (already delivered or failed, expired, the image
    deleted). A failed attempt records itself and raises its error:
    ``WebhookFailed``/``WebhookTimeout`` (retried by RQ while transient and
    within the window) or ``DestinationNotAllowed``/``InvalidUrl`` (never).
    """
    svc = worker_services()
    delivery = record.load(svc.redis, subject, name)
    if delivery is None:
        return {"state": "expired"}
    if delivery.state in record.FINAL_STATES:
        return {"state": delivery.state}
    kind, _, subject_id = subject.partition(":")
    if kind == "image" and tombstones.is_deleted(svc.redis, subject_id):
        record.forget(svc.redis, subject)  # nothing of a deleted image comes back
        return {"state": "deleted"}
    hold = int(svc.config.WEBHOOK_TIMEOUT) + 10
    if not record.claim(svc.redis, subject, name, hold):
        raise WebhookFailed("Another attempt of this delivery is in progress.", retryable=True)
    try:
        return _attempt(svc, subject, delivery)
    finally:
        record.release(svc.redis, subject, name)


def _attempt(svc: Services, subject: str, delivery: record.Delivery) -> dict[str, Any]:
    config = svc.config
    body = delivery.body.encode()
    at = _now()
    status: int | None = None
    error: ImgsvcError | None = None
    try:
        if not config.WEBHOOK_SECRET:  # the web has one (it accepted the event), this worker not
            raise WebhooksNotConfigured("This worker has no IMGSVC_WEBHOOK_SECRET to sign with.")
        key = parse_secret(config.WEBHOOK_SECRET)
        headers = signed_headers(key, delivery.message_id, int(time.time()), body)
        answer = post(
            delivery.url,
            body,
            headers,
            Guard(csv_list(config.FETCH_ALLOWLIST)),
            config.WEBHOOK_TIMEOUT,
        )
        status = answer.status
        if not answer.ok:
            error = WebhookFailed(
                f"The receiver answered {answer.status}.", retryable=answer.retryable
            )
    except ImgsvcError as exc:
        error = exc
    attempt = {"at": at, "status": status, "error": error.code if error else None}
    if error is not None:
        attempt["message"] = error.message
    delivery.attempts.append(attempt)
    last = error is not None and note_job_error(error)
    delivery.state = "delivered" if error is None else ("failed" if last else "retrying")
    record.save(svc.redis, subject, delivery, config.WEBHOOK_RECORD_TTL)
    if error is not None:
        raise error
    return {"state": "delivered", "status": status, "attempts": len(delivery.attempts)}


def _now() -> str:
    return iso(datetime.now(UTC)) or ""
