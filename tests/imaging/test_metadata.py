"""The safe part of an original's metadata: what the API shows, and what it never does."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imgsvc.config import Defaults, csv_list
from imgsvc.errors import InvalidImage
from imgsvc.imaging import parse_variants, render_image
from imgsvc.imaging.metadata import MAX_TEXT, safe_metadata
from tests import factories
from tests.fuzzcases import png_ihdr
from tests.imaging import heif_files
from tests.imaging.icc import display_p3_icc

ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)
FIELDS = {"captured_at", "camera_make", "camera_model", "orientation", "colour_profile"}
SERIAL, OWNER, LENS_SERIAL = 0xA431, 0xA430, 0xA435


def camera_exif(orientation: int = 1) -> Image.Exif:
    """Everything a camera writes: what may be shown and what must never be."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon\x00", "EOS R5"
    exif[0x0112] = orientation
    exif[0x0132] = "2020:01:01 00:00:00"  # DateTime: the file's, less precise
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 12.0), 3: "E", 4: (4.0, 53.0, 30.0)}
    details = exif.get_ifd(0x8769)
    details[0x9003] = "2023:07:14 18:30:05"  # DateTimeOriginal
    details[0x9011] = "+02:00"  # OffsetTimeOriginal
    details[SERIAL], details[OWNER], details[LENS_SERIAL] = "SN-0042", "Jane Doe", "LS-77"
    return exif


def metadata_of(data: bytes) -> dict:
    rendering = render_image(
        data,
        parse_variants("xs:320"),
        allowed_formats=ALLOWED,
        max_pixels=Defaults.MAX_IMAGE_PIXELS,
    )
    return rendering.metadata


def test_camera_jpeg_shows_time_camera_orientation_and_profile_only() -> None:
    data = factories.encode(
        factories.photo(400, 300), "JPEG", exif=camera_exif(6), icc_profile=display_p3_icc()
    )
    metadata = metadata_of(data)
    assert metadata == {
        "captured_at": "2023-07-14T18:30:05+02:00",
        "camera_make": "Canon",
        "camera_model": "EOS R5",
        "orientation": 6,
        "colour_profile": "Test Display P3 (gamma 2.2)",
    }
    shown = repr(metadata)
    for secret in ("SN-0042", "Jane Doe", "LS-77", "52.0", "GPS"):
        assert secret not in shown


def test_file_without_metadata_gives_nulls_and_upright() -> None:
    metadata = metadata_of(factories.encode(factories.photo(64, 48), "PNG"))
    assert metadata == dict.fromkeys(FIELDS - {"orientation"}, None) | {"orientation": 1}


def test_iphone_like_heic_shows_its_applied_rotation() -> None:
    metadata = metadata_of(heif_files.iphone_like(320, 240, orientation=6))
    assert metadata["orientation"] == 6
    assert (metadata["camera_make"], metadata["camera_model"]) == (
        heif_files.MAKE,
        heif_files.MODEL,
    )
    assert metadata["captured_at"] == "2024-05-04T10:11:12"
    assert "52.0" not in repr(metadata)


def test_nclx_colour_space_is_named() -> None:
    p3 = heif_files.with_primaries(heif_files.avif(factories.photo(64, 48)), 12)
    assert metadata_of(p3)["colour_profile"] == "Display P3 (nclx)"


def test_hostile_texts_are_cleaned_and_cut() -> None:
    exif = Image.Exif()
    exif[0x010F] = "A" * 5000
    exif[0x0110] = "<script>\x07\x1b[31m"
    exif[0x0132] = "not a date"
    exif[0x0112] = 99
    image = Image.open(io.BytesIO(factories.encode(factories.photo(32, 32), "JPEG", exif=exif)))
    metadata = safe_metadata(image)
    assert metadata["camera_make"] == "A" * MAX_TEXT
    assert metadata["camera_model"] == "<script>[31m"
    assert (metadata["captured_at"], metadata["orientation"]) == (None, 1)


def test_broken_exif_hides_only_the_exif_fields() -> None:
    data = factories.encode(factories.photo(32, 32), "JPEG", icc_profile=display_p3_icc())
    broken = data.replace(b"\xff\xd8", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\xff\xff", 1)
    metadata = metadata_of(broken)
    assert metadata["camera_make"] is None
    assert metadata["colour_profile"] == "Test Display P3 (gamma 2.2)"


def test_reading_metadata_decodes_nothing_so_broken_pixels_still_fail() -> None:
    # Pillow's PNG getexif() decodes the whole image; a failed decode there would
    # leave an image that then "decodes" to blank pixels.
    png = factories.encode(factories.photo(96, 72), "PNG")
    broken = png_ihdr(png, 96, 72, 16, 6)  # says 16-bit RGBA; the data is 8-bit RGB
    with pytest.raises(InvalidImage):
        metadata_of(broken)


def test_png_exif_before_its_pixels_is_read() -> None:
    data = factories.encode(factories.photo(64, 48), "PNG", exif=camera_exif())
    metadata = metadata_of(data)
    assert (metadata["camera_make"], metadata["camera_model"]) == ("Canon", "EOS R5")
    assert "SN-0042" not in repr(metadata)
