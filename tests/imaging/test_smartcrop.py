"""Cover crops keep the subject: the upload's focal point, or the automatic choice.

Each image is made here: a plain background with one clearly placed subject
off centre (a face-like blob, a line of text, a patch of fine detail); the
test asserts that the thumbnail shows it, and that the centred crop would not.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgsvc.config import Defaults, csv_list
from imgsvc.errors import InvalidFocus
from imgsvc.imaging import parse_variants, render_image
from imgsvc.imaging.resize import crop_box
from imgsvc.imaging.smartcrop import crop_identity, parse_crop, parse_focus
from imgsvc.imaging.variants import VariantSpec
from tests.imaging.subjects import (
    busy_share,
    dark_share,
    encode,
    skin_share,
    with_detail,
    with_face,
    with_text,
)

ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)


def thumb(data: bytes, **kwargs: object) -> np.ndarray:
    rendering = render_image(
        data,
        parse_variants("thumb:200x200:cover,sm:640"),
        allowed_formats=ALLOWED,
        max_pixels=Defaults.MAX_IMAGE_PIXELS,
        **kwargs,  # type: ignore[arg-type]
    )
    variant = rendering.variants[0]
    assert (variant.name, variant.width, variant.height) == ("thumb", 200, 200)
    return np.asarray(Image.open(io.BytesIO(variant.data)).convert("RGB")).astype(np.int32)


def test_face_left_of_centre_is_kept_by_the_smart_crop() -> None:
    data = with_face((1600, 800), (180, 400))  # the centred 800×800 crop starts at x=400
    assert skin_share(thumb(data, crop="centre")) == 0
    kept = thumb(data)
    assert skin_share(kept) > 0.035  # the face whole fills about 0.045 of the thumbnail
    assert dark_share(kept) > 0.0005  # the eyes and mouth too, not only a skin edge


def test_face_low_in_a_portrait_is_kept() -> None:
    data = with_face((600, 1500), (300, 1300))
    assert skin_share(thumb(data, crop="centre")) == 0
    assert skin_share(thumb(data)) > 0.03


def test_text_on_the_right_is_kept() -> None:
    data = with_text((1500, 600), (1240, 250))
    assert dark_share(thumb(data, crop="centre"), 200) == 0
    assert dark_share(thumb(data), 200) > 0.01  # thin strokes, grey once reduced


def test_detailed_object_at_the_top_is_kept() -> None:
    data = with_detail((500, 1400), (150, 40, 350, 240))
    assert busy_share(thumb(data, crop="centre")) == 0
    assert busy_share(thumb(data)) > 0.14  # the patch whole fills 0.16 of the thumbnail


def test_uniform_picture_keeps_the_centre() -> None:
    rng = np.random.default_rng(9)
    noise = rng.normal(128, 20, (600, 1200, 3)).clip(0, 255).astype(np.uint8)
    data = encode(Image.fromarray(noise, "RGB"))
    assert np.abs(thumb(data) - thumb(data, crop="centre")).mean() < 1


def test_the_uploads_focal_point_wins() -> None:
    # A face on the left, but the uploader points at the right edge.
    data = with_face((1600, 800), (180, 400))
    pointed = thumb(data, focus=(0.95, 0.5))
    assert skin_share(pointed) == 0
    right_edge = thumb(with_face((1600, 800), (1420, 400)), focus=(0.95, 0.5))
    assert skin_share(right_edge) > 0.03


@pytest.mark.parametrize(
    ("focus", "expected"),
    [
        ((0.5, 0.5), (400.0, 0.0, 1200.0, 800.0)),
        ((0.0, 0.5), (0.0, 0.0, 800.0, 800.0)),  # clamped to the image
        ((1.0, 0.0), (800.0, 0.0, 1600.0, 800.0)),
        ((0.4, 0.9), (240.0, 0.0, 1040.0, 800.0)),
    ],
)
def test_crop_box_centres_on_the_focus_as_far_as_the_image_allows(focus, expected) -> None:
    spec = VariantSpec("thumb", 200, 200, cover=True).with_focus(focus)
    assert crop_box(spec, 1600, 800) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.25,0.75", (0.25, 0.75)),
        (" 0 , 1 ", (0.0, 1.0)),
        ("", None),
        (None, None),
        ([0.25, 0.75], (0.25, 0.75)),  # JSON bodies
        ((1, 0), (1.0, 0.0)),
        ("0.12345,0.9999", (0.123, 1.0)),  # kept to FOCUS_DECIMALS
    ],
)
def test_focus_is_parsed(text, expected) -> None:
    assert parse_focus(text) == expected


@pytest.mark.parametrize(
    "text",
    ["0.5", "1.2,0.5", "-0.1,0.5", "a,b", "0.1,0.2,0.3", "nan,0.5"]
    + [[0.5], [True, 0.5], ["0.1", None], {"x": 0.1}, 0.5],  # type: ignore[list-item]
)
def test_malformed_focus_is_refused(text: object) -> None:
    with pytest.raises(InvalidFocus, match="0 to 1") as caught:
        parse_focus(text)
    assert (caught.value.code, caught.value.status) == ("invalid_focus", 400)


def test_the_crop_identity_names_the_focal_point_else_the_crop_setting() -> None:
    assert crop_identity((0.1, 0.5), "smart") == "focus=0.100,0.500"
    assert crop_identity((0.1, 0.5), "centre") == "focus=0.100,0.500"
    assert crop_identity(None, "Center") == "centre"
    assert crop_identity(None, "smart") == "smart"


def test_crop_modes_are_parsed() -> None:
    assert [parse_crop(t) for t in ("smart", "centre", "CENTER")] == ["smart", "centre", "centre"]
    with pytest.raises(ValueError):
        parse_crop("faces")
