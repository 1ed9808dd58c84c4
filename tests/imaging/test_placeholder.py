"""Placeholders: a BlurHash any decoder can paint, and the dominant colour."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from imgsvc.config import Defaults, csv_list
from imgsvc.imaging import parse_variants, render_image
from imgsvc.imaging.placeholder import blurhash, dominant_colour, make_placeholder
from tests import factories

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def reference_pixels() -> np.ndarray:
    """A fixed 32x24 image: two ramps and a red block."""
    y, x = np.mgrid[0:24, 0:32]
    pixels = np.stack([x * 8, y * 10, 255 - x * 4 - y * 3], -1).astype(np.uint8)
    pixels[5:12, 6:20] = (250, 30, 40)
    return pixels


def decode83(text: str) -> int:
    value = 0
    for char in text:
        value = value * 83 + _BASE83.index(char)
    return value


def average_colour(hash_: str) -> tuple[int, int, int]:
    """The colour a BlurHash decoder paints as the image's average (its DC term)."""
    value = decode83(hash_[2:6])
    return value >> 16, (value >> 8) & 255, value & 255


def test_blurhash_matches_the_reference_implementation() -> None:
    # Expected strings from the reference encoder (the `blurhash` package on PyPI)
    # run on the same pixels: 4x3 components for landscape, 3x4 for portrait.
    pixels = reference_pixels().astype(np.float64)
    assert blurhash(pixels) == "LpJjMo2yXBK7*YnmOFS6KiShs9s9"
    assert blurhash(pixels.transpose(1, 0, 2)) == "TpJjMo*YKi2ynmShXBOFs9K7S6s9"


def test_blurhash_of_a_flat_image_paints_its_colour() -> None:
    pixels = np.full((20, 30, 3), (30, 120, 200), np.float64)
    hash_ = blurhash(pixels)
    assert len(hash_) == 4 + 2 + 2 * (4 * 3 - 1)
    assert average_colour(hash_) == (30, 120, 200)


def test_dominant_colour_is_the_largest_area_not_the_average() -> None:
    image = Image.new("RGB", (100, 100), (20, 40, 200))
    ImageDraw.Draw(image).rectangle([0, 0, 29, 99], fill=(230, 20, 20))  # 30 % red
    assert make_placeholder(image).color == "#1428c8"
    assert dominant_colour(np.asarray(image, np.float64)) == "#1428c8"


def test_transparent_areas_count_as_white() -> None:
    image = Image.new("RGBA", (100, 60), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle([0, 0, 19, 59], fill=(0, 0, 0, 255))
    placeholder = make_placeholder(image)
    assert placeholder.color == "#ffffff"
    red, green, blue = average_colour(placeholder.blurhash)
    assert min(red, green, blue) > 150  # mostly white, a fifth black (in linear light)


def test_render_image_gives_the_placeholder_of_the_whole_picture() -> None:
    image = Image.new("RGB", (800, 600), (200, 30, 30))
    ImageDraw.Draw(image).rectangle([0, 0, 799, 99], fill=(20, 20, 220))  # a blue top band
    rendering = render_image(
        factories.encode(image, "PNG"),
        parse_variants(Defaults.VARIANTS),
        allowed_formats=csv_list(Defaults.ALLOWED_FORMATS),
        max_pixels=Defaults.MAX_IMAGE_PIXELS,
    )
    placeholder = rendering.placeholder
    red, green, blue = (int(placeholder.color[i : i + 2], 16) for i in (1, 3, 5))
    assert abs(red - 200) <= 3 and abs(green - 30) <= 3 and abs(blue - 30) <= 3
    assert placeholder.blurhash.startswith("L")  # landscape: 4x3 components
    # The top band shows in the hash: the first vertical component is not flat.
    assert placeholder.blurhash != blurhash(np.full((24, 32, 3), (200, 30, 30), np.float64))
    assert placeholder.to_dict() == {"blurhash": placeholder.blurhash, "color": placeholder.color}
