"""Hand-built ICC v2 profiles (Display P3, sRGB) and the colour maths to check them.

The profiles are written byte by byte (header, tag table, desc/cprt/wtpt,
D50-adapted rXYZ/gXYZ/bXYZ and ``curv`` TRCs), so the tests do not depend on
any profile shipped with Pillow or the system, and the expected sRGB values
are computed here with numpy, independently of LittleCMS.
"""

from __future__ import annotations

import struct

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
D65_XY = (0.3127, 0.3290)
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
GAMMA_U8F8 = 563  # the curv gamma as stored: u8Fixed8Number 563/256 = 2.1992

_BRADFORD = np.array(
    [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ]
)


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(
    primaries: tuple[tuple[float, float], ...], white: tuple[float, float]
) -> np.ndarray:
    """The linear RGB → XYZ matrix of an RGB space (columns are the primaries)."""
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    scale = np.linalg.solve(columns, _xyz(white))
    return columns * scale


def bradford(source_white: np.ndarray, target_white: np.ndarray) -> np.ndarray:
    """Bradford chromatic adaptation matrix from one white point to another."""
    cone_src = _BRADFORD @ source_white
    cone_dst = _BRADFORD @ target_white
    return np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD


def _s15f16(value: float) -> int:
    return round(value * 65536)


def matrix_d50(primaries: tuple[tuple[float, float], ...]) -> np.ndarray:
    """RGB (D65 white) → XYZ (D50 PCS), quantised exactly as stored in a profile."""
    matrix = bradford(_xyz(D65_XY), D50) @ rgb_to_xyz(primaries, D65_XY)
    return np.vectorize(_s15f16)(matrix) / 65536


def p3_matrix_d50() -> np.ndarray:
    """Display P3 → XYZ (D50 PCS), quantised exactly as stored in the profile."""
    return matrix_d50(P3_PRIMARIES)


def gamma_curve(gamma_u8f8: int = GAMMA_U8F8) -> bytes:
    """A ``curv`` tag of one gamma value."""
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, gamma_u8f8) + b"\0\0"


def srgb_curve(points: int = 1024) -> bytes:
    """A ``curv`` tag sampling the sRGB transfer function, as ``sRGB IEC61966-2.1`` has."""
    x = np.linspace(0.0, 1.0, points)
    y = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return b"curv\0\0\0\0" + struct.pack(f">I{points}H", points, *np.round(y * 65535).astype(int))


def _tag_xyz(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + struct.pack(">3i", *(_s15f16(v) for v in xyz))


def _tag_desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)  # no Unicode description
        + struct.pack(">HB", 0, 0)
        + b"\0" * 67  # empty ScriptCode description
    )


def _tag_text(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def display_p3_icc() -> bytes:
    """An ICC v2 display profile: P3 primaries, D65 white, gamma 563/256 TRCs."""
    return rgb_icc("Test Display P3 (gamma 2.2)", P3_PRIMARIES, gamma_curve())


def srgb_icc() -> bytes:
    """sRGB as most photos embed it: v2, sRGB primaries, a 1024-point sRGB curve."""
    return rgb_icc("Test sRGB IEC61966-2.1", SRGB_PRIMARIES, srgb_curve())


def rgb_icc(description: str, primaries: tuple[tuple[float, float], ...], curve: bytes) -> bytes:
    """An ICC v2 RGB display profile of ``primaries`` (D65 white) and one TRC."""
    matrix = matrix_d50(primaries)
    tags = [
        (b"desc", _tag_desc(description)),
        (b"cprt", _tag_text("No copyright, test data")),
        (b"wtpt", _tag_xyz(D50)),
        (b"rXYZ", _tag_xyz(matrix[:, 0])),
        (b"gXYZ", _tag_xyz(matrix[:, 1])),
        (b"bXYZ", _tag_xyz(matrix[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)  # tag data starts on 4-byte boundaries
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"none"  # preferred CMM
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 4  # platform
        + struct.pack(">I", 0)  # flags
        + b"\0" * 8  # manufacturer, model
        + b"\0" * 8  # attributes
        + struct.pack(">I", 0)  # perceptual intent
        + struct.pack(">3i", *(_s15f16(v) for v in D50))
        + b"\0" * 4  # creator
        + b"\0" * 16  # profile ID
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def p3_to_srgb(rgb: tuple[int, int, int]) -> np.ndarray:
    """The sRGB (0..255, float) of an 8-bit colour in the profile above."""
    linear = (np.array(rgb) / 255.0) ** (GAMMA_U8F8 / 256)
    xyz_d50 = p3_matrix_d50() @ linear
    xyz_d65 = bradford(D50, _xyz(D65_XY)) @ xyz_d50
    srgb_linear = np.linalg.solve(rgb_to_xyz(SRGB_PRIMARIES, D65_XY), xyz_d65)
    srgb_linear = np.clip(srgb_linear, 0.0, 1.0)
    encoded = np.where(
        srgb_linear <= 0.0031308,
        12.92 * srgb_linear,
        1.055 * srgb_linear ** (1 / 2.4) - 0.055,
    )
    return encoded * 255
