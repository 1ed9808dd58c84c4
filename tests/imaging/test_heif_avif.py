"""HEIF (HEIC) and AVIF input: the header check, one decode, orientation, colour, bombs.

Every file is made in the test by pillow-heif (HEIC) or Pillow (AVIF); the
hostile ones are those files with a box field rewritten.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from imgsvc.config import Defaults, csv_list
from imgsvc.errors import ImageTooLarge, InvalidImage, UnsupportedFormat
from imgsvc.imaging import EncodeOptions, RenderedVariant, parse_variants, probe, render_variants
from imgsvc.imaging.structure import StructureLimits
from tests import factories
from tests.imaging import heif_files
from tests.imaging.icc import P3_PRIMARIES, rgb_icc, srgb_curve

ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)
MAX_PIXELS = Defaults.MAX_IMAGE_PIXELS
SPECS = parse_variants(Defaults.VARIANTS)
WRITERS = {"HEIF": heif_files.heic, "AVIF": heif_files.avif}


def render(
    data: bytes, specs: str = "thumb:200x200:cover,xs:320,sm:640"
) -> dict[str, RenderedVariant]:
    rendered = render_variants(
        data,
        parse_variants(specs),
        allowed_formats=ALLOWED,
        max_pixels=MAX_PIXELS,
        options=EncodeOptions(),
    )
    return {variant.name: variant for variant in rendered}


def pixels(variant: RenderedVariant) -> np.ndarray:
    image = Image.open(io.BytesIO(variant.data))
    assert (image.format, image.size) == (variant.format, (variant.width, variant.height))
    return np.asarray(image.convert("RGB")).astype(np.int32)


def shown_marked(width: int = 400, height: int = 300) -> Image.Image:
    """White, with a red block in the displayed top-left corner."""
    image = Image.new("RGB", (width, height), "white")
    image.paste((255, 0, 0), (0, 0, width // 4, height // 4))
    return image


# --- the header check (web process) ---------------------------------------------


@pytest.mark.parametrize(("fmt", "mime"), [("HEIF", "image/heif"), ("AVIF", "image/avif")])
def test_probe_accepts_heif_and_avif_by_content(fmt: str, mime: str) -> None:
    result = probe(WRITERS[fmt](factories.photo(64, 48)), ALLOWED, MAX_PIXELS, 1000)
    assert (result.format, result.width, result.height, result.frames) == (fmt, 64, 48, 1)
    assert result.mime_type == mime


def test_iphone_like_heic_is_one_picture_despite_its_thumbnail() -> None:
    result = probe(heif_files.iphone_like(), ALLOWED, MAX_PIXELS, 1)
    assert (result.format, result.frames) == ("HEIF", 1)
    assert {result.width, result.height} == {640, 480}


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_outside_the_allowlist_they_are_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        probe(WRITERS[fmt](factories.photo(64, 48)), ["JPEG", "PNG"], MAX_PIXELS, 1000)
    assert fmt in caught.value.message


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_declared_size_past_the_pixel_limit_is_refused_before_any_decoder(fmt: str) -> None:
    bomb = heif_files.declared_size(WRITERS[fmt](factories.photo(64, 48)), 60_000, 60_000)
    with pytest.raises(ImageTooLarge) as caught:
        probe(bomb, ALLOWED, MAX_PIXELS, 1000)
    assert "60000×60000" in caught.value.message
    with pytest.raises(ImageTooLarge):  # the job refuses it too, before decoding
        render(bomb)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_pixel_limit_is_checked_on_the_declared_size(fmt: str) -> None:
    # 64×64: HEVC codes in whole blocks, and the declared (ispe) size is the coded one.
    data = WRITERS[fmt](factories.photo(64, 64))
    assert probe(data, ALLOWED, 64 * 64, 1000).pixels == 64 * 64
    with pytest.raises(ImageTooLarge):
        probe(data, ALLOWED, 64 * 64 - 1, 1000)


def test_pictures_count_as_frames_against_the_limit() -> None:
    burst = heif_files.multi_picture_heic(3)
    assert probe(burst, ALLOWED, MAX_PIXELS, 3).frames == 3
    with pytest.raises(ImageTooLarge) as caught:
        probe(burst, ALLOWED, MAX_PIXELS, 2)
    assert "3 pictures" in caught.value.message


def test_an_item_count_past_the_header_cap_is_invalid() -> None:
    data = heif_files.heic(factories.photo(64, 48))
    flood = heif_files.patch_box(data, b"iinf", 4, "H", 60_000)  # version 0: a 16-bit count
    limits = StructureLimits(max_header_chunks=2000)
    with pytest.raises(InvalidImage) as caught:
        probe(flood, ALLOWED, MAX_PIXELS, 1000, limits)
    assert "items" in caught.value.message


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_box_leaving_the_file_and_cut_files_are_invalid(fmt: str) -> None:
    data = WRITERS[fmt](factories.photo(64, 48))
    meta = heif_files.find_box(data, b"meta")
    outside = heif_files.patch_box(data, b"meta", -8, "I", len(data) * 2)
    assert outside[meta : meta + 4] != data[meta : meta + 4]
    for broken in (outside, data[: meta + 40]):
        with pytest.raises(InvalidImage):
            probe(broken, ALLOWED, MAX_PIXELS, 1000)


# --- the decode (worker) ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heif_and_avif_become_jpeg_variants_of_the_right_sizes(fmt: str) -> None:
    source = factories.photo(800, 600, seed=2)
    rendered = render(WRITERS[fmt](source))
    assert {name: (v.format, v.width, v.height) for name, v in rendered.items()} == {
        "thumb": ("JPEG", 200, 200),
        "xs": ("JPEG", 320, 240),
        "sm": ("JPEG", 640, 480),
    }
    expected = np.asarray(source.resize((320, 240), Image.Resampling.LANCZOS)).astype(np.int32)
    assert np.abs(pixels(rendered["xs"]) - expected).mean() < 8


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", [2, 3, 5, 6, 7, 8])
def test_rotation_and_mirror_are_applied(fmt: str, orientation: int) -> None:
    # The writers turn the EXIF orientation into HEIF's irot/imir boxes.
    stored = shown_marked().transpose(factories.STORED_AS[orientation])
    data = WRITERS[fmt](stored, exif=heif_files.exif_bytes(orientation))
    assert b"irot" in data or b"imir" in data
    xs = pixels(render(data, "xs:320")["xs"])
    assert xs.shape[:2] == (240, 320)
    top_left = xs[5:25, 5:35]
    assert top_left[..., 0].min() > 200 and top_left[..., 1:].max() < 60  # red, shown top-left
    assert xs[-40:, -40:].min() > 230  # white elsewhere
    assert xs[:30, -40:].min() > 230


def test_iphone_like_heic_renders_its_picture_not_its_thumbnail() -> None:
    rendered = render(heif_files.iphone_like(640, 480, orientation=6))
    assert (rendered["sm"].width, rendered["sm"].height) == (480, 640)  # turned upright
    assert not Image.open(io.BytesIO(rendered["sm"].data)).getexif()  # nothing kept


def test_ten_bit_heic_decodes_to_its_eight_bit_values() -> None:
    data, source = heif_files.heic_10bit(320, 240)
    assert Image.open(io.BytesIO(data)).info["bit_depth"] == 10
    same = pixels(render(data, "xs:320")["xs"])
    assert np.abs(same - source.astype(np.int32)).mean() < 3


PATCHES = [(200, 100, 50), (40, 180, 90), (90, 60, 200), (230, 230, 230)]


def patches() -> Image.Image:
    image = Image.new("RGB", (80 * len(PATCHES), 80))
    for index, colour in enumerate(PATCHES):
        image.paste(colour, (index * 80, 0, index * 80 + 80, 80))
    return image


def p3_reference() -> np.ndarray:
    """The patches read as Display P3 (sRGB's curve), converted by LittleCMS."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(rgb_icc("P3", P3_PRIMARIES, srgb_curve())))
    srgb = ImageCms.createProfile("sRGB")
    converted = ImageCms.profileToProfile(patches(), profile, srgb, outputMode="RGB")
    assert converted is not None
    return centres(np.asarray(converted).astype(np.int32))


def centres(array: np.ndarray) -> np.ndarray:
    scale = array.shape[1] / (80 * len(PATCHES))
    return np.array(
        [array[int(40 * scale), int((i * 80 + 40) * scale)] for i in range(len(PATCHES))]
    )


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_nclx_display_p3_ends_in_srgb(fmt: str) -> None:
    if fmt == "HEIF":
        data = heif_files.heic(
            patches(),
            quality=100,
            chroma=444,
            color_primaries=12,
            transfer_characteristics=13,
            matrix_coefficients=6,
            full_range_flag=1,
        )
    else:  # Pillow's writer states BT.709: the same file, stated as P3
        data = heif_files.with_primaries(heif_files.avif(patches(), quality=100), 12)
    found = centres(pixels(render(data, "xs:320")["xs"]))
    expected = p3_reference()
    assert np.abs(found - expected).max() <= 6, (found, expected)
    assert np.abs(found[0] - np.array(PATCHES[0])).max() > 10  # converted, not passed through


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_nclx_srgb_is_left_as_it_is(fmt: str) -> None:
    data = WRITERS[fmt](patches(), quality=100)
    found = centres(pixels(render(data, "xs:320")["xs"]))
    assert np.abs(found - np.array(PATCHES)).max() <= 6


def test_icc_profile_in_heic_is_applied() -> None:
    icc = rgb_icc("P3", P3_PRIMARIES, srgb_curve())
    data = heif_files.heic(patches(), quality=100, chroma=444, icc_profile=icc)
    found = centres(pixels(render(data, "xs:320")["xs"]))
    assert np.abs(found - p3_reference()).max() <= 6


def test_animated_avif_counts_its_frames_from_the_header() -> None:
    frames = [factories.photo(64, 48, seed=i) for i in range(4)]
    data = heif_files.avif(frames[0], save_all=True, append_images=frames[1:], duration=100)
    assert probe(data, ALLOWED, MAX_PIXELS, 4).frames == 4
    with pytest.raises(ImageTooLarge) as caught:
        probe(data, ALLOWED, MAX_PIXELS, 3)
    assert "4 frames" in caught.value.message
    assert render(data)["xs"].width == 64  # its first frame, as for other animations


def test_a_flood_of_boxes_stops_at_the_chunk_cap() -> None:
    data = heif_files.heic(factories.photo(64, 48))
    ftyp_end = int.from_bytes(data[:4], "big")
    flood = data[:ftyp_end] + b"\x00\x00\x00\x08free" * 150_000 + data[ftyp_end:]
    with pytest.raises(InvalidImage) as caught:
        probe(flood, ALLOWED, MAX_PIXELS, 1000, StructureLimits(max_chunks=100_000))
    assert "100,000 boxes" in caught.value.message
