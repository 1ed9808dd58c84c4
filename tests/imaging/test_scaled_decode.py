"""JPEGs decoded at M/8 by simplejpeg: grey, multi-picture, broken, and the fallback."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgsvc.errors import InvalidImage
from imgsvc.imaging import parse_variants, render_variants
from imgsvc.imaging.decode import decode
from imgsvc.imaging.resize import resize_all
from tests import factories
from tests.support.images import photo
from tests.support.ssim import ssim

SPECS = parse_variants("a:400,box:100x100:cover")  # 1.2 x 400 of 800 px: a 5/8 decode
ALLOWED = ["JPEG"]


def test_grey_jpeg_stays_grey_at_five_eighths() -> None:
    grey = photo(800, 600).convert("L")
    data = factories.encode(grey, "JPEG", quality=92)
    source = decode(data, SPECS, ALLOWED, 10**8)
    assert (source.image.mode, source.image.size) == ("L", (500, 375))
    whole = Image.open(io.BytesIO(data)).resize((400, 300), Image.Resampling.LANCZOS)
    made = resize_all(source.image, source.size, SPECS, source.area)[0][1]
    assert ssim(made, whole) >= 0.995
    variant = render_variants(data, SPECS, allowed_formats=ALLOWED, max_pixels=10**8)[0]
    image = Image.open(io.BytesIO(variant.data))
    assert (image.mode, image.size) == ("L", (400, 300))


def test_multi_picture_jpeg_gives_its_first_picture_at_five_eighths() -> None:
    first = Image.new("RGB", (800, 600), (200, 40, 40))
    second = Image.new("RGB", (800, 600), (40, 40, 200))
    data = factories.encode(first, "MPO", save_all=True, append_images=[second])
    source = decode(data, SPECS, ALLOWED, 10**8)
    assert source.image.size == (500, 375)
    colour = np.asarray(source.image.convert("RGB")).reshape(-1, 3).mean(axis=0)
    assert np.abs(colour - (200, 40, 40)).max() < 4


@pytest.mark.usefixtures("jpeg_decoder")
def test_a_corrupt_jpeg_is_invalid_with_either_decoder() -> None:
    data = bytearray(factories.jpeg(800, 600))
    data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)  # scan data wiped out
    with pytest.raises(InvalidImage):
        decode(bytes(data[: len(data) * 3 // 4]), SPECS, ALLOWED, 10**8)
