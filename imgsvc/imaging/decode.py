"""Decoding: once per job, and no larger than the largest output needs.

JPEGs are decoded already scaled by libjpeg-turbo's DCT scaling. Pillow's
``draft()`` offers only 1/2, 1/4 and 1/8, so a 4000 px photo would be decoded
whole to make a 2048 px output; libjpeg-turbo scales by any M/8 (5/8 gives
2500 px), and resizing 2500 → 2048 instead of 4000 → 2048 is most of the
saving. simplejpeg reaches that scaling; everything after the decode is Pillow.
Without simplejpeg, or for JPEGs it should not take (CMYK, unreadable), the
pure-Pillow path (``draft`` + ``load``) does the same job more slowly.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image

from imgsvc.errors import ImageTooLarge, InvalidImage
from imgsvc.imaging.colour import to_srgb
from imgsvc.imaging.variants import VariantSpec

try:
    import simplejpeg
except ImportError:  # optional at run time: the Pillow path below covers every JPEG
    simplejpeg = None

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Header modes simplejpeg decodes to the same pixels as Pillow (YCbCr/RGB and grey).
_SCALED_DECODE_MODES = {"RGB": "RGB", "L": "GRAY"}


@dataclass(frozen=True)
class Decoded:
    """The oriented sRGB source (L, RGB or RGBA) and the full oriented size.

    ``image`` may be smaller than ``size`` (scaled decoding) but never smaller
    than any output needs; output sizes are computed from ``size``.
    """

    image: Image.Image
    size: tuple[int, int]


def decode(
    data: bytes, specs: list[VariantSpec], allowed_formats: list[str], max_pixels: int
) -> Decoded:
    """Decode ``data`` for ``specs``: scaled when JPEG, oriented, in sRGB.

    Raises ``InvalidImage`` when the bytes cannot be decoded and
    ``ImageTooLarge`` when the image is over ``max_pixels``.
    """
    image = _open(data, allowed_formats, max_pixels)
    width, height = image.size
    icc = image.info.get("icc_profile")
    if image.format in ("JPEG", "MPO"):  # MPO: a JPEG with extra images
        orientation = _orientation(image)
        needed = _needed_decode_size(specs, image.size, swapped=orientation >= 5)
        image = _scaled_jpeg(data, image, needed) or _load(_draft(image, needed), max_pixels)
    else:
        image = _load(image, max_pixels)
        # Read after loading: Pillow's TIFF plugin applies the orientation itself
        # (its size is already oriented when opened) and drops the tag.
        orientation = _orientation(image)
    if orientation >= 5:
        width, height = height, width
    if orientation != 1:
        image = image.transpose(_TRANSPOSE[orientation])
    return Decoded(to_srgb(image, icc), (width, height))


def too_many_pixels(max_pixels: int) -> ImageTooLarge:
    """The error for Pillow's bomb guard: it names our limit, not Pillow's."""
    return ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels:,} pixels.")


def _open(data: bytes, allowed_formats: list[str], max_pixels: int) -> Image.Image:
    """Read the header only (allowed formats only) and check the pixel count."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[f.upper() for f in allowed_formats])
    except Image.DecompressionBombError as exc:
        raise too_many_pixels(max_pixels) from exc
    except Exception as exc:
        raise InvalidImage(f"The image could not be opened: {exc}") from exc
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageTooLarge(f"The image has {pixels:,} pixels; the limit is {max_pixels:,}.")
    return image


def _load(image: Image.Image, max_pixels: int) -> Image.Image:
    try:
        image.seek(0)
        image.load()
    except Image.DecompressionBombError as exc:
        raise too_many_pixels(max_pixels) from exc
    except Exception as exc:
        raise InvalidImage(f"The image could not be decoded: {exc}") from exc
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not sink an otherwise good image
        return 1
    return value if value in _TRANSPOSE else 1


def needed_scale(specs: list[VariantSpec], width: int, height: int) -> float:
    """The largest scale (output / source) any variant needs from an oriented source."""
    scale = 0.0
    for spec in specs:
        out_w, _out_h = spec.target_size(width, height)
        if spec.cover:
            box_h = spec.height or spec.width
            crop_w = min(width, height * spec.width / box_h)
            scale = max(scale, out_w / crop_w)
        else:
            scale = max(scale, out_w / width)
    return min(1.0, scale)


def _needed_decode_size(
    specs: list[VariantSpec], stored: tuple[int, int], *, swapped: bool
) -> tuple[int, int]:
    """The smallest decoded size (in stored orientation) that covers every output."""
    width, height = stored
    scale = needed_scale(specs, *((height, width) if swapped else (width, height)))
    return math.ceil(width * scale), math.ceil(height * scale)


def _draft(image: Image.Image, needed: tuple[int, int]) -> Image.Image:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when every output allows it."""
    image.draft("RGB" if image.mode == "YCbCr" else image.mode, needed)
    return image


def _scaled_jpeg(data: bytes, header: Image.Image, needed: tuple[int, int]) -> Image.Image | None:
    """Decode at the smallest M/8 scale covering ``needed``; None to use Pillow instead."""
    colorspace = _SCALED_DECODE_MODES.get(header.mode)
    if simplejpeg is None or colorspace is None:
        return None
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace=colorspace, min_width=needed[0], min_height=needed[1]
        )
    except (ValueError, RuntimeError):  # corrupt or unusual: Pillow decides (and reports)
        return None
    if pixels.shape[1] < needed[0] or pixels.shape[0] < needed[1]:
        return None
    height, width = pixels.shape[:2]
    return Image.frombuffer("L" if colorspace == "GRAY" else "RGB", (width, height), pixels)
