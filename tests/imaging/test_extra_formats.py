"""Extra formats: the same pixels as WebP and AVIF, metadata stripped, alpha kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgsvc.config import Defaults, csv_list
from imgsvc.imaging import (
    EncodeOptions,
    parse_extra_formats,
    parse_variants,
    render_extras,
    render_image,
    render_variants,
)
from tests import factories

SPECS = parse_variants("sm:640,xs:320,thumb:100x100:cover")
ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)


def render(data: bytes, extra: str) -> dict:
    options = EncodeOptions(extra_formats=parse_extra_formats(extra))
    variants = render_variants(
        data, SPECS, allowed_formats=ALLOWED, max_pixels=10**8, options=options
    )
    return {variant.name: variant for variant in variants}


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_parse_extra_formats() -> None:
    assert parse_extra_formats("") == ()
    assert parse_extra_formats(" webp , AVIF,webp") == ("WEBP", "AVIF")
    assert parse_extra_formats(["avif"]) == ("AVIF",)
    with pytest.raises(ValueError, match="jxl"):
        parse_extra_formats("webp,jxl")


def test_opaque_variants_are_also_made_as_webp_and_avif() -> None:
    rendered = render(factories.jpeg(800, 600, gps=True), "webp,avif")
    for variant in rendered.values():
        assert variant.format == "JPEG"
        assert set(variant.alternates) == {"webp", "avif"}
        primary = np.asarray(opened(variant.data)).astype(int)
        for extension, file in variant.alternates.items():
            assert (file.extension, file.content_type) == (extension, f"image/{extension}")
            image = opened(file.data)
            assert (image.format, image.size, image.mode) == (
                file.format,
                (variant.width, variant.height),
                "RGB",
            )
            assert np.abs(np.asarray(image).astype(int) - primary).mean() < 6  # same picture
            assert not image.getexif()
            # WebP: EXIF/ICCP chunks; AVIF: Exif items and ICC colour boxes ("colrprof").
            for marker in (b"TestCam", b"Exif", b"ICCP", b"colrprof", b"colrrICC"):
                assert marker not in file.data, (variant.name, extension, marker)


def test_transparent_variants_keep_alpha_and_reuse_the_primary_webp() -> None:
    rendered = render(factories.png_alpha(500, 400), "webp,avif")
    for variant in rendered.values():
        assert variant.format == "WEBP"
        assert variant.alternates["webp"].data is variant.data  # encoded once
        avif = opened(variant.alternates["avif"].data)
        assert avif.mode == "RGBA"
        alpha = np.asarray(avif.getchannel("A"))
        assert alpha[0, 0] == 0 and alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] == 255


def test_no_extra_formats_by_default() -> None:
    for variant in render(factories.jpeg(400, 300), "").values():
        assert variant.alternates == {}


@pytest.mark.parametrize("make", [lambda: factories.jpeg(900, 600), factories.png_alpha])
def test_deferred_extras_are_the_same_files_made_after_the_primaries(make) -> None:
    data = make()
    options = EncodeOptions(extra_formats=parse_extra_formats("webp,avif"))
    whole = render_image(data, SPECS, allowed_formats=ALLOWED, max_pixels=10**8, options=options)
    first = render_image(
        data, SPECS, allowed_formats=ALLOWED, max_pixels=10**8, options=options, defer_extras=True
    )
    # First the primaries alone, the outputs kept for later.
    assert [v.alternates for v in first.variants] == [{}, {}, {}]
    assert [name for name, _image in first.outputs] == ["sm", "xs", "thumb"]
    assert [v.data for v in first.variants] == [v.data for v in whole.variants]
    # Then the extras: the same bytes as when made in one go.
    later = render_extras(first, options)
    assert [v.data for v in later] == [v.data for v in whole.variants]
    for made_later, made_at_once in zip(later, whole.variants, strict=True):
        assert {e: f.data for e, f in made_later.alternates.items()} == {
            e: f.data for e, f in made_at_once.alternates.items()
        }
        assert set(made_later.alternates) == {"webp", "avif"}


def test_extra_webp_uses_its_own_method() -> None:
    data = factories.jpeg(900, 600)
    sizes = {}
    for method in (0, 4):
        options = EncodeOptions(extra_formats=("WEBP",), extra_webp_method=method)
        rendered = render_variants(
            data, SPECS, allowed_formats=ALLOWED, max_pixels=10**8, options=options
        )
        sizes[method] = len(rendered[0].alternates["webp"].data)
    assert sizes[0] != sizes[4]  # the setting reaches the encoder
    assert sizes[4] < sizes[0]
