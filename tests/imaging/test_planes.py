"""Opaque photos resized as YCbCr planes (chroma at 4:2:0) keep their colours,
whether the planes are split from an RGB decode or decoded as the JPEG stores them.

Luma SSIM (``test_fidelity``) cannot see a colour error, so these compare Cb
and Cr, as a 4:2:0 JPEG keeps them, with a plain RGB Lanczos resize of the
whole image: the colours of every output, their mean (no drift of a level
bluer or redder), the last row and column of odd sizes, and the JPEG files.
Outputs narrower than ``PLANES_MIN_WIDTH`` are YCbCr too, resized whole (all three
bands) from a large one.
"""

from __future__ import annotations

import io
import weakref
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from imgsvc.imaging import jpegplanes, parse_variants, planes, render_variants
from imgsvc.imaging.decode import decode, decode_opened, open_image
from imgsvc.imaging.pipeline import prepare, resize_prepared
from imgsvc.imaging.planes import PLANES_MIN_WIDTH
from tests import factories
from tests.support.images import photo
from tests.support.ssim import _chroma_planes, chroma

# Odd widths and heights, crops, and the whole image (no resize at all).
SPECS = parse_variants("a:1501,wide:1100x551:cover,b:333,c:77,box:99x51:cover,whole:2405")
# Mean |Cb, Cr difference| allowed (of 255): more for the planes (their chroma is
# softer) than for the small outputs resized whole from them, each with a margin
# over what the planes give today.
LARGE_TOLERANCE, SMALL_TOLERANCE = 1.2, 0.5


@pytest.fixture(autouse=True)
def planes_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small test images take the plane path too (it starts at 3 MP by default)."""
    monkeypatch.setattr(planes, "PLANES_MIN_PIXELS", 0)


def colourful_photo(width: int = 2405, height: int = 1803) -> bytes:
    """A photo-like JPEG with its saturation doubled: strong colour edges."""
    image = ImageEnhance.Color(photo(width, height, seed=9)).enhance(2.0)
    return factories.encode(image, "JPEG", quality=95)


def reference(data: bytes, spec_name: str) -> Image.Image:
    """The output as plain Pillow makes it: RGB Lanczos from the whole image."""
    shown = Image.open(io.BytesIO(data)).convert("RGB")
    spec = next(s for s in SPECS if s.name == spec_name)
    size = spec.target_size(*shown.size)
    if spec.cover:
        return ImageOps.fit(shown, size, Image.Resampling.LANCZOS)
    return shown.resize(size, Image.Resampling.LANCZOS)


class Rendered(NamedTuple):
    planes: str  # SPLIT or STORED
    data: bytes
    outputs: dict[str, Image.Image]


SPLIT, STORED = "split from RGB", "decoded as stored"


@pytest.fixture(scope="module", params=[SPLIT, STORED])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    """The outputs of planes split from an RGB decode, or decoded as the JPEG
    stores them (``jpegplanes``): both must keep the colours."""
    data = colourful_photo()
    if request.param == SPLIT:
        source = decode(data, SPECS, ["JPEG"], 10**8)
        outputs = resize_prepared(prepare(source, SPECS), SPECS)
    else:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(planes, "PLANES_MIN_PIXELS", 0)
            stored = jpegplanes.decode_planes(data, open_image(data, ["JPEG"], 10**8), SPECS)
        assert stored is not None
        outputs = resize_prepared(stored, SPECS)
    return Rendered(request.param, data, {spec.name: image for spec, image in outputs})


def test_opaque_photos_are_resized_as_ycbcr_planes(
    rendered: Rendered,
) -> None:
    data, outputs = rendered.data, rendered.outputs
    for name, image in outputs.items():
        assert image.size == reference(data, name).size
        assert image.mode == "YCbCr", name


@pytest.mark.parametrize("name", [spec.name for spec in SPECS if spec.name != "whole"])
def test_colours_match_a_plain_rgb_resize(rendered: Rendered, name: str) -> None:
    data, outputs = rendered.data, rendered.outputs
    ours, theirs = outputs[name].convert("RGB"), reference(data, name)
    score, mean_difference = chroma(ours, theirs)
    large = ours.width >= PLANES_MIN_WIDTH
    assert score >= 0.99, score
    assert mean_difference <= (LARGE_TOLERANCE if large else SMALL_TOLERANCE), mean_difference
    drift = (_chroma_planes(ours) - _chroma_planes(theirs)).mean(axis=(1, 2))
    assert np.abs(drift).max() <= 0.3, drift  # e.g. Pillow's truncating YCbCr: ~0.5


def test_an_unresized_output_keeps_the_colours_it_was_given(
    rendered: Rendered,
) -> None:
    """Planes split from RGB match Pillow's decode; planes decoded as stored are
    the file's own chroma, which Pillow's decode blurs (it upsamples it, and
    the encoder averages it back): compared with the stored planes themselves."""
    data, outputs = rendered.data, rendered.outputs
    ours = outputs["whole"]
    if rendered.planes == SPLIT:
        score, mean_difference = chroma(ours.convert("RGB"), reference(data, "whole"))
        assert score >= 0.995 and mean_difference <= SMALL_TOLERANCE, (score, mean_difference)
        return
    _y, cb, cr = jpegplanes._decoder().decode_to_yuv_planes(data)
    for band, stored in (("Cb", cb), ("Cr", cr)):
        doubled = np.asarray(ours.getchannel(band))[::2, ::2]
        assert np.array_equal(doubled, stored[: doubled.shape[0], : doubled.shape[1]]), band


def test_the_last_column_and_row_of_odd_sizes_keep_their_colour(
    rendered: Rendered,
) -> None:
    data, outputs = rendered.data, rendered.outputs
    for name in ("a", "wide"):  # 1501x1125 and 1100x551
        ours = _chroma_planes(outputs[name].convert("RGB"))
        theirs = _chroma_planes(reference(data, name))
        assert np.abs(ours[:, :, -1] - theirs[:, :, -1]).mean() <= 2 * LARGE_TOLERANCE, name
        assert np.abs(ours[:, -1, :] - theirs[:, -1, :]).mean() <= 2 * LARGE_TOLERANCE, name


def test_flat_colours_survive_the_jpeg_exactly_as_from_rgb() -> None:
    colours = [(200, 30, 40), (10, 200, 30), (28, 58, 92), (250, 250, 20), (90, 0, 200)]
    image = Image.new("RGB", (2500, 500))
    for index, colour in enumerate(colours):
        image.paste(colour, (index * 500, 0, index * 500 + 500, 500))
    data = factories.encode(image, "JPEG", quality=100, subsampling=0)
    variant = render_variants(
        data, parse_variants("a:1250"), allowed_formats=["JPEG"], max_pixels=10**8
    )[0]
    ours = np.asarray(Image.open(io.BytesIO(variant.data)).convert("RGB")).astype(int)
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).resize((1250, 250), Image.Resampling.LANCZOS).save(
        buffer, "JPEG", quality=85
    )
    theirs = np.asarray(Image.open(buffer).convert("RGB")).astype(int)
    for index in range(len(colours)):
        middle = (slice(100, 150), slice(index * 250 + 100, index * 250 + 150))
        assert np.abs(ours[middle] - theirs[middle]).max() <= 1, colours[index]


def test_an_unresized_small_photo_is_encoded_once_and_keeps_its_size() -> None:
    data = factories.encode(photo(1101, 801), "JPEG", quality=92)
    variants = render_variants(
        data, parse_variants("a:2048,b:1600,c:640"), allowed_formats=["JPEG"], max_pixels=10**8
    )
    assert variants[0].data == variants[1].data
    assert (variants[0].width, variants[0].height) == (1101, 801)
    assert (variants[2].width, variants[2].height) == (640, 466)


def test_the_decoded_photo_is_freed_before_the_resizes(monkeypatch: pytest.MonkeyPatch) -> None:
    from imgsvc.imaging import pipeline

    decoded: list[weakref.ref[Image.Image]] = []
    alive_at_resize: list[bool] = []

    def decode_and_watch(*args: object) -> object:
        source = decode_opened(*args)  # type: ignore[arg-type]
        decoded.append(weakref.ref(source.image))
        return source

    def resize_and_check(*args: object) -> object:
        alive_at_resize.append(decoded[0]() is not None)
        return planes.resize_planes(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(jpegplanes, "turbojpeg", None)  # planes split from the decoded photo
    monkeypatch.setattr(pipeline, "decode_opened", decode_and_watch)
    monkeypatch.setattr(pipeline, "resize_planes", resize_and_check)
    data = factories.encode(photo(1400, 1000), "JPEG", quality=90)
    render_variants(
        data, parse_variants("a:1100,b:300"), allowed_formats=["JPEG"], max_pixels=10**8
    )
    assert alive_at_resize == [False]
