"""HEIF (HEIC) and AVIF files made by the libraries in the test, and edits of their boxes.

pillow-heif writes HEIC (libheif + x265, with EXIF orientation turned into
``irot``/``imir``, thumbnails, 10-bit planes and ``nclx`` code points);
Pillow writes AVIF (libavif). ``patch_box`` rewrites a field of a box in
place, for the hostile cases (a declared size past the limit, a count past
a cap) and for code points Pillow's writer does not offer.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pillow_heif
from PIL import Image

import imgsvc.imaging.formats  # noqa: F401  (registers the HEIF writer as the app does)
from tests import factories

MAKE, MODEL = "Apple", "iPhone 15 Pro"


def exif_bytes(orientation: int | None = None, camera: bool = False, gps: bool = False) -> bytes:
    exif = Image.Exif()
    if camera:
        exif[0x010F], exif[0x0110] = MAKE, MODEL
        exif[0x0132] = "2024:05:04 10:11:12"  # DateTime
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 22.0, 12.0), 3: "E", 4: (4.0, 53.0, 30.0)}
    return exif.tobytes()


def heic(image: Image.Image, **params: object) -> bytes:
    """``image`` as HEIC (quality 90 unless given)."""
    params.setdefault("quality", 90)
    return factories.encode(image, "HEIF", **params)


def avif(image: Image.Image, **params: object) -> bytes:
    """``image`` as AVIF (quality 90, speed 8 unless given)."""
    params.setdefault("quality", 90)
    params.setdefault("speed", 8)
    return factories.encode(image, "AVIF", **params)


def iphone_like(width: int = 640, height: int = 480, orientation: int = 6) -> bytes:
    """What an iPhone writes, in small: HEIC, EXIF with the camera and GPS, an
    orientation, an embedded thumbnail (never to be used as the picture)."""
    return heic(
        factories.photo(width, height, seed=5),
        exif=exif_bytes(orientation, camera=True, gps=True),
        thumbnails=[96],
    )


def heic_10bit(width: int = 320, height: int = 240) -> tuple[bytes, np.ndarray]:
    """A 10-bit HEIC of a photo, and the photo's 8-bit values (what it should decode to)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    # Smooth ramps: what a 10-bit file is for (no banding), and no noise for the codec to lose.
    source = np.stack([255 * x / (width - 1), 255 * y / (height - 1), 128 + 0 * x], axis=-1)
    source = np.rint(source).astype(np.uint8)
    deep = (source.astype("<u2") * 257) >> 6 << 6  # 10 significant bits, in 16
    heif = pillow_heif.from_bytes("RGB;16", (width, height), deep.astype("<u2").tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=95)
    return buffer.getvalue(), source


def multi_picture_heic(pictures: int) -> bytes:
    """A HEIF holding ``pictures`` top-level pictures (a burst)."""
    frames = [factories.photo(64, 48, seed=i) for i in range(pictures)]
    return heic(frames[0], save_all=True, append_images=frames[1:])


def find_box(data: bytes, kind: bytes, start: int = 0) -> int:
    """Where the first box of type ``kind`` starts (its size field), searched by bytes."""
    at = data.index(kind, start) - 4
    assert struct.unpack_from(">I", data, at)[0] >= 8
    return at


def patch_box(data: bytes, kind: bytes, offset: int, fmt: str, *values: int) -> bytes:
    """``data`` with ``values`` packed (``fmt``, big-endian) at ``offset`` bytes
    into the payload of the first ``kind`` box (offset 0: just past its type)."""
    at = find_box(data, kind) + 8 + offset
    patched = bytearray(data)
    struct.pack_into(">" + fmt, patched, at, *values)
    return bytes(patched)


def declared_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` whose first ``ispe`` (the primary's) declares ``width``×``height``."""
    return patch_box(data, b"ispe", 4, "II", width, height)


def with_primaries(data: bytes, primaries: int) -> bytes:
    """``data`` whose ``nclx`` box states ``primaries`` (H.273 code point)."""
    at = find_box(data, b"colr")
    assert data[at + 8 : at + 12] == b"nclx"
    return patch_box(data, b"colr", 4, "H", primaries)
