"""The manifest's Redis copy, under its former names: it lives in :mod:`imgsvc.images`
with the rest of the image record. Kept for the code that imports it from here."""

from __future__ import annotations

from imgsvc.images.record import CACHE_TTL, cache_key, mark_settled
from imgsvc.images.record import cache_manifest as remember
from imgsvc.images.record import load_manifest as load
from imgsvc.images.record import save_manifest as save
from imgsvc.images.record import save_manifest_unless_deleted as save_unless_deleted
from imgsvc.images.record import uncache_manifest as forget

__all__ = [
    "CACHE_TTL",
    "cache_key",
    "forget",
    "load",
    "mark_settled",
    "remember",
    "save",
    "save_unless_deleted",
]
