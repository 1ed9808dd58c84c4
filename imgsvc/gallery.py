"""The recent-uploads gallery: one small Redis record per finished image.

When a job ends, the worker stores ``{"status", "color", "thumb"}`` under
``imgsvc:tile:<id>`` (a cache, rebuilt from the manifest when missing), so the
front page learns which thumbnails exist and their placeholder colour with one
``MGET`` instead of reading a manifest per image from storage. An image still
in the queue is recognised by its live job; only an image with neither record
nor job (Redis lost its data, or an upload older than the cache) costs one
manifest read, after which its record is back. A deleted image's record is
never written again (:mod:`imgsvc.tombstones`).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from redis import Redis

from imgsvc import images, tombstones
from imgsvc.errors import ImgsvcError
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.indexes import recent_uploads
from imgsvc.queue import live_job

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


def remember(redis: Redis, manifest: dict[str, Any]) -> None:
    """Cache a finished image's tile unless the image was deleted; a Redis
    failure only costs a manifest read later."""
    if manifest.get("status") not in images.FINAL_STATUSES:
        return
    image_id = manifest["id"]
    record = json.dumps(_tile_record(manifest))
    with contextlib.suppress(*REDIS_ERRORS):
        tombstones.set_unless_deleted(redis, image_id, tile_key(image_id), record, TILE_TTL)


def forget(redis: Redis, image_id: str) -> None:
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
    if live_job(svc.queue, image_id) is not None:
        return Tile(image_id, "processing")
    try:
        manifest = images.read_manifest(svc.storage, image_id)
    except ImgsvcError:
        return None  # deleted, or storage is down: leave it out of the gallery
    if manifest.get("status") not in images.FINAL_STATUSES:
        return Tile(image_id, "processing")
    remember(svc.redis, manifest)
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
