"""Decoding: once per job, and no larger than the largest output needs.

JPEGs are decoded already scaled by libjpeg-turbo's DCT scaling, to the
smallest M/8 that is ``DECODE_MARGIN`` times the largest output. Pillow's
``draft()`` offers only 1/2, 1/4 and 1/8, so a 4000 px photo would be decoded
whole to make a 2048 px output; libjpeg-turbo scales by any M/8 (5/8 gives
2500 px), and resizing 2500 → 2048 instead of 4000 → 2048 is most of the
saving. simplejpeg reaches that scaling; everything after the decode is Pillow.
Colour JPEGs come out of it as RGBX, Pillow's own memory layout for RGB, so
the decoded array becomes an image without a copy (RGB would have to be
repacked); ``planes`` reads RGBX as it is.
Without simplejpeg, or for JPEGs it should not take (CMYK, unreadable), the
pure-Pillow path (``draft`` + ``load``) does the same job more slowly.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, replace

from PIL import Image

from imgsvc.errors import ImageTooLarge, ImgsvcError, InvalidImage
from imgsvc.imaging.colour import to_srgb
from imgsvc.imaging.nclx import nclx_to_srgb, needs_conversion, stated_nclx
from imgsvc.imaging.structure import StructureLimits, current_limits, header_frames, walk
from imgsvc.imaging.variants import VariantSpec

try:
    import simplejpeg
except ImportError:  # optional at run time: the Pillow path below covers every JPEG
    simplejpeg = None

TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# A scaled decode is at least this much larger than the largest output, so a
# Lanczos step follows it: used as the output itself (or nearly), DCT scaling's
# aliasing shows (SSIM against a resize of the full image dips below the 0.995
# goal without the margin; BENCHMARKS.md, bench). A 4000 px photo still decodes at 5/8.
DECODE_MARGIN = 1.2
# libjpeg-turbo has SIMD for the whole IDCT but not for 7/8's: that decode is
# slower than the whole image's, which outweighs the smaller resize (BENCHMARKS.md).
_WHOLE_ABOVE = 6 / 8
# Header modes simplejpeg decodes to the same pixels as Pillow (YCbCr/RGB and grey).
_SCALED_DECODE_MODES = {"RGB": "RGBX", "L": "GRAY"}


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Decoded:
    """The oriented sRGB source (L, RGB, RGBX or RGBA), the full oriented size,
    and the area of ``image`` that shows the whole picture.

    RGBX (from a scaled decode) is opaque RGB with a padding byte.

    ``image`` may be smaller than ``size`` (scaled decoding) but never smaller
    than any output needs; output sizes are computed from ``size``. ``area``
    is fractional after scaled decoding: the partial last 8x8 block decodes to
    a whole pixel (4095 px at 3/8 are 1535.625 px, stored as 1536).
    """

    image: Image.Image
    size: tuple[int, int]
    area: Box


def decode(
    data: bytes, specs: list[VariantSpec], allowed_formats: list[str], max_pixels: int
) -> Decoded:
    """Decode ``data`` for ``specs``: scaled when JPEG, oriented, in sRGB.

    Raises ``InvalidImage`` when the bytes cannot be decoded and
    ``ImageTooLarge`` when the image is over ``max_pixels``.
    """
    return decode_opened(data, open_image(data, allowed_formats, max_pixels), specs, max_pixels)


def decode_opened(
    data: bytes, image: Image.Image, specs: list[VariantSpec], max_pixels: int
) -> Decoded:
    """``decode`` for an image ``open_image`` has already read the header of."""
    width, height = image.size
    icc = image.info.get("icc_profile")
    fmt = image.format
    if image.format in ("JPEG", "MPO"):  # MPO: a JPEG with extra images
        orientation = orientation_of(image)
        needed = needed_decode_size(specs, image.size, swapped=orientation >= 5)
        scaled = _scaled_jpeg(data, image, needed)
        if scaled:
            image, scale = scaled
        else:
            scale = _draft(image, needed)
            image = _load(image, max_pixels)
        area = transpose_box((0, 0, width * scale, height * scale), image.size, orientation)
    else:
        image = _load(image, max_pixels)
        # Read after loading: Pillow's TIFF plugin applies the orientation itself
        # (its size is already oriented when opened) and drops the tag.
        orientation = orientation_of(image)
        area = transpose_box((0, 0, *image.size), image.size, orientation)
    if orientation >= 5:
        width, height = height, width
    if orientation != 1:
        image = image.transpose(TRANSPOSE[orientation])
    srgb = to_srgb(image, icc)
    if fmt in ("HEIF", "AVIF") and not icc:  # colour stated as code points, not a profile
        nclx = stated_nclx(data)
        if nclx is not None and needs_conversion(nclx):
            srgb = nclx_to_srgb(srgb, nclx)
    return Decoded(srgb, (width, height), area)


def too_many_pixels(max_pixels: int) -> ImageTooLarge:
    """The error for Pillow's bomb guard: it names our limit, not Pillow's."""
    return ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels:,} pixels.")


def open_image(
    data: bytes,
    allowed_formats: list[str],
    max_pixels: int,
    limits: StructureLimits | None = None,
) -> Image.Image:
    """Walk the structure within ``limits`` (as the upload check does), read the
    header only (allowed formats only) and check the pixel and frame counts.

    Without ``limits``, the settings of the environment (or the running app)
    are used: see ``structure.current_limits``. Raises ``InvalidImage`` or
    ``ImageTooLarge`` as ``decode`` does, and for what the walk refuses.
    """
    limits = replace(limits or current_limits(), max_pixels=max_pixels)
    formats = [f.upper() for f in allowed_formats]
    try:
        walked = walk(data, limits, formats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as exc:
        raise too_many_pixels(max_pixels) from exc
    except ImgsvcError:
        raise
    except Exception as exc:
        raise InvalidImage(f"The image could not be opened: {exc}") from exc
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageTooLarge(f"The image has {pixels:,} pixels; the limit is {max_pixels:,}.")
    frames = header_frames(image, walked)  # the header's count: read, not walked
    if frames > limits.max_frames:
        raise ImageTooLarge(f"The image has {frames} frames; the limit is {limits.max_frames}.")
    return image


def _load(image: Image.Image, max_pixels: int) -> Image.Image:
    try:
        if image.format != "HEIF":  # HEIF opens on its primary picture, not always the first
            image.seek(0)
        image.load()
    except Image.DecompressionBombError as exc:
        raise too_many_pixels(max_pixels) from exc
    except Exception as exc:
        raise InvalidImage(f"The image could not be decoded: {exc}") from exc
    return image


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened image; 1 when absent or unreadable."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not sink an otherwise good image
        return 1
    return value if value in TRANSPOSE else 1


def _needed_scale(specs: list[VariantSpec], width: int, height: int) -> float:
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


def needed_decode_size(
    specs: list[VariantSpec], stored: tuple[int, int], *, swapped: bool
) -> tuple[int, int]:
    """The smallest decoded size (in stored orientation) that serves every output:
    the stored size itself when a scaled decode would not pay."""
    width, height = stored
    scale = _needed_scale(specs, *((height, width) if swapped else (width, height)))
    scale = scale * DECODE_MARGIN
    if scale > _WHOLE_ABOVE:
        return width, height
    return math.ceil(width * scale), math.ceil(height * scale)


def transpose_box(box: Box, size: tuple[int, int], orientation: int) -> Box:
    """Where ``box`` of an image of ``size`` lands once the orientation is applied."""
    width, height = size
    left, top, right, bottom = box
    return {
        1: (left, top, right, bottom),
        2: (width - right, top, width - left, bottom),
        3: (width - right, height - bottom, width - left, height - top),
        4: (left, height - bottom, right, height - top),
        5: (top, left, bottom, right),
        6: (height - bottom, left, height - top, right),
        7: (height - bottom, width - right, height - top, width - left),
        8: (top, width - right, bottom, width - left),
    }[orientation]


def jpeg_eighths(size: tuple[int, int], needed: tuple[int, int]) -> int:
    """The smallest M (of M/8) at which libjpeg decodes ``size`` to at least ``needed``."""
    return next(
        m
        for m in range(1, 9)
        if all(s >= n for s, n in zip(scaled_size(size, m), needed, strict=True))
    )


def scaled_size(size: tuple[int, int], eighths: int) -> tuple[int, int]:
    """The size libjpeg decodes ``size`` to at ``eighths``/8 (a partial block is a pixel)."""
    width, height = size
    return math.ceil(width * eighths / 8), math.ceil(height * eighths / 8)


def _draft(image: Image.Image, needed: tuple[int, int]) -> float:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 when every output allows it; return the scale."""
    width = image.width
    drafted = image.draft("RGB" if image.mode == "YCbCr" else image.mode, needed)
    return drafted[1][2] / width if drafted else 1.0


def _scaled_jpeg(
    data: bytes, header: Image.Image, needed: tuple[int, int]
) -> tuple[Image.Image, float] | None:
    """Decode at the smallest M/8 covering ``needed``: the image and M/8, or None for Pillow.

    Only for the scales Pillow's draft cannot reach (3/8, 5/8, 6/8): at 1/8,
    1/4, 1/2 and whole, Pillow decodes as fast and saves simplejpeg's array and
    the copy out of it (BENCHMARKS.md, bench).
    """
    colorspace = _SCALED_DECODE_MODES.get(header.mode)
    if needed == header.size:
        return None
    eighths = jpeg_eighths(header.size, needed)
    if simplejpeg is None or colorspace is None or eighths in (1, 2, 4, 8):
        return None
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace=colorspace, min_width=needed[0], min_height=needed[1]
        )
    except (ValueError, RuntimeError):  # corrupt or unusual: Pillow decides (and reports)
        return None
    height, width = pixels.shape[:2]
    if (width, height) != scaled_size(header.size, eighths):
        return None  # not the scale we asked for: let Pillow do it
    if colorspace == "GRAY":
        return Image.frombuffer("L", (width, height), pixels), eighths / 8
    # RGBX has Pillow's own layout for RGB: the array is used as it is, not copied.
    return Image.frombuffer("RGBX", (width, height), pixels, "raw", "RGBX", 0, 1), eighths / 8
