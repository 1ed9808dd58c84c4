"""Variant specs: parsing the VARIANTS setting and the size each variant gets."""

from __future__ import annotations

import pytest

from imgsvc.config import Defaults
from imgsvc.imaging import VariantSpec, parse_variants


def test_default_spec_string() -> None:
    specs = parse_variants(Defaults.VARIANTS)
    assert specs == [
        VariantSpec("thumb", 200, 200, cover=True),
        VariantSpec("xs", 320),
        VariantSpec("sm", 640),
        VariantSpec("md", 1024),
        VariantSpec("lg", 1600),
        VariantSpec("xl", 2048),
    ]


def test_spaces_and_empty_items_are_ignored() -> None:
    assert parse_variants(" a:10 , ,b:20x30:cover,") == [
        VariantSpec("a", 10),
        VariantSpec("b", 20, 30, cover=True),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        " , ",
        "thumb",
        "thumb:",
        "thumb:abc",
        "thumb:-5",
        "thumb:0",
        "thumb:200x0:cover",
        "thumb:200:cover",
        "thumb:200x200:contain",
        "Thumb:200",
        "1x:200",
        "my-thumb:200",
        "thumb:200x",
        "thumb:200;xs:320",
    ],
)
def test_malformed_specs_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_variants(text)


@pytest.mark.parametrize("name", ["original", "manifest"])
def test_reserved_names_are_refused(name: str) -> None:
    # They would collide with images/<id>/original and images/<id>/manifest.json.
    with pytest.raises(ValueError):
        parse_variants(f"xs:320,{name}:640")


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError):
        parse_variants("xs:320,sm:640,xs:400")


@pytest.mark.parametrize(
    ("source", "width", "expected"),
    [
        ((4000, 3000), 320, (320, 240)),
        ((3000, 4000), 320, (320, 427)),
        ((500, 400), 1600, (500, 400)),  # never upscaled
        ((320, 99), 320, (320, 99)),
        ((10000, 300), 320, (320, 10)),
        ((10000, 10), 320, (320, 1)),  # never below one pixel
        ((1, 1), 2048, (1, 1)),
    ],
)
def test_width_bound_target_size(
    source: tuple[int, int], width: int, expected: tuple[int, int]
) -> None:
    assert VariantSpec("v", width).target_size(*source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ((4000, 3000), (200, 200)),
        ((10000, 300), (200, 200)),
        ((300, 10000), (200, 200)),
        ((150, 1000), (150, 150)),  # never upscaled: the crop is as large as the image allows
        ((1000, 120), (120, 120)),
        ((1, 1), (1, 1)),
    ],
)
def test_cover_target_size(source: tuple[int, int], expected: tuple[int, int]) -> None:
    assert VariantSpec("thumb", 200, 200, cover=True).target_size(*source) == expected


def test_cover_keeps_a_non_square_box_aspect() -> None:
    banner = VariantSpec("banner", 300, 100, cover=True)
    assert banner.target_size(4000, 3000) == (300, 100)
    assert banner.target_size(150, 1000) == (150, 50)
