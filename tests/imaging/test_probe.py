"""probe(): what the web process learns from an upload's header, and what it refuses."""

from __future__ import annotations

import io

import numpy as np
import pytest
from flask import Flask
from PIL import Image, ImageFile

from imgsvc.config import Defaults
from imgsvc.errors import ImageTooLarge, InvalidImage, UnsupportedFormat
from imgsvc.imaging import ProbeResult, probe
from tests import factories
from tests.imaging import hostile

ALLOWED = ["JPEG", "PNG", "WEBP", "GIF", "TIFF"]
MAX_PIXELS = 50_000_000
MAX_FRAMES = 1000
RANDOM_BYTES = np.random.default_rng(7).bytes(2048)  # seeded: the same bytes every run


def check(
    data: bytes | io.BytesIO, max_pixels: int = MAX_PIXELS, max_frames: int = MAX_FRAMES
) -> ProbeResult:
    return probe(data, ALLOWED, max_pixels, max_frames)


def small(fmt: str, **params: object) -> bytes:
    return factories.encode(factories.photo(64, 48), fmt, **params)


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("TIFF", "image/tiff"),
    ],
)
def test_accepts_each_allowed_format_by_content(fmt: str, mime: str) -> None:
    result = check(small(fmt))
    assert (result.format, result.width, result.height, result.frames) == (fmt, 64, 48, 1)
    assert result.mime_type == mime
    assert result.pixels == 64 * 48


def test_format_comes_from_the_bytes_not_the_file_name() -> None:
    upload = io.BytesIO(small("JPEG"))
    upload.name = "holiday.png"
    assert check(upload).format == "JPEG"


def test_stream_is_rewound_for_the_caller() -> None:
    upload = io.BytesIO(small("PNG"))
    upload.seek(10)
    check(upload)
    assert upload.tell() == 0
    rejected = io.BytesIO(factories.png_header(30000, 30000))
    with pytest.raises(ImageTooLarge):
        check(rejected)
    assert rejected.tell() == 0


def test_counts_animation_frames() -> None:
    assert check(factories.animated_gif(frames=7)).frames == 7
    webp = small("WEBP", save_all=True, append_images=[factories.photo(64, 48, seed=2)])
    assert check(webp).frames == 2


@pytest.mark.parametrize(
    "data",
    [b"", RANDOM_BYTES, b"hello, this is plain text\n", small("PNG")[:20]],
    ids=["empty", "random", "text", "truncated-header"],
)
def test_unreadable_input_is_invalid_image(data: bytes) -> None:
    with pytest.raises(InvalidImage) as caught:
        check(data)
    assert caught.value.code == "invalid_image"


@pytest.mark.parametrize(
    "data",
    [
        factories.svg_document(),
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b"<!-- " + b"made by hand " * 20 + b"-->\n<svg xmlns='http://www.w3.org/2000/svg'/>",
        factories.pdf_document(),
        factories.eps_document(),
        small("BMP"),
        small("ICO"),
    ],
    ids=["svg", "svg-bare", "svg-after-comment", "pdf", "eps", "bmp", "ico"],
)
def test_known_but_refused_formats_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        check(data)
    assert caught.value.code == "unsupported_format"
    assert caught.value.status == 415


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF"])
def test_format_outside_a_narrower_allowlist_is_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        probe(small(fmt), ["JPEG", "PNG"], MAX_PIXELS, MAX_FRAMES)
    assert fmt in caught.value.message


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a\x0a\x00\x0a\x00" + b"\xff" * 50,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,
    ],
    ids=["gif", "png", "jpeg"],
)
def test_allowed_signature_with_a_corrupt_header_is_invalid_not_unsupported(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        check(data)


def test_multi_picture_jpeg_is_a_one_frame_jpeg() -> None:
    # Phones write MPO (a JPEG plus depth or gain-map images); Pillow calls it "MPO".
    data = factories.encode(
        factories.photo(64, 48), "MPO", save_all=True, append_images=[factories.photo(32, 24)]
    )
    result = check(data)
    assert (result.format, result.mime_type, result.frames) == ("JPEG", "image/jpeg", 1)
    assert (result.width, result.height) == (64, 48)


def test_decompression_bomb_header_is_too_large() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        check(factories.png_header(30000, 30000))
    assert caught.value.code == "image_too_large"
    assert "50,000,000" in caught.value.message


def test_pixel_limit_is_inclusive() -> None:
    data = small("PNG")
    assert check(data, max_pixels=64 * 48).pixels == 64 * 48
    with pytest.raises(ImageTooLarge):
        check(data, max_pixels=64 * 48 - 1)


def test_frame_limit_is_inclusive() -> None:
    gif = factories.animated_gif(frames=5)
    assert check(gif, max_frames=5).frames == 5
    with pytest.raises(ImageTooLarge) as caught:
        check(gif, max_frames=4)
    assert "5 frames" in caught.value.message


def test_large_header_within_limits_passes_without_pixel_data() -> None:
    # 49 MP claimed, 64 bytes of pixel data: any decode would fail, so success
    # shows that only the header was read.
    result = check(factories.png_header(7000, 7000))
    assert (result.format, result.width, result.height) == ("PNG", 7000, 7000)


def test_probe_never_decodes_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError("probe decoded pixel data")

    uploads = {fmt: small(fmt) for fmt in ALLOWED}
    animated = factories.animated_gif(frames=3)
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(Image.Image, "load", refuse)
    for fmt, data in uploads.items():
        assert check(data).format == fmt
    assert check(animated).frames == 3


def test_frames_are_counted_only_up_to_one_past_the_limit() -> None:
    # A million frames: the walk stops at the eleventh, so the message says "at least".
    with pytest.raises(ImageTooLarge) as caught:
        check(hostile.gif_frame_flood(1_000_000), max_frames=10)
    assert caught.value.message == "The image has at least 11 frames; the limit is 10."


def test_walk_limits_come_from_the_running_app() -> None:
    progressive = factories.encode(factories.photo(64, 48), "JPEG", progressive=True)
    app = Flask(__name__)
    app.config.from_object(Defaults)
    app.config["MAX_JPEG_SCANS"] = 2
    assert check(progressive).format == "JPEG"
    with app.app_context(), pytest.raises(ImageTooLarge, match="the limit is 2"):
        check(progressive)
