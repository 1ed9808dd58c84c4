"""Webhook deliveries and their attempts, as Redis keeps them.

One hash per subject (``imgsvc:webhooks:image:<id>``,
``imgsvc:webhooks:wordcount:<job_id>``), one field per delivery: an event to
one receiver (``image.done:callback``). The field holds what the delivery job
needs (the message id, the receiver's URL, the body, signed anew at each
attempt) and what clients see (state and attempts: :func:`public_view`).
The hash expires ``WEBHOOK_RECORD_TTL`` seconds after its last write.

A delivery's state is ``pending`` (not tried yet), ``retrying`` (a transient
failure; another attempt is scheduled), ``delivered`` (a 2xx answer) or
``failed`` (a refusal, or the last attempt failed). Only one attempt of a
delivery runs at a time (:func:`claim`), and none after one was delivered.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from redis import Redis

from imgsvc.extensions import REDIS_ERRORS

FINAL_STATES = ("delivered", "failed")


def record_key(subject: str) -> str:
    """The hash of ``subject`` (``image:<id>`` or ``wordcount:<job_id>``)."""
    return f"imgsvc:webhooks:{subject}"


def lock_key(subject: str, name: str) -> str:
    return f"imgsvc:webhook-lock:{subject}:{name}"


@dataclass
class Delivery:
    """One event for one receiver, and the attempts made so far."""

    message_id: str
    event: str
    receiver: str  # "callback" (the request's callback_url) or "global" (WEBHOOK_URL)
    url: str
    body: str
    created_at: str
    state: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The delivery's field in its subject's hash."""
        return f"{self.event}:{self.receiver}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Delivery:
        return cls(**json.loads(raw))

    def public(self) -> dict[str, Any]:
        """What the image's (or job's) view shows: never the URL's path or query,
        which may hold the receiver's own secret."""
        parts = urlsplit(self.url)
        return {
            "event": self.event,
            "receiver": self.receiver,
            "target": f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
            "state": self.state,
            "attempts": list(self.attempts),
        }


def create(redis: Redis, subject: str, delivery: Delivery, ttl: int) -> Delivery | None:
    """Record ``delivery`` unless its subject already has one for the same event and
    receiver (a job that ran again). The delivery to enqueue: the new one, or the
    one recorded before (its message id kept, so receivers see the same
    ``webhook-id``); ``None`` when that one was already delivered.

    A Redis failure is left to raise.
    """
    key = record_key(subject)
    if redis.hsetnx(key, delivery.name, delivery.to_json()):
        redis.expire(key, ttl)
        return delivery
    earlier = load(redis, subject, delivery.name)
    if earlier is None:  # expired in between: record it anew
        save(redis, subject, delivery, ttl)
        return delivery
    return None if earlier.state == "delivered" else earlier


def load(redis: Redis, subject: str, name: str) -> Delivery | None:
    raw = redis.hget(record_key(subject), name)
    return Delivery.from_json(raw) if raw else None


def save(redis: Redis, subject: str, delivery: Delivery, ttl: int) -> None:
    key = record_key(subject)
    with redis.pipeline() as pipe:
        pipe.hset(key, delivery.name, delivery.to_json())
        pipe.expire(key, ttl)
        pipe.execute()


def public_view(redis: Redis, subject: str) -> list[dict[str, Any]]:
    """Every delivery of ``subject``, oldest first, as clients see them; ``[]``
    when there are none or Redis does not answer (the view is only a report)."""
    try:
        raw = redis.hgetall(record_key(subject))
    except REDIS_ERRORS:
        return []
    deliveries = [Delivery.from_json(value) for value in raw.values()]
    deliveries.sort(key=lambda each: (each.created_at, each.receiver))
    return [each.public() for each in deliveries]


def forget(redis: Redis, subject: str) -> None:
    """Drop the subject's deliveries (a deleted image); Redis failures are ignored."""
    with contextlib.suppress(*REDIS_ERRORS):
        redis.delete(record_key(subject))


def claim(redis: Redis, subject: str, name: str, seconds: int) -> bool:
    """Take the delivery for one attempt of at most ``seconds``; ``False`` when another
    attempt holds it (two jobs for one delivery, as after a job ran twice)."""
    return bool(redis.set(lock_key(subject, name), "1", nx=True, ex=max(1, seconds)))


def release(redis: Redis, subject: str, name: str) -> None:
    with contextlib.suppress(*REDIS_ERRORS):  # else the lock expires
        redis.delete(lock_key(subject, name))
