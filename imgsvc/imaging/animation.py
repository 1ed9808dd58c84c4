"""Animated input to animated output (opt-in, ``IMGSVC_ANIMATED=true``).

An animated GIF or WebP keeps its animation in the width-bound variants,
each written as an animated WebP (frames, their durations and the loop
count kept; metadata dropped). The cover variants (the thumbnail) stay a
still of the first frame, as the placeholder does: both are made by the
usual pipeline.

Each output size is made in one pass over the frames, decoded one at a time
(Pillow composes each onto the previous, as GIF disposal and WebP blending
require), so what is held at once is one output's frames (RGBA, 4 bytes a
pixel), never the source's: at most ``max_pixels`` × 4 bytes, since no output
is larger than the source. Before any of it, the frame count and the
source's pixels over all frames are checked against ``AnimationLimits``;
past either the image keeps today's still variants, and the reason
(``AnimationTooLarge``'s code) goes into the manifest.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from imgsvc.errors import AnimationTooLarge
from imgsvc.imaging.colour import to_srgb
from imgsvc.imaging.encode import EncodeOptions, RenderedVariant
from imgsvc.imaging.variants import VariantSpec

ANIMATED_FORMATS = ("GIF", "WEBP")
_LANCZOS = Image.Resampling.LANCZOS
# GIF and WebP frames shorter than this are shown at this length by browsers.
_MIN_DURATION_MS = 20


@dataclass(frozen=True)
class AnimationLimits:
    """How large an animation may be kept: frames, and source pixels over all frames."""

    max_frames: int = 200
    max_pixels: int = 25_000_000


def frame_count(header: Image.Image) -> int:
    """The frames of an opened image (1 for a still)."""
    return int(getattr(header, "n_frames", 1) or 1)


def is_animated(header: Image.Image) -> bool:
    """Whether an opened image is an animation this module keeps (GIF or WebP)."""
    return header.format in ANIMATED_FORMATS and frame_count(header) > 1


def check(header: Image.Image, limits: AnimationLimits) -> None:
    """Raise ``AnimationTooLarge`` when the animation is past ``limits``."""
    frames = frame_count(header)
    if frames > limits.max_frames:
        raise AnimationTooLarge(
            f"The animation has {frames} frames; at most {limits.max_frames} are kept."
        )
    total = frames * header.width * header.height
    if total > limits.max_pixels:
        raise AnimationTooLarge(
            f"The animation has {total:,} pixels over its frames; at most "
            f"{limits.max_pixels:,} are kept."
        )


def render_animated(
    header: Image.Image, specs: list[VariantSpec], options: EncodeOptions
) -> list[RenderedVariant]:
    """The width-bound variants of ``specs`` as animated WebP, from an animation
    ``check`` accepted; an output size shared by several names is made once."""
    targets = {spec.name: spec.target_size(*header.size) for spec in specs if not spec.cover}
    loop = int(header.info.get("loop", 0) or 0)
    encoded = {out: _animation(header, out, loop, options) for out in set(targets.values())}
    return [
        RenderedVariant(name, encoded[out], out[0], out[1], "WEBP") for name, out in targets.items()
    ]


def _animation(
    header: Image.Image, out: tuple[int, int], loop: int, options: EncodeOptions
) -> bytes:
    """Every frame of ``header`` at ``out``, encoded as one animated WebP."""
    frames: list[Image.Image] = []
    durations: list[int] = []
    icc = header.info.get("icc_profile")
    for index in range(frame_count(header)):
        header.seek(index)
        frame = to_srgb(header.convert("RGBA"), icc).convert("RGBA")
        # Read after the frame is decoded: Pillow's WebP reader sets it then.
        durations.append(max(int(header.info.get("duration") or 0), _MIN_DURATION_MS))
        frames.append(frame if out == frame.size else frame.resize(out, _LANCZOS))
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=loop,
        quality=options.webp_quality,
        method=options.extra_webp_method,
    )
    return buffer.getvalue()
