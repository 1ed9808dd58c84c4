"""The recent-uploads gallery, under its former module: the tiles live in
:mod:`imgsvc.images.indexes` with the other Redis indexes. Kept for the code that
imports them from here."""

from __future__ import annotations

from imgsvc.images.indexes import TILE_TTL, Tile, recent_tiles, tile_key
from imgsvc.images.indexes import forget_tile as forget
from imgsvc.images.indexes import remember_tile as remember

__all__ = ["TILE_TTL", "Tile", "forget", "recent_tiles", "remember", "tile_key"]
