"""Hostile uploads: refused with a named code, at a cost set by the limits.

Each file of ``hostile.CORPUS`` is within the 20 MiB upload limit; Pillow's
own header walks take from a quarter of a second to tens of seconds on them.
The check must answer in tens of milliseconds; the bound asserted here is an
order of magnitude above that, so a busy machine does not fail it, while an
unbounded walk still does.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from imgsvc.errors import ImageTooLarge, ImgsvcError, InvalidImage
from imgsvc.imaging import parse_variants, probe
from imgsvc.imaging.decode import open_image
from imgsvc.imaging.pipeline import render_image
from imgsvc.imaging.structure import StructureLimits
from tests import factories
from tests.imaging import hostile

ALLOWED = ["JPEG", "PNG", "WEBP", "GIF", "TIFF"]
MAX_PIXELS = 50_000_000
LIMITS = StructureLimits()  # the defaults of imgsvc.config
CPU_BOUND = 0.5  # seconds: the budget is tens of milliseconds
UPLOAD_LIMIT = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    return {name: build() for name, (build, _code) in hostile.CORPUS.items()}


def request_body(data: bytes) -> io.BytesIO:
    """The upload as the web app holds it: a buffer written from the request."""
    body = io.BytesIO()
    body.write(data)
    return body


def cpu_of(call: Callable[[], object]) -> tuple[str, float]:
    """The error code ``call`` raises ("accepted" if none) and the CPU seconds it took."""
    started = time.process_time()
    try:
        call()
        outcome = "accepted"
    except ImgsvcError as exc:
        outcome = exc.code
    return outcome, time.process_time() - started


@pytest.mark.parametrize("name", list(hostile.CORPUS))
def test_web_check_refuses_each_hostile_upload_within_the_budget(
    name: str, corpus: dict[str, bytes]
) -> None:
    data = corpus[name]
    assert len(data) <= UPLOAD_LIMIT
    body = request_body(data)
    code, cpu = cpu_of(lambda: probe(body, ALLOWED, MAX_PIXELS, LIMITS.max_frames, LIMITS))
    assert code == hostile.CORPUS[name][1]
    assert cpu < CPU_BOUND
    assert body.tell() == 0


@pytest.mark.parametrize("name", list(hostile.CORPUS))
def test_job_refuses_each_hostile_upload_before_decoding(
    name: str, corpus: dict[str, bytes]
) -> None:
    specs = parse_variants("thumb:200x200:cover,sm:640")
    render = lambda: render_image(  # noqa: E731
        corpus[name], specs, allowed_formats=ALLOWED, max_pixels=MAX_PIXELS
    )
    code, cpu = cpu_of(render)
    assert code == hostile.CORPUS[name][1]
    assert cpu < CPU_BOUND


@pytest.mark.parametrize(
    ("build", "caps"),
    [
        (hostile.png_at_every_cap, ["max_header_chunks", "max_chunks", "max_compressed_chunks"]),
        (hostile.tiff_at_every_cap, ["max_frames", "max_header_chunks", "max_chunks"]),
        (hostile.gif_at_every_cap, ["max_frames", "max_header_chunks", "max_chunks"]),
    ],
    ids=["png", "tiff", "gif"],
)
def test_files_at_every_cap_pass_and_one_step_past_any_is_refused(
    build: Callable[[], bytes], caps: list[str]
) -> None:
    data = build()
    assert check(data).width == 1
    for cap in caps:
        with pytest.raises((ImageTooLarge, InvalidImage)):
            check(data, **{cap: getattr(LIMITS, cap) - 1})


def test_settings_reach_the_job_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    gif = factories.animated_gif(frames=3)
    assert open_image(gif, ALLOWED, MAX_PIXELS).n_frames == 3
    monkeypatch.setenv("IMGSVC_MAX_IMAGE_FRAMES", "2")
    with pytest.raises(ImageTooLarge, match="at least 3 frames; the limit is 2"):
        open_image(gif, ALLOWED, MAX_PIXELS)
    monkeypatch.setenv("IMGSVC_MAX_JPEG_SCANS", "3")
    with pytest.raises(ImageTooLarge, match="scans; the limit is 3"):
        open_image(progressive_jpeg(), ALLOWED, MAX_PIXELS)


def check(data: bytes, **limits: int):
    chosen = StructureLimits(**{**LIMITS.__dict__, **limits})
    return probe(data, ALLOWED, MAX_PIXELS, chosen.max_frames, chosen)


def progressive_jpeg() -> bytes:
    return factories.encode(factories.photo(64, 48), "JPEG", progressive=True)


def pages(count: int, **params: object) -> bytes:
    images = [factories.photo(32, 24, seed=seed) for seed in range(count)]
    return factories.encode(images[0], "TIFF", save_all=True, append_images=images[1:], **params)


@pytest.mark.parametrize("fmt", [*ALLOWED, "BIGTIFF", "MPO"])
def test_real_files_held_in_a_request_buffer_pass(fmt: str) -> None:
    # The web app's body is a buffer, walked through a view of it (no copy).
    photo = factories.photo(64, 48)
    second = factories.photo(64, 48, seed=2)
    params: dict[str, object] = {"save_all": True, "append_images": [second]}
    if fmt == "BIGTIFF":
        fmt, params["big_tiff"] = "TIFF", True
    if fmt == "JPEG":
        params = {"progressive": True}
    data = factories.encode(photo, fmt, **params)
    result = probe(request_body(data), ALLOWED, MAX_PIXELS, LIMITS.max_frames, LIMITS)
    assert (result.width, result.height) == (64, 48)
    assert result.frames == (1 if fmt in ("JPEG", "MPO") else 2)


@pytest.mark.parametrize("big_tiff", [False, True], ids=["tiff", "bigtiff"])
def test_tiff_pages_are_counted_up_to_the_limit(big_tiff: bool) -> None:
    data = pages(4, big_tiff=big_tiff)
    assert check(data, max_frames=4).frames == 4
    with pytest.raises(ImageTooLarge, match="at least 4 frames; the limit is 3"):
        check(data, max_frames=3)


def test_a_page_chain_of_any_length_is_refused_at_the_limit() -> None:
    # Pillow's count is quadratic in the pages; the walk stops at the limit + 1.
    with pytest.raises(ImageTooLarge, match="at least 1001 frames; the limit is 1000"):
        check(hostile.tiff_page_chain(200_000))


def test_a_tiff_page_pointing_outside_the_file_is_invalid() -> None:
    data = bytearray(pages(2))
    data[4:8] = struct.pack("<I", len(data) + 100)
    with pytest.raises(InvalidImage):
        check(bytes(data))


def test_progressive_jpeg_scans_are_counted_up_to_the_limit() -> None:
    data = progressive_jpeg()
    scans = data.count(b"\xff\xda")
    assert scans >= 6  # a progressive JPEG: several scans, each one more pass of the decoder
    assert check(data, max_jpeg_scans=scans).format == "JPEG"
    with pytest.raises(ImageTooLarge, match=f"has {scans} scans; the limit is {scans - 1}"):
        check(data, max_jpeg_scans=scans - 1)


def test_jpeg_segments_and_embedded_thumbnails_are_within_the_caps() -> None:
    # EXIF (with its thumbnail, a JPEG inside a segment) and the MPO's second
    # picture after the first one's end: neither is walked as markers.
    with_exif = factories.jpeg(640, 480, orientation=6)
    assert check(with_exif, max_header_chunks=12).format == "JPEG"
    mpo = factories.encode(
        factories.photo(64, 48), "MPO", save_all=True, append_images=[factories.photo(32, 24)]
    )
    assert check(mpo, max_header_chunks=12).frames == 1


def test_png_chunks_are_capped_before_and_after_the_pixels() -> None:
    apng = factories.encode(
        factories.photo(64, 48),
        "PNG",
        save_all=True,
        append_images=[factories.photo(64, 48, seed=2), factories.photo(64, 48, seed=3)],
    )
    assert check(apng).frames == 3
    with pytest.raises(InvalidImage, match="more than 1 chunks before its pixels"):
        check(apng, max_header_chunks=1)  # IHDR, acTL, fcTL, then pixels
    with pytest.raises(InvalidImage, match="more than 2 chunks"):
        check(apng, max_chunks=2)


def test_compressed_png_metadata_is_capped_and_plain_text_is_not_counted() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>" * 50)  # plain iTXt, as XMP is
    for key in ("one", "two", "three"):
        info.add_text(key, "text " * 100, zip=True)  # zTXt
    info.add_itxt("four", "text " * 100, zip=True)  # compressed iTXt
    data = factories.encode(factories.photo(64, 48), "PNG", pnginfo=info)
    assert check(data, max_compressed_chunks=4).format == "PNG"
    with pytest.raises(InvalidImage, match="more than 3 compressed metadata chunks"):
        check(data, max_compressed_chunks=3)


def test_gif_blocks_of_a_real_image_fit_the_default_cap() -> None:
    # Encoders write full 255-byte sub-blocks: a GIF of the largest upload has
    # at most 20 MiB / 255 of them, plus a few blocks per frame (<= 1000 frames).
    assert UPLOAD_LIMIT // 255 + 5 * LIMITS.max_frames < LIMITS.max_chunks
    noise = np.random.default_rng(3).integers(0, 255, (600, 800), dtype=np.uint8)
    data = factories.encode(Image.fromarray(noise), "GIF")
    sub_blocks = len(data) // 255 + 1
    assert check(data, max_chunks=sub_blocks + 5).frames == 1
    with pytest.raises(InvalidImage, match="blocks"):
        check(data, max_chunks=sub_blocks // 2)


def test_webp_frames_are_counted_up_to_the_limit() -> None:
    frames = [factories.photo(64, 48, seed=seed) for seed in range(3)]
    data = factories.encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])
    assert check(data, max_frames=3).frames == 3
    with pytest.raises(ImageTooLarge, match="at least 3 frames"):
        check(data, max_frames=2)


@pytest.mark.parametrize("fmt", ALLOWED)
def test_a_cut_file_is_invalid_or_accepted_never_an_unnamed_error(fmt: str) -> None:
    if fmt == "GIF":
        data = factories.animated_gif(frames=3)
    elif fmt == "TIFF":
        data = pages(3)
    else:
        data = factories.encode(factories.photo(64, 48), fmt)
    for end in range(1, len(data), max(1, len(data) // 97)):
        try:
            check(data[:end])
        except ImgsvcError as exc:
            assert exc.code in ("invalid_image", "image_too_large")


def test_api_refuses_a_hostile_tiff_with_400_and_its_code(app, client) -> None:
    response = client.post(
        "/api/images",
        data={"file": (io.BytesIO(hostile.tiff_page_chain()), "pages.tiff")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "image_too_large"
    assert app.extensions["imgsvc"].storage.list_keys("images/") == []


def test_api_refuses_a_png_chunk_flood_with_400_invalid_image(client) -> None:
    response = client.post(
        "/api/images",
        data={"file": (io.BytesIO(hostile.png_chunk_flood()), "flood.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_image"
