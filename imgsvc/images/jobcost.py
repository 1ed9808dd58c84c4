"""The measured cost of the variants jobs: what ``imgsvc backfill --dry-run``
estimates worker time from.

Each variants job adds its seconds and the megapixels of the original it
decoded to ``imgsvc:variants-cost`` (Redis); the estimate is the megapixels
still to decode times the seconds per megapixel measured so far.
"""

from __future__ import annotations

import logging

from redis import Redis

from imgsvc.extensions import REDIS_ERRORS

log = logging.getLogger(__name__)

COST_KEY = "imgsvc:variants-cost"


def record_cost(redis: Redis, seconds: float, megapixels: float) -> None:
    """Add one job's cost to the sums (best effort: a Redis failure is logged)."""
    try:
        with redis.pipeline() as pipe:
            pipe.hincrbyfloat(COST_KEY, "seconds", seconds)
            pipe.hincrbyfloat(COST_KEY, "megapixels", megapixels)
            pipe.hincrby(COST_KEY, "jobs", 1)
            pipe.execute()
    except REDIS_ERRORS:
        log.warning("could not record the cost of a variants job")


def seconds_per_megapixel(redis: Redis) -> float | None:
    """The measured cost of the variants jobs so far, or ``None`` before the first."""
    raw = redis.hgetall(COST_KEY)
    seconds = float(raw.get(b"seconds", 0) or 0)
    megapixels = float(raw.get(b"megapixels", 0) or 0)
    return seconds / megapixels if megapixels > 0 else None
