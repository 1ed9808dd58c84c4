"""Colour: every decoded image ends as L, RGB (or RGBX) or RGBA with sRGB values.

ICC profiles are applied (Display P3, Adobe RGB, CMYK press profiles), CMYK
without a profile is converted naively, 16-bit and float greys are scaled to
8 bits, palette and colour-key transparency become real alpha, and an alpha
channel that is opaque everywhere is dropped (so the output can be a JPEG).
"""

from __future__ import annotations

import hashlib
import io
from typing import cast

from PIL import Image, ImageChops, ImageCms

_SRGB = ImageCms.createProfile("sRGB")
_DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("LA", "La", "PA", "RGBa")


def to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Return ``image`` as L, RGB or RGBA with sRGB colours and no metadata.

    ``icc`` is the embedded profile, if any. Images already in the right mode
    are returned as they are (no copy), RGBX too when there is no profile.
    """
    mode = image.mode
    if icc and is_srgb(icc):
        icc = None  # an sRGB profile: the values are sRGB already
    if mode == "RGBX" and not icc:
        image.info = {}
        return image  # opaque sRGB as decoded: read as it is, not repacked
    if mode in _DEEP_MODES:
        image = _deep_to_l(image)
    elif mode == "P":
        palette = image.palette
        has_alpha = "transparency" in image.info or (palette is not None and palette.mode == "RGBA")
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


def _srgb_probe() -> Image.Image:
    """Every 17th level of each channel combined (4,096 colours), then every grey."""
    levels = range(0, 256, 17)
    colours = [(r, g, b) for r in levels for g in levels for b in levels]
    colours += [(v, v, v) for v in range(256)]
    probe = Image.new("RGB", (len(colours), 1))
    probe.putdata(colours)
    return probe


_PROBE = _srgb_probe()


# sha256 of a profile -> is_srgb: digests, not profiles (one may be megabytes).
_SRGB_VERDICTS: dict[bytes, bool] = {}
_SRGB_VERDICTS_KEPT = 64


def is_srgb(icc: bytes) -> bool:
    """Whether converting from the profile ``icc`` to sRGB moves no 8-bit value of
    any colour by more than one: an sRGB profile, whatever its name or encoding.

    Many photos embed one (``sRGB IEC61966-2.1``). Their conversion, a no-op,
    was a large share of a photo's job, and a JPEG with any other profile cannot
    take the planes decode (``jpegplanes``). The verdict costs a few
    milliseconds, so it is kept per profile (figures in BENCHMARKS.md, bench).
    """
    key = hashlib.sha256(icc).digest()
    verdict = _SRGB_VERDICTS.get(key)
    if verdict is None:
        verdict = _converts_to_itself(icc)
        if len(_SRGB_VERDICTS) >= _SRGB_VERDICTS_KEPT:
            _SRGB_VERDICTS.clear()
        _SRGB_VERDICTS[key] = verdict
    return verdict


def _converts_to_itself(icc: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(_PROBE, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False  # unreadable, or not an RGB profile (grey, CMYK)
    if converted is None or converted.size != _PROBE.size:
        return False
    difference = ImageChops.difference(converted, _PROBE)
    bands = cast("tuple[tuple[int, int], ...]", difference.getextrema())  # RGB: a pair per band
    return max(high for _, high in bands) <= 1


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
    low, high = cast("tuple[float, float]", image.getextrema())  # one band: one pair
    if high <= 255 and low >= 0:
        return image.convert("L")
    top = 65535 if high <= 65535 else high
    factor = 255.0 / top
    return image.point(lambda value: value * factor).convert("L")
