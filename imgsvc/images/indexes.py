"""Redis indexes derived from the image records: rebuildable, never the truth.

Two of them (the third copy, the cached manifest, is the record's own, in
:mod:`imgsvc.images.record`):

- the recent-uploads list (``imgsvc:recent``): the newest ids, pushed at
  upload and dropped at delete; losing it only empties the gallery until new
  uploads arrive;
- the gallery tiles: when a job ends, the worker stores ``{"status", "color",
  "thumb"}`` under ``imgsvc:tile:<id>`` (a cache, rebuilt from the manifest
  when missing), so the front page learns which thumbnails exist and their
  placeholder colour with one ``MGET`` instead of reading a manifest per image
  from storage. An image still in the queue is recognised by its live job;
  only an image with neither tile nor job (Redis lost its data, or an upload
  older than the cache) costs one manifest read, after which its tile is back.

A deleted image's tile is never written again (:mod:`imgsvc.images.tombstones`).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from redis import Redis

from imgsvc.errors import ImgsvcError
from imgsvc.extensions import REDIS_ERRORS, Services, text_of
from imgsvc.images import record, tombstones

RECENT_KEY = "imgsvc:recent"
TILE_TTL = 90 * 86_400
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Tile:
    """One gallery entry: ``status`` is ``done``, ``failed`` or ``processing``."""

    image_id: str
    status: str
    color: str | None = None
    thumb: str | None = None


def tile_key(image_id: str) -> str:
    return f"imgsvc:tile:{image_id}"


def _tile_record(manifest: dict[str, Any]) -> dict[str, Any]:
    placeholder = manifest.get("placeholder") or {}
    color = placeholder.get("color") if isinstance(placeholder, dict) else None
    variants = manifest.get("variants") or {}
    thumb = "thumb" if "thumb" in variants else None
    if thumb is None and variants:
        thumb = min(variants, key=lambda name: variants[name].get("width", 0))
    return {
        "status": manifest.get("status"),
        "color": color if isinstance(color, str) and _COLOR.match(color) else None,
        "thumb": thumb,
    }


def remember_tile(redis: Redis, manifest: dict[str, Any]) -> None:
    """Cache a finished image's tile unless the image was deleted; a Redis
    failure only costs a manifest read later."""
    if manifest.get("status") not in record.FINAL_STATUSES:
        return
    image_id = manifest["id"]
    value = json.dumps(_tile_record(manifest))
    with contextlib.suppress(*REDIS_ERRORS):
        tombstones.set_unless_deleted(redis, image_id, tile_key(image_id), value, TILE_TTL)


def forget_tile(redis: Redis, image_id: str) -> None:
    """Drop the image's tile (a Redis failure is left to raise)."""
    redis.delete(tile_key(image_id))


def _from_record(image_id: str, record: dict[str, Any]) -> Tile:
    thumb = record.get("thumb")
    return Tile(
        image_id=image_id,
        status=str(record.get("status")),
        color=record.get("color"),
        thumb=f"/images/{image_id}/{thumb}" if thumb and record.get("status") == "done" else None,
    )


def _rebuild(svc: Services, image_id: str) -> Tile | None:
    found = record.image_job(svc.queue, image_id)
    if found is not None and found.live:
        return Tile(image_id, "processing")
    try:
        manifest = record.read_manifest(svc.storage, image_id)
    except ImgsvcError:
        return None  # deleted, or storage is down: leave it out of the gallery
    if manifest.get("status") not in record.FINAL_STATUSES:
        return Tile(image_id, "processing")
    remember_tile(svc.redis, manifest)
    return _from_record(image_id, _tile_record(manifest))


def recent_tiles(svc: Services, count: int) -> list[Tile]:
    """The newest ``count`` uploads as tiles (empty when Redis is down)."""
    try:
        ids = recent_uploads(svc.redis, count)
        raw = svc.redis.mget([tile_key(image_id) for image_id in ids]) if ids else []
        tiles = []
        for image_id, record in zip(ids, raw, strict=True):
            tile = _from_record(image_id, json.loads(record)) if record else _rebuild(svc, image_id)
            if tile is not None:
                tiles.append(tile)
        return tiles
    except REDIS_ERRORS:
        return []


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
