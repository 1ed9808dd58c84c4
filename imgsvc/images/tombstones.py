"""DELETE wins: the tombstone a delete leaves in Redis, and the checks that honour it.

``DELETE /api/images/<id>`` sets ``imgsvc:deleted:<id>`` (kept
``TOMBSTONE_TTL`` seconds) *before* it removes anything, and answers ``503
queue_unavailable`` without deleting when it cannot set it. From then on:

- a job checks the tombstone before each write that could bring the image back
  (an object, the manifest, the settled marker) and again after it: a write
  that raced the delete's listing is removed by the job itself
  (:func:`imgsvc.images.tasks.process_image` raises :class:`ImageDeleted` and
  discards the image's objects);
- the Redis copies (the manifest cache, the gallery tile) are written by one
  script that refuses while the tombstone exists, so a copy can only be made
  before the delete clears the copies, never after;
- a read from storage that would refill the cache is refused the same way, so
  a ``GET`` racing the delete answers 404 instead of re-caching the image.

So after the ``204`` no request sees the image again, and nothing of it is
left once the job that was running has ended. When Redis stops answering
after the delete, the checks fail open (as the caches do); the job's own
clean-up then depends on Redis coming back within ``TOMBSTONE_TTL``.
"""

from __future__ import annotations

from redis import Redis

from imgsvc.errors import ImageDeleted
from imgsvc.extensions import REDIS_ERRORS

# Longer than any job that can still be running or be retried after a delete.
TOMBSTONE_TTL = 86_400

_SET_UNLESS_DELETED = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def tombstone_key(image_id: str) -> str:
    """Redis key that tells a running job its image was deleted meanwhile."""
    return f"imgsvc:deleted:{image_id}"


def bury(redis: Redis, image_id: str) -> None:
    """Set the image's tombstone; raises a Redis error when Redis cannot be reached."""
    redis.set(tombstone_key(image_id), "1", ex=TOMBSTONE_TTL)


def is_deleted(redis: Redis, image_id: str) -> bool:
    """Whether ``DELETE`` has run for the image (``False`` when Redis does not answer)."""
    try:
        return bool(redis.exists(tombstone_key(image_id)))
    except REDIS_ERRORS:
        return False


def check(redis: Redis, image_id: str) -> None:
    """Raise ``ImageDeleted`` when the image's tombstone exists."""
    if is_deleted(redis, image_id):
        raise ImageDeleted()


def set_unless_deleted(redis: Redis, image_id: str, key: str, value: str, ttl: int) -> bool:
    """``SET key value EX ttl`` unless the image is deleted, atomically; whether it was set.

    Raises a Redis error when Redis cannot be reached (callers treat copies as
    best effort).
    """
    script = redis.register_script(_SET_UNLESS_DELETED)
    return bool(script(keys=[key, tombstone_key(image_id)], args=[value, ttl]))
