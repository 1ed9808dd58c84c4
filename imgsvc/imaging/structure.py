"""Bounded walks of an upload's structure, before Pillow reads any of it.

Pillow's header readers walk as far as a file tells them to: a TIFF's page
chain (with a list search per page, so quadratic), a GIF's frames block by
block, a PNG's or JPEG's chunks before the pixels, each step in Python. A file
within the byte limit can keep a process busy for seconds that way. The walks
here stop at the limits instead, so what they cost depends on the limits, not
on the file: frames and pages are counted up to ``max_frames + 1``, chunks and
blocks up to ``max_chunks`` (and up to ``max_header_chunks`` before the first
pixel data, where Pillow's own walk is slowest), JPEG scans up to
``max_jpeg_scans``, compressed PNG metadata (which Pillow inflates, up to
1 MiB a chunk) up to ``max_compressed_chunks``. Past a count limit the upload
is refused with ``ImageTooLarge``; past a structure cap, or when a walk leaves
the file or loops, with ``InvalidImage``.

A walk only refuses: a file it does not recognise, or one that ends early, is
left to Pillow, whose errors the callers already turn into ``invalid_image``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from imgsvc.imaging import isobmff, walkers


@dataclass(frozen=True)
class StructureLimits:
    """How far a walk may go; see the README's Limits table."""

    max_frames: int = 1000
    max_chunks: int = 100_000
    max_header_chunks: int = 2000
    max_jpeg_scans: int = 100
    max_compressed_chunks: int = 8
    # Checked by walks that read a declared size before any decoder (HEIF, AVIF).
    max_pixels: int | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> StructureLimits:
        """The limits from a settings mapping (``load_settings`` or an app's config)."""
        from imgsvc.settings import Settings

        config = Settings(settings)
        return cls(
            max_frames=config.MAX_IMAGE_FRAMES,
            max_chunks=config.MAX_IMAGE_CHUNKS,
            max_header_chunks=config.MAX_HEADER_CHUNKS,
            max_jpeg_scans=config.MAX_JPEG_SCANS,
            max_compressed_chunks=config.MAX_COMPRESSED_CHUNKS,
            max_pixels=config.MAX_IMAGE_PIXELS,
        )


def current_limits() -> StructureLimits:
    """The limits of the running app, or else of the ``IMGSVC_*`` environment.

    For callers that are not handed the settings: the web app's upload check
    runs in a request (its config, overrides included); a worker is
    configured by the environment, which ``load_settings`` reads.
    """
    from flask import current_app, has_app_context

    from imgsvc.config import load_settings

    settings = current_app.config if has_app_context() else load_settings()
    return StructureLimits.from_settings(settings)


def walk(data: bytes | memoryview, limits: StructureLimits, formats: Iterable[str]) -> int | None:
    """Walk ``data``'s structure within ``limits`` when it is one of ``formats``
    (Pillow's names); return its frame count when the walk counts frames (GIF
    and TIFF, where Pillow's count is unbounded; HEIF and AVIF, counted from
    the header's items), else None: the header's own
    count is then cheap to read (``header_frames``).

    Raises ``ImageTooLarge`` for more frames than ``limits.max_frames`` or
    more JPEG scans than ``limits.max_jpeg_scans``, ``InvalidImage`` for more
    chunks than a chunk cap or a structure that loops or points outside the file.
    A format outside ``formats`` is not walked: Pillow refuses it unread.
    """
    fmt = _format_of(bytes(data[:64]))
    allowed = {name.upper() for name in formats}
    if fmt in _ISO_MEDIA and allowed & _ISO_MEDIA:
        fmt = next(iter(allowed & _ISO_MEDIA))  # either reader may claim the other's file
    if fmt is None or fmt not in allowed:
        return None
    return _WALKERS[fmt](data, limits)


_ISO_MEDIA = {"HEIF", "AVIF"}
_WALKERS: dict[str, Callable[[Any, StructureLimits], int | None]] = {
    "TIFF": walkers.tiff,
    "GIF": walkers.gif,
    "PNG": walkers.png,
    "JPEG": walkers.jpeg,
    "WEBP": walkers.webp,
    "HEIF": isobmff.walk,
    "AVIF": isobmff.walk,
}


def _format_of(head: bytes) -> str | None:
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return isobmff.brand_format(head)


def header_frames(image: Image.Image, walked: int | None) -> int:
    """The frame count of an opened image: the walk's when it counted (Pillow's
    own count is unbounded there), else the header's. An MPO (a JPEG carrying
    depth or gain-map images) is one frame: only its first picture is used."""
    if walked is not None:
        return walked
    if image.format == "MPO":
        return 1
    return int(getattr(image, "n_frames", 1) or 1)
