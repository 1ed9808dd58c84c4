"""Placeholders a page can paint before the image arrives: a BlurHash and a colour.

Both come from the smallest output, shrunk to 32 px: about a millisecond, and
no second decode. Transparent images are composited on white first,
the background a page most often has. The BlurHash encoder follows the
reference implementation (https://github.com/woltapp/blurhash), so any
BlurHash decoder (JavaScript, Swift, Kotlin) paints it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_SAMPLE_WIDTH = 32
# Dominant colour buckets: 3 bits per channel (512 buckets) is coarse enough that
# a photo's noise does not split one colour into many.
_BUCKET_BITS = 3


@dataclass(frozen=True)
class Placeholder:
    """A BlurHash string and the dominant colour as ``#rrggbb``."""

    blurhash: str
    color: str

    def to_dict(self) -> dict[str, str]:
        return {"blurhash": self.blurhash, "color": self.color}


def make_placeholder(image: Image.Image) -> Placeholder:
    """The placeholder of ``image`` (any size; it is shrunk to 32 px first)."""
    sample = _sample(image)
    return Placeholder(blurhash(sample), dominant_colour(sample))


def _sample(image: Image.Image) -> np.ndarray:
    """``image`` about 32 px wide, opaque RGB (on white), as a float array."""
    width = min(_SAMPLE_WIDTH, image.width)
    height = max(1, round(image.height * width / image.width))
    small = image.resize((width, height), Image.Resampling.BOX)
    if small.mode in ("RGBA", "LA", "La", "RGBa", "PA", "P"):
        small = small.convert("RGBA")
        opaque = Image.new("RGBA", small.size, (255, 255, 255, 255))
        small = Image.alpha_composite(opaque, small)
    return np.asarray(small.convert("RGB"), dtype=np.float64)


def _components(width: int, height: int) -> tuple[int, int]:
    """4 components along the long side, 3 along the short one."""
    return (4, 3) if width >= height else (3, 4)


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    value = srgb / 255.0
    return np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4)


def _to_srgb_byte(linear: float) -> int:
    value = min(1.0, max(0.0, linear))
    if value <= 0.0031308:
        return int(value * 12.92 * 255 + 0.5)
    return int((1.055 * value ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - i)) % 83] for i in range(length))


def blurhash(pixels: np.ndarray) -> str:
    """BlurHash of an RGB array (height × width × 3, values 0..255)."""
    height, width = pixels.shape[:2]
    count_x, count_y = _components(width, height)
    linear = _to_linear(pixels)
    basis_x = np.cos(np.pi * np.outer(np.arange(count_x), np.arange(width)) / width)
    basis_y = np.cos(np.pi * np.outer(np.arange(count_y), np.arange(height)) / height)
    factors = np.einsum("jy,ix,yxc->jic", basis_y, basis_x, linear) / (width * height)
    factors[1:] *= 2  # every component but the average (DC) is normalised by 2
    factors[0, 1:] *= 2
    flat = factors.reshape(-1, 3)
    dc, ac = flat[0], flat[1:]

    text = _base83((count_x - 1) + (count_y - 1) * 9, 1)
    quantised_max = int(max(0, min(82, np.floor(np.abs(ac).max() * 166 - 0.5))))
    maximum = (quantised_max + 1) / 166
    text += _base83(quantised_max, 1)
    text += _base83(
        (_to_srgb_byte(dc[0]) << 16) + (_to_srgb_byte(dc[1]) << 8) + _to_srgb_byte(dc[2]), 4
    )
    scaled = np.sign(ac) * np.sqrt(np.abs(ac / maximum))
    quantised = np.clip(np.floor(scaled * 9 + 9.5), 0, 18).astype(int)
    for red, green, blue in quantised:
        text += _base83(int(red) * 19 * 19 + int(green) * 19 + int(blue), 2)
    return text


def dominant_colour(pixels: np.ndarray) -> str:
    """The mean colour of the most common colour bucket, as ``#rrggbb``."""
    rgb = pixels.reshape(-1, 3)
    levels = rgb.astype(np.int64) >> (8 - _BUCKET_BITS)
    buckets = (levels[:, 0] << (2 * _BUCKET_BITS)) | (levels[:, 1] << _BUCKET_BITS) | levels[:, 2]
    winner = np.bincount(buckets).argmax()
    red, green, blue = (int(round(v)) for v in rgb[buckets == winner].mean(axis=0))
    return f"#{red:02x}{green:02x}{blue:02x}"
