"""The fast pipeline against the naive reference: same sizes, same picture.

The reference is the benchmark's naive Pillow (whole decode, Lanczos from the
full image for every output). Pixels are compared before encoding, by SSIM,
so that q85 noise (the same on both sides) does not hide differences.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from imgsvc.imaging import VariantSpec, parse_variants, render_variants
from imgsvc.imaging.decode import decode
from imgsvc.imaging.pipeline import decode_start, resize_prepared
from tests import factories
from tests.support.images import photo, with_alpha
from tests.support.ssim import ssim
from tests.support.strategies import ALLOWED, MAX_PIXELS, SPECS, STRATEGIES

SSIM_FLOOR = 0.995


def naive(data: bytes) -> dict[str, Image.Image]:
    _setup, _job, pixels = STRATEGIES["naive"]
    return pixels(data)


def ours(data: bytes) -> dict[str, Image.Image]:
    _setup, _job, pixels = STRATEGIES["imgsvc"]
    return pixels(data)


def render_pixels(data: bytes, specs: list[VariantSpec]) -> list[tuple[str, Image.Image]]:
    start = decode_start(data, specs, ALLOWED, MAX_PIXELS)
    return [
        (spec.name, image.convert("RGB") if image.mode == "YCbCr" else image)
        for spec, image in resize_prepared(start, specs)
    ]


@pytest.fixture(scope="module")
def camera_jpeg() -> bytes:
    """A photo-like 12 MP JPEG, as a camera writes it: decoded at 5/8 by libjpeg-turbo."""
    return factories.encode(photo(4000, 3000), "JPEG", quality=92)


@pytest.mark.usefixtures("jpeg_decoder")
def test_twelve_megapixel_jpeg_matches_the_naive_reference(camera_jpeg: bytes) -> None:
    reference, fast = naive(camera_jpeg), ours(camera_jpeg)
    assert {n: i.size for n, i in fast.items()} == {n: i.size for n, i in reference.items()}
    scores = {name: ssim(fast[name], reference[name]) for name in reference}
    assert min(scores.values()) >= SSIM_FLOOR, scores


@pytest.mark.parametrize(
    ("stored", "decoded"),
    [
        ((4000, 3000), (2500, 1875)),  # 5/8: 2500 >= 1.2 x 2048
        ((6000, 4000), (3000, 2000)),  # 4/8: 3/8 would be 2250 < 1.2 x 2048
        ((3200, 2400), (3200, 2400)),  # 7/8 decodes slower than whole
        ((1200, 900), (1200, 900)),  # the largest output is the whole image
    ],
)
def test_jpegs_are_decoded_at_the_cheapest_faithful_scale(
    stored: tuple[int, int], decoded: tuple[int, int]
) -> None:
    ramp = Image.linear_gradient("L").resize(stored)
    data = factories.encode(Image.merge("RGB", (ramp, ramp, ramp)), "JPEG")
    assert decode(data, SPECS, ALLOWED, MAX_PIXELS).image.size == decoded


def test_rotated_jpeg_matches_the_naive_reference() -> None:
    # Shown 1200x1600; 1.2x the 700 px output needs a 6/8 decode of the stored 1600x1200.
    specs = parse_variants("a:700,b:500,c:210,box:150x100:cover")
    exif = Image.Exif()
    exif[0x0112] = 6
    data = factories.encode(photo(1600, 1200, seed=4), "JPEG", quality=92, exif=exif.tobytes())
    assert decode(data, specs, ALLOWED, MAX_PIXELS).image.size == (900, 1200)

    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    fast = dict(render_pixels(data, specs))
    for spec in specs:
        size = spec.target_size(*shown.size)
        if spec.cover:
            reference = ImageOps.fit(shown, size, Image.Resampling.LANCZOS)
        else:
            reference = shown.resize(size, Image.Resampling.LANCZOS)
        assert fast[spec.name].size == size
        assert ssim(fast[spec.name], reference) >= SSIM_FLOOR, spec.name


def test_transparent_png_matches_the_naive_reference() -> None:
    data = factories.encode(with_alpha(photo(1600, 1200, seed=5)), "PNG")
    reference, fast = naive(data), ours(data)
    for name in reference:
        assert fast[name].mode == reference[name].mode == "RGBA"
        assert ssim(fast[name], reference[name]) >= SSIM_FLOOR, name


def test_delivered_variants_have_the_reference_sizes(camera_jpeg: bytes) -> None:
    reference = naive(camera_jpeg)
    for variant in render_variants(
        camera_jpeg, SPECS, allowed_formats=ALLOWED, max_pixels=MAX_PIXELS
    ):
        with Image.open(io.BytesIO(variant.data)) as image:
            assert image.size == reference[variant.name].size


def test_ssim_scores_identical_images_one_and_different_ones_lower() -> None:
    image = photo(200, 150)
    assert ssim(image, image.copy()) == pytest.approx(1.0)
    noisy = np.clip(np.asarray(image).astype(int) + 40, 0, 255).astype(np.uint8)
    assert ssim(image, Image.fromarray(noisy)) < 0.99
    shifted = image.transform(image.size, Image.Transform.AFFINE, (1, 0, 3, 0, 1, 0))
    assert ssim(image, shifted) < SSIM_FLOOR


@pytest.mark.usefixtures("jpeg_decoder")
@pytest.mark.parametrize("orientation", range(1, 9))
def test_partial_blocks_of_a_scaled_decode_are_not_stretched(orientation: int) -> None:
    # 803x601 at 5/8 is 501.875x375.625 px of picture in a 502x376 decode (at 6/8
    # when shown upright: 602.25x450.75); after orientation the partial column or
    # row may sit on any side. Stretching the whole decode to the output would
    # shift it by a fraction of a pixel.
    specs = parse_variants("a:350,box:150x150:cover")
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = factories.encode(photo(803, 601, seed=2), "JPEG", quality=92, exif=exif.tobytes())
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    fast = dict(render_pixels(data, specs))
    size = specs[0].target_size(*shown.size)
    assert ssim(fast["a"], shown.resize(size, Image.Resampling.LANCZOS)) >= SSIM_FLOOR
    box = ImageOps.fit(shown, (150, 150), Image.Resampling.LANCZOS)
    assert ssim(fast["box"], box) >= SSIM_FLOOR
