"""Colour: every decoded image ends as L, RGB (or RGBX) or RGBA with sRGB values.

ICC profiles are applied (Display P3, Adobe RGB, CMYK press profiles), CMYK
without a profile is converted naively, 16-bit and float greys are scaled to
8 bits, palette and colour-key transparency become real alpha, and an alpha
channel that is opaque everywhere is dropped (so the output can be a JPEG).
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms

_SRGB = ImageCms.createProfile("sRGB")
_DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("LA", "La", "PA", "RGBa")


def to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Return ``image`` as L, RGB or RGBA with sRGB colours and no metadata.

    ``icc`` is the embedded profile, if any. Images already in the right mode
    are returned as they are (no copy), RGBX too when there is no profile.
    """
    mode = image.mode
    if mode == "RGBX" and not icc:
        image.info = {}
        return image  # opaque sRGB as decoded: read as it is, not repacked
    if mode in _DEEP_MODES:
        image = _deep_to_l(image)
    elif mode == "P":
        has_alpha = "transparency" in image.info or image.palette.mode == "RGBA"
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode in _ALPHA_MODES or (mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")  # a tRNS colour key becomes real alpha
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "RGB", "RGBA", "CMYK"):
        image = image.convert("RGB")

    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        image = _apply_icc(image, icc)
    if image.mode == "CMYK":
        image = image.convert("RGB")
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")
    image.info = {}
    return image


def _apply_icc(image: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded profile to sRGB; keep the raw values if it is unreadable."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, profile, _SRGB, outputMode="RGBA" if image.mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted or image


def _deep_to_l(image: Image.Image) -> Image.Image:
    """Map 16-bit and float greys to 8 bits by scale, not by clipping."""
    if image.mode.startswith("I;16"):
        # The bit depth is known: a dark 16-bit image (all values <= 255) stays dark.
        return image.convert("I").point(lambda value: value * (255 / 65535)).convert("L")
    image = image.convert("I") if image.mode != "F" else image
    low, high = image.getextrema()
    if high <= 255 and low >= 0:
        return image.convert("L")
    top = 65535 if high <= 65535 else high
    factor = 255.0 / top
    return image.point(lambda value: value * factor).convert("L")
