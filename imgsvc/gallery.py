"""The recent-uploads gallery, under its former module: the tiles live in
:mod:`imgsvc.indexes` with the other Redis indexes. Kept for the code that
imports them from here."""

from __future__ import annotations

from imgsvc.indexes import TILE_TTL, Tile, recent_tiles, tile_key
from imgsvc.indexes import forget_tile as forget
from imgsvc.indexes import remember_tile as remember

__all__ = ["TILE_TTL", "Tile", "forget", "recent_tiles", "remember", "tile_key"]
