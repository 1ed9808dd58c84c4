"""Colour: which embedded profiles are sRGB already (no conversion needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageCms

from imgsvc.imaging import colour
from tests.imaging import icc

ADOBE_RGB_PRIMARIES = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))


def littlecms(name: str) -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile(name)).tobytes()


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        pytest.param(icc.srgb_icc, True, id="sRGB IEC61966-2.1 (v2, 1024-point curve)"),
        pytest.param(lambda: littlecms("sRGB"), True, id="sRGB (v4, parametric curve)"),
        pytest.param(
            lambda: icc.rgb_icc("sRGB, 256 points", icc.SRGB_PRIMARIES, icc.srgb_curve(256)),
            True,
            id="sRGB (v2, 256-point curve)",
        ),
        pytest.param(icc.display_p3_icc, False, id="Display P3"),
        pytest.param(
            lambda: icc.rgb_icc("Adobe RGB", ADOBE_RGB_PRIMARIES, icc.gamma_curve()),
            False,
            id="Adobe RGB",
        ),
        pytest.param(
            lambda: icc.rgb_icc("sRGB primaries, gamma 2.2", icc.SRGB_PRIMARIES, icc.gamma_curve()),
            False,
            id="sRGB primaries with a plain gamma",
        ),
        pytest.param(lambda: littlecms("LAB"), False, id="Lab"),
        pytest.param(lambda: b"not a profile" * 20, False, id="garbage"),
        pytest.param(lambda: b"", False, id="empty"),
    ],
)
def test_srgb_profiles_are_recognised_by_what_they_do(profile, expected: bool) -> None:
    assert colour.is_srgb(profile()) is expected


def test_an_srgb_tagged_image_keeps_its_values_without_a_conversion(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), "RGB")
    expected = image.tobytes()

    def no_conversion(*args: object) -> Image.Image:
        raise AssertionError("an sRGB profile was applied")

    monkeypatch.setattr(colour, "_apply_icc", no_conversion)
    result = colour.to_srgb(image, icc.srgb_icc())
    assert result.mode == "RGB" and result.tobytes() == expected
    assert "icc_profile" not in result.info


def test_any_other_profile_is_still_applied() -> None:
    image = Image.new("RGB", (4, 4), (200, 30, 40))
    converted = colour.to_srgb(image, icc.display_p3_icc())
    red, green, blue = converted.getpixel((0, 0))
    assert red > 200 and green < 30  # P3's red is more saturated than sRGB's
