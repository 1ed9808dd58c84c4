"""The benchmark's own inputs: photo-like images made with numpy and Pillow.

A real photo has detail at every scale, sharp edges and a little sensor noise;
a flat colour or pure white noise would flatter or punish a resizer unfairly.
So each image is smooth gradients + fractal texture (noise at every scale,
0.85x per octave) + hard-edged shapes and thin lines + Gaussian noise (sigma 3).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class BenchInput:
    """One input file of the benchmark."""

    name: str
    data: bytes
    width: int
    height: int
    format: str


def _fractal(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Fractal texture: noise added at every scale, coarse to fine, 0.85x per octave.

    Built by upsampling the sum so far 2x and adding the next octave's noise,
    so the cost is that of a few passes over the full image.
    """
    sizes = [(width, height)]
    while max(sizes[-1]) > 4:
        sizes.append((max(1, (sizes[-1][0] + 1) // 2), max(1, (sizes[-1][1] + 1) // 2)))
    planes = []
    for _channel in range(3):
        field = np.zeros((sizes[-1][1], sizes[-1][0]), np.float32)
        amplitude = 1.0
        for size in reversed(sizes):
            if field.shape != (size[1], size[0]):
                field = np.asarray(
                    Image.fromarray(field, "F").resize(size, Image.Resampling.BICUBIC)
                )
            field = field + amplitude * rng.standard_normal((size[1], size[0]), np.float32)
            amplitude *= 0.85
        planes.append(field)
    return np.stack(planes, axis=-1)


def photo(width: int, height: int, seed: int = 7) -> Image.Image:
    """An RGB image with the statistics of a photo (see the module docstring)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    rgb = np.empty((height, width, 3), np.float32)
    rgb[..., 0] = 60 + 140 * x
    rgb[..., 1] = 90 + 100 * y
    rgb[..., 2] = 150 - 60 * x * y
    rgb += 12 * _fractal(rng, width, height)
    rgb += 3 * rng.standard_normal((height, width, 3), np.float32)
    image = Image.fromarray(np.uint8(np.clip(rgb, 0, 255)), "RGB")
    draw = ImageDraw.Draw(image)
    scale = max(width, height)
    for _ in range(60):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(scale // 80, scale // 6))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x0 + size, y0 + size], fill=colour)
        else:
            draw.rectangle([x0, y0, x0 + size, y0 + size // 2], fill=colour)
    for _ in range(120):  # thin lines: detail near the outputs' resolution
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(-scale // 8, scale // 8)), y0 + int(rng.integers(-50, 50))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(1, 4)))
    return image


def with_alpha(image: Image.Image, seed: int = 11) -> Image.Image:
    """``image`` with a soft-edged alpha: shapes on full transparency, like a cut-out."""
    rng = np.random.default_rng(seed)
    width, height = image.size
    alpha = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(alpha)
    draw.ellipse([width // 8, height // 8, width * 7 // 8, height * 7 // 8], fill=255)
    for _ in range(20):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(width // 30, width // 8))
        draw.ellipse([x0, y0, x0 + size, y0 + size], fill=int(rng.integers(0, 256)))
    rgba = image.convert("RGBA")
    rgba.putalpha(alpha)
    return rgba


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg_input(name: str, width: int, height: int, seed: int = 7) -> BenchInput:
    """A photo-like JPEG as a camera writes it (quality 92, 4:2:0)."""
    data = _encode(photo(width, height, seed), "JPEG", quality=92)
    return BenchInput(name, data, width, height, "JPEG")


def _alpha_png() -> BenchInput:
    png = _encode(with_alpha(photo(2000, 1500, seed=3)), "PNG", compress_level=6)
    return BenchInput("png-alpha-3mp", png, 2000, 1500, "PNG")


def _cached(make: Callable[[], BenchInput], name: str, cache: Path | None) -> BenchInput:
    """``make()``, kept in ``cache`` under a name that changes whenever this file does."""
    if cache is None:
        return make()
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    path = cache / f"{name}-{version}"
    if path.exists():
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            return BenchInput(name, data, image.width, image.height, str(image.format))
    made = make()
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(made.data)
    return made


def make_inputs(cache: Path | None = None) -> list[BenchInput]:
    """The standard inputs: 12 MP and 24 MP JPEGs, a 3 MP PNG with alpha, a 1 MP JPEG."""
    makers: dict[str, Callable[[], BenchInput]] = {
        "jpeg-12mp": lambda: jpeg_input("jpeg-12mp", 4000, 3000),
        "jpeg-24mp": lambda: jpeg_input("jpeg-24mp", 6000, 4000, seed=8),
        "png-alpha-3mp": _alpha_png,
        "jpeg-1mp": lambda: jpeg_input("jpeg-1mp", 1200, 900, seed=9),
    }
    return [_cached(make, name, cache) for name, make in makers.items()]


def mega_jpeg(cache: Path | None = None) -> BenchInput:
    """A 50 MP JPEG (49,994,180 pixels: just under the default limit of 50,000,000)."""
    return _cached(_mega_jpeg, "jpeg-50mp", cache)


def _mega_jpeg(width: int = 8660, height: int = 5773) -> BenchInput:
    """Four tiles of one photo-like image: a quarter of the time to make, and
    memory use depends on the pixel count, not on the content."""
    tile = photo((width + 1) // 2, (height + 1) // 2, seed=5)
    image = Image.new("RGB", (width, height))
    for left in (0, tile.width):
        for top in (0, tile.height):
            image.paste(tile, (left, top))
    data = _encode(image, "JPEG", quality=92)
    return BenchInput("jpeg-50mp", data, width, height, "JPEG")
