"""Redis indexes derived from the image records: rebuildable, never the truth.

The recent-uploads list (``imgsvc:recent``) holds the newest ids, pushed at
upload and dropped at delete; the gallery reads it. Losing it only empties
the gallery until new uploads arrive.
"""

from __future__ import annotations

from redis import Redis

from imgsvc.extensions import text_of

RECENT_KEY = "imgsvc:recent"


def remember_upload(redis: Redis, image_id: str, keep: int) -> None:
    """Put an id at the head of the recent-uploads list, keeping a few times
    ``keep`` ids (deleted ones are dropped as they go). A Redis failure raises."""
    with redis.pipeline() as pipe:
        pipe.lpush(RECENT_KEY, image_id)
        pipe.ltrim(RECENT_KEY, 0, max(keep, 1) * 4 - 1)
        pipe.execute()


def recent_uploads(redis: Redis, count: int) -> list[str]:
    """The ids of the most recent uploads, newest first. A Redis failure raises."""
    return [text_of(raw) for raw in redis.lrange(RECENT_KEY, 0, count - 1)]


def forget_upload(redis: Redis, image_id: str) -> None:
    """Drop an id from the recent-uploads list. A Redis failure raises."""
    redis.lrem(RECENT_KEY, 0, image_id)
