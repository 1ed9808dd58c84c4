"""Colour from an ``nclx`` box (HEIF, AVIF): wide-gamut primaries to sRGB.

A HEIF or AVIF file may state its colour as code points (ISO/IEC 23091-2)
instead of an ICC profile: Android phones and AVIF encoders write Display P3
or BT.2020 that way. libheif and libavif turn YCbCr into RGB with the stated
matrix, but leave the values in the stated primaries; shown as sRGB they
look washed out. Here they are converted: each value to linear light, a 3×3
matrix from the stated primaries to sRGB's (both D65), clipped, and back.

The transfer curve is taken as sRGB's for every SDR code point (BT.709's
curve differs by little); PQ and HLG (HDR) are not tone-mapped, so an HDR
picture keeps its SDR code values. An ICC profile, when present, wins over
``nclx`` (``colour.to_srgb`` applies it), as browsers do.
"""

from __future__ import annotations

import struct

import numpy as np
from PIL import Image

from imgsvc.errors import ImgsvcError
from imgsvc.imaging.isobmff import Nclx, summarize
from imgsvc.imaging.structure import StructureLimits

_D65 = (0.3127, 0.3290)
# H.273 ColourPrimaries: red, green, blue chromaticities (D65 white for all three).
_PRIMARIES = {
    1: ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),  # BT.709 = sRGB
    9: ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),  # BT.2020
    12: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),  # Display P3 (SMPTE EG 432)
}
_LINEAR_TRANSFER = 8
_ROWS = 256
# Only for files that passed the configured walk already: no count limit refuses here.
_GENEROUS = StructureLimits(
    max_frames=1 << 30, max_chunks=1 << 30, max_header_chunks=1 << 30, max_pixels=None
)  # converted in strips: the float copies stay a few MB whatever the size


def _to_xyz(primaries: tuple[tuple[float, float], ...]) -> np.ndarray:
    """The RGB → XYZ matrix of ``primaries`` with a D65 white."""
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    wx, wy = _D65
    white = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return xyz * np.linalg.solve(xyz, white)


_XYZ_TO_SRGB = np.linalg.inv(_to_xyz(_PRIMARIES[1]))
_MATRICES = {code: _XYZ_TO_SRGB @ _to_xyz(p) for code, p in _PRIMARIES.items() if code != 1}
_DECODE_SRGB = np.array(
    [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in np.arange(256) / 255],
    dtype=np.float32,
)


def needs_conversion(nclx: Nclx | None) -> bool:
    """Whether ``nclx`` states primaries other than sRGB's that we convert from."""
    return nclx is not None and nclx.primaries in _MATRICES


def nclx_to_srgb(image: Image.Image, nclx: Nclx) -> Image.Image:
    """``image`` (RGB or RGBA, 8 bits, values in ``nclx``'s primaries) in sRGB.

    Returns ``image`` itself for primaries that need no conversion (BT.709,
    unspecified) or that are not known here (left as they are).
    """
    matrix = _MATRICES.get(nclx.primaries)
    if matrix is None or image.mode not in ("RGB", "RGBA"):
        return image
    pixels = np.asarray(image.convert("RGB"))
    out = np.empty_like(pixels)
    transposed = matrix.T.astype(np.float32)
    linear_in = nclx.transfer == _LINEAR_TRANSFER
    for top in range(0, pixels.shape[0], _ROWS):
        strip = pixels[top : top + _ROWS]
        light = strip.astype(np.float32) / 255 if linear_in else _DECODE_SRGB[strip]
        light = np.clip(light @ transposed, 0.0, 1.0)
        encoded = np.where(
            light <= 0.0031308, light * 12.92, 1.055 * np.power(light, 1 / 2.4) - 0.055
        )
        out[top : top + _ROWS] = np.rint(encoded * 255).astype(np.uint8)
    converted = Image.fromarray(out, "RGB")
    if image.mode == "RGBA":
        converted.putalpha(image.getchannel("A"))
    return converted


def stated_nclx(data: bytes) -> Nclx | None:
    """The primary picture's ``nclx`` of a HEIF/AVIF file, None when it states none.

    For a file the job's structure walk has already accepted; a header that
    cannot be read here is taken as stating nothing (the decoder reports it).
    """
    try:
        return summarize(data, _GENEROUS).nclx
    except (ImgsvcError, IndexError, struct.error):
        return None
