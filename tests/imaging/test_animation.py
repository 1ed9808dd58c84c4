"""Animated GIF/WebP → animated WebP width variants (IMGSVC_ANIMATED), within the caps."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imgsvc.config import Defaults, csv_list
from imgsvc.imaging import EncodeOptions, parse_extra_formats, parse_variants, render_image
from imgsvc.imaging.animation import AnimationLimits

ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)
SPECS = parse_variants("thumb:64x64:cover,xs:160,sm:400")
DURATIONS = [80, 120, 200, 40, 160, 100]
COLOURS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 230, 30), (30, 220, 220), (0, 0, 0)]


def frames(width: int = 300, height: int = 200) -> list[Image.Image]:
    """A ball moving left to right, each frame its own colour."""
    made = []
    for index, colour in enumerate(COLOURS):
        frame = Image.new("RGB", (width, height), (245, 245, 245))
        x = 20 + index * (width - 80) // len(COLOURS)
        ImageDraw.Draw(frame).ellipse([x, height // 2 - 30, x + 60, height // 2 + 30], colour)
        made.append(frame)
    return made


def animation(fmt: str, width: int = 300, height: int = 200) -> bytes:
    images = frames(width, height)
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=DURATIONS, loop=3)
    return buffer.getvalue()


KEEP = AnimationLimits()


def render(data: bytes, limits: AnimationLimits | None = KEEP, **options: object):
    return render_image(
        data,
        SPECS,
        allowed_formats=ALLOWED,
        max_pixels=Defaults.MAX_IMAGE_PIXELS,
        options=EncodeOptions(**options),  # type: ignore[arg-type]
        animation=limits,
    )


def ball_colours(data: bytes) -> list[tuple[int, ...]]:
    """The ball's colour (the median of the pixels off the background) in each frame."""
    image = Image.open(io.BytesIO(data))
    found = []
    for index in range(image.n_frames):
        image.seek(index)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
        ball = pixels[np.abs(pixels - 245).max(axis=1) > 60]
        found.append(tuple(int(v) for v in np.median(ball, axis=0)))
    return found


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_width_variants_keep_every_frame_with_its_timing(fmt: str) -> None:
    rendering = render(animation(fmt))
    variants = {v.name: v for v in rendering.variants}
    assert rendering.animation == {"kept": True, "frames": 6}
    for name, size in (("xs", (160, 107)), ("sm", (300, 200))):
        variant = variants[name]
        image = Image.open(io.BytesIO(variant.data))
        assert (variant.format, image.format, image.size) == (
            "WEBP",
            "WEBP",
            size,
        )
        assert image.n_frames == 6 and image.info.get("loop") == 3
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            image.load()  # Pillow reads a WebP frame's duration as it decodes it
            durations.append(image.info["duration"])
        assert durations == DURATIONS
        for got, colour in zip(ball_colours(variant.data), COLOURS, strict=True):
            assert np.abs(np.array(got) - colour).max() < 60, (name, got, colour)
        assert not image.getexif() and "icc_profile" not in image.info


def test_the_thumbnail_stays_a_still_of_the_first_frame() -> None:
    thumb = render(animation("GIF")).variants[0]
    image = Image.open(io.BytesIO(thumb.data))
    assert getattr(image, "n_frames", 1) == 1 and (image.width, image.height) == (64, 64)


def test_without_the_setting_animations_become_stills() -> None:
    rendering = render(animation("GIF"), limits=None)
    assert rendering.animation is None
    for variant in rendering.variants:
        assert getattr(Image.open(io.BytesIO(variant.data)), "n_frames", 1) == 1


@pytest.mark.parametrize(
    "limits",
    [AnimationLimits(max_frames=5), AnimationLimits(max_pixels=6 * 300 * 200 - 1)],
    ids=["frames", "pixels"],
)
def test_past_a_cap_the_animation_becomes_stills_with_the_reason(limits) -> None:
    rendering = render(animation("GIF"), limits=limits)
    assert rendering.animation is not None
    assert (rendering.animation["kept"], rendering.animation["reason"]) == (
        False,
        "animation_too_large",
    )
    for variant in rendering.variants:
        assert getattr(Image.open(io.BytesIO(variant.data)), "n_frames", 1) == 1


def test_exactly_at_the_caps_it_is_kept() -> None:
    limits = AnimationLimits(max_frames=6, max_pixels=6 * 300 * 200)
    assert render(animation("GIF"), limits=limits).animation == {"kept": True, "frames": 6}


def test_still_gif_is_not_an_animation() -> None:
    buffer = io.BytesIO()
    frames()[0].save(buffer, "GIF")
    assert render(buffer.getvalue()).animation is None


def test_animated_variants_get_no_extra_formats_but_the_thumbnail_does() -> None:
    options = {"extra_formats": parse_extra_formats("webp,avif")}
    for deferred in (False, True):
        rendering = render_image(
            animation("GIF"),
            SPECS,
            allowed_formats=ALLOWED,
            max_pixels=Defaults.MAX_IMAGE_PIXELS,
            options=EncodeOptions(**options),  # type: ignore[arg-type]
            animation=AnimationLimits(),
            defer_extras=deferred,
        )
        if deferred:
            from imgsvc.imaging import render_extras

            variants = render_extras(rendering, EncodeOptions(**options))  # type: ignore[arg-type]
        else:
            variants = rendering.variants
        by_name = {v.name: v for v in variants}
        assert set(by_name["thumb"].alternates) == {"webp", "avif"}
        assert by_name["xs"].alternates == {} and by_name["sm"].alternates == {}
        assert Image.open(io.BytesIO(by_name["sm"].data)).n_frames == 6
