"""SSIM (Wang et al. 2004) in numpy, to compare two renderings of one image.

Gaussian window (sigma 1.5, 11 taps), K1 = 0.01, K2 = 0.03, 8-bit range,
computed on luma (BT.601), mean over the valid region. Transparent images are
compared on premultiplied luma and on alpha, and the lower score counts, so
colours hidden under alpha 0 cannot make a difference.

Luma SSIM does not see colour, so ``chroma`` compares Cb and Cr as a 4:2:0
JPEG stores them (JFIF weights, then the mean of each 2x2 block): SSIM and
the mean absolute difference in levels of 255.

Shared by the benchmark and tests/imaging (scikit-image is not a dependency).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_RADIUS = 5
_SIGMA = 1.5
_LUMA = np.array([0.299, 0.587, 0.114])
_CHROMA = np.array([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _window() -> np.ndarray:
    taps = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    weights = np.exp(-(taps**2) / (2 * _SIGMA**2))
    return weights / weights.sum()


def _blur(planes: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter of a stack of planes, 'valid' region only."""
    weights = _window()
    rows = sliding_window_view(planes, len(weights), axis=-1) @ weights
    return sliding_window_view(rows, len(weights), axis=-2) @ weights


def ssim_planes(first: np.ndarray, second: np.ndarray) -> float:
    """Mean SSIM of two equally sized 2-D arrays of 0..255 values."""
    if first.shape != second.shape:
        raise ValueError(f"shapes differ: {first.shape} and {second.shape}")
    x, y = first.astype(np.float64), second.astype(np.float64)
    if min(x.shape) < 2 * _RADIUS + 1:
        return 1.0 if np.array_equal(x, y) else 0.0  # too small for the window
    mu_x, mu_y, xx, yy, xy = _blur(np.stack([x, y, x * x, y * y, x * y]))
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    denominator = (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    return float(np.mean(numerator / denominator))


def _planes(image: Image.Image) -> list[np.ndarray]:
    """Luma (premultiplied when there is alpha), then alpha if any."""
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    array = np.asarray(image).astype(np.float64)
    if image.mode == "L":
        return [array]
    luma = array[..., :3] @ _LUMA
    if image.mode == "RGB":
        return [luma]
    alpha = array[..., 3]
    return [luma * alpha / 255.0, alpha]


def ssim(first: Image.Image, second: Image.Image) -> float:
    """SSIM of two images of the same size (lower of luma and alpha when transparent)."""
    if first.size != second.size:
        raise ValueError(f"sizes differ: {first.size} and {second.size}")
    if "A" in first.getbands() or "A" in second.getbands():
        first, second = first.convert("RGBA"), second.convert("RGBA")
    planes = zip(_planes(first), _planes(second), strict=True)
    return min(ssim_planes(a, b) for a, b in planes)


def _chroma_planes(image: Image.Image) -> np.ndarray:
    """Cb and Cr (premultiplied when there is alpha), each 2x2 block averaged."""
    rgba = np.asarray(image.convert("RGBA")).astype(np.float64)
    rgb = rgba[..., :3] * (rgba[..., 3:] / 255.0)
    planes = np.moveaxis(rgb @ _CHROMA.T, -1, 0) + 128.0
    height, width = planes.shape[1:]
    planes = np.pad(planes, ((0, 0), (0, height % 2), (0, width % 2)), mode="edge")
    return planes.reshape(2, planes.shape[1] // 2, 2, planes.shape[2] // 2, 2).mean(axis=(2, 4))


def chroma(first: Image.Image, second: Image.Image) -> tuple[float, float]:
    """Colour of two images of the same size, as a 4:2:0 JPEG keeps it: the lower
    SSIM of Cb and Cr, and their mean absolute difference (levels of 255)."""
    if first.size != second.size:
        raise ValueError(f"sizes differ: {first.size} and {second.size}")
    a, b = _chroma_planes(first), _chroma_planes(second)
    score = min(ssim_planes(x, y) for x, y in zip(a, b, strict=True))
    return score, float(np.abs(a - b).mean())
