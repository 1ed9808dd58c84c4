"""4:2:0 JPEGs decoded straight to their stored planes (TurboJPEG), and when not.

The colours of these planes are checked in ``test_planes`` (both plane
sources) and, for every golden test, by the ``turbojpeg-planes`` decoder of
``conftest.jpeg_decoder``.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms

from imgsvc.errors import InvalidImage
from imgsvc.imaging import jpegplanes, parse_variants, planes, render_variants
from imgsvc.imaging.decode import open_image
from tests import factories
from tests.imaging import icc
from tests.support.ssim import ssim

SPECS = parse_variants("a:1501,box:99x51:cover,b:333")
ALLOWED = ["JPEG"]


def stored_planes(data: bytes, specs: str = "a:1501,box:99x51:cover,b:333") -> planes.Planes | None:
    return jpegplanes.decode_planes(data, open_image(data, ALLOWED, 10**8), parse_variants(specs))


def render(data: bytes, specs: str = "a:1501,box:99x51:cover,b:333") -> list[Image.Image]:
    variants = render_variants(
        data, parse_variants(specs), allowed_formats=ALLOWED, max_pixels=10**8
    )
    return [Image.open(io.BytesIO(variant.data)).convert("RGB") for variant in variants]


@pytest.fixture(scope="module")
def photo_3207() -> bytes:
    """7.7 MP, 4:2:0; its 5/8 decode (3 MP, odd sides) is over ``PLANES_MIN_PIXELS``."""
    return factories.encode(factories.photo(3207, 2405), "JPEG", quality=92)


def test_a_photo_is_decoded_to_its_planes_at_the_scale_its_outputs_need(
    photo_3207: bytes,
) -> None:
    # 1.2 x 1501 px needs 1802 of 3207: 5/8, 2004.375 x 1503.125 px, decoded to
    # 2005 x 1504; TurboJPEG pads 4:2:0 planes to even sides, the chroma is half.
    assert jpegplanes.preload()  # libturbojpeg0 is installed by scripts/bootstrap.sh
    stored = stored_planes(photo_3207)
    assert stored is not None
    assert (stored.luma.mode, stored.luma.size) == ("L", (2006, 1504))
    assert (stored.chroma.mode, stored.chroma.size) == ("La", (1003, 752))
    assert stored.size == (3207, 2405)
    assert stored.area == (0, 0, 2004.375, 1503.125)


def test_its_outputs_match_those_of_planes_split_from_an_rgb_decode(
    photo_3207: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = render(photo_3207)
    monkeypatch.setattr(jpegplanes, "turbojpeg", None)
    theirs = render(photo_3207)
    for mine, split in zip(ours, theirs, strict=True):
        assert mine.size == split.size
        assert ssim(mine, split) >= 0.998


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_puts_the_marked_corner_top_left(
    orientation: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planes, "PLANES_MIN_PIXELS", 0)
    monkeypatch.setattr(planes, "PLANES_MIN_WIDTH", 0)
    data = factories.marked_corner(1203, 901, orientation)  # shown 1203 x 901; odd: padded
    assert stored_planes(data, "a:1001") is not None
    for image in render(data, "a:1001,box:99x51:cover"):
        array = np.asarray(image).astype(int)
        height, width = array.shape[:2]
        if image.width == 1001:
            assert image.height == round(1001 * 901 / 1203)  # as shown, whatever the stored shape
        top_left = array[: height // 10, : width // 10].reshape(-1, 3).mean(axis=0)
        bottom_right = array[-height // 10 :, -width // 10 :].reshape(-1, 3).mean(axis=0)
        assert top_left[0] > 200 and top_left[1:].max() < 60, top_left
        assert bottom_right.min() > 230, bottom_right


def test_a_progressive_photo_is_decoded_to_planes_too(photo_3207: bytes) -> None:
    image = Image.open(io.BytesIO(photo_3207))
    data = factories.encode(image, "JPEG", quality=90, progressive=True)
    assert stored_planes(data) is not None


@pytest.mark.parametrize(
    "kind",
    ["4:4:4", "4:2:2", "icc profile", "grey", "cmyk", "small outputs", "small photo"],
)
def test_other_jpegs_are_left_to_the_rgb_decode(kind: str, photo_3207: bytes) -> None:
    image = Image.open(io.BytesIO(photo_3207)).convert("RGB")
    params: dict[str, object] = {"quality": 90}
    specs = "a:1501,b:333"
    if kind == "4:4:4":
        params["subsampling"] = 0
    elif kind == "4:2:2":
        params["subsampling"] = 1
    elif kind == "icc profile":  # other than sRGB: a colour conversion, done on RGB
        params["icc_profile"] = icc.display_p3_icc()
    elif kind == "grey":
        image = image.convert("L")
    elif kind == "cmyk":
        image = image.convert("CMYK")
    elif kind == "small outputs":
        specs = "b:333,c:640"
    else:
        image = image.resize((2405, 1803))  # 2.4 MP at 6/8: the fixed costs of planes win
    data = factories.encode(image, "JPEG", **params)
    assert stored_planes(data, specs) is None
    assert [output.width for output in render(data, specs)] == [
        spec.target_size(*image.size)[0] for spec in parse_variants(specs)
    ]


@pytest.mark.parametrize("profile", ["srgb v2", "littlecms srgb"])
def test_a_photo_tagged_srgb_takes_the_planes_path_with_the_untagged_outputs(
    profile: str, photo_3207: bytes
) -> None:
    """Many photos embed an sRGB profile: converting from it changes nothing."""
    srgb = (
        icc.srgb_icc()
        if profile == "srgb v2"
        else ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    )
    image = Image.open(io.BytesIO(photo_3207))
    untagged = factories.encode(image, "JPEG", quality=92)
    tagged = factories.encode(image, "JPEG", quality=92, icc_profile=srgb)
    assert Image.open(io.BytesIO(tagged)).info["icc_profile"] == srgb

    assert stored_planes(tagged) is not None
    for ours, plain in zip(render(tagged), render(untagged), strict=True):
        assert ours.tobytes() == plain.tobytes()


def test_a_truncated_photo_is_left_to_pillow_which_refuses_it(photo_3207: bytes) -> None:
    truncated = photo_3207[: len(photo_3207) * 3 // 4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # libjpeg's warning is not passed on
        assert stored_planes(truncated) is None
    with pytest.raises(InvalidImage):
        render(truncated)


def test_without_libturbojpeg_photos_take_the_rgb_decode(
    photo_3207: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing_library() -> None:
        raise OSError("Unable to locate turbojpeg library automatically.")

    jpegplanes._loaded_decoder.cache_clear()
    monkeypatch.setattr(jpegplanes.turbojpeg, "TurboJPEG", missing_library)
    try:
        assert jpegplanes.preload() is False  # the worker logs a warning at start
        assert stored_planes(photo_3207) is None
        assert [image.size for image in render(photo_3207)] == [(1501, 1126), (99, 51), (333, 250)]
    finally:
        jpegplanes._loaded_decoder.cache_clear()
