"""imgsvc/schedulerlock.py on a real Redis: only a lock its holder stopped refreshing is freed."""

from __future__ import annotations

from redis import Redis
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

from imgsvc.schedulerlock import LOCK_TTL, free_stale_locks


def test_only_a_lock_not_refreshed_for_the_grace_is_freed(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    fresh = SCHEDULER_LOCKING_KEY_TEMPLATE % "fresh"
    stale = SCHEDULER_LOCKING_KEY_TEMPLATE % "stale"
    redis.set(fresh, "alive-scheduler", ex=LOCK_TTL)  # just refreshed
    redis.set(stale, "dead-scheduler", ex=LOCK_TTL - 20)  # last refreshed 20 s ago

    freed = free_stale_locks(redis, ["fresh", "stale", "never-locked"], stale_after=15)

    assert freed == ["stale"]
    assert redis.get(fresh) == b"alive-scheduler"
    assert redis.get(stale) is None


def test_a_lock_without_expiry_is_left_alone(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    key = SCHEDULER_LOCKING_KEY_TEMPLATE % "forever"
    redis.set(key, "someone")  # not RQ's: nothing says its holder is gone

    assert free_stale_locks(redis, ["forever"], stale_after=15) == []
    assert redis.get(key) == b"someone"
