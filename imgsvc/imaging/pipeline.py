"""The image job's pixels: one decode, every variant, metadata stripped.

Order of work (each step in its module):

1. ``decode``: open (allowed formats only) → check pixels → decode, JPEGs
   already scaled to the smallest M/8 that covers the largest output → apply
   EXIF orientation → ``colour``: sRGB (ICC/CMYK), 8 bits, alpha kept or dropped.
   A 4:2:0 photo is decoded straight to its stored planes (``jpegplanes``);
2. ``resize``: each output from the smallest image at least 1.25 times its
   width (a Lanczos cascade). Opaque colour images (every output a JPEG) are
   resized as ``planes``: luma at the output size, chroma at half of it, what
   a 4:2:0 JPEG keeps; grey images as their one plane; RGBA premultiplied once;
3. ``encode``: progressive JPEG (from YCbCr or L), or WebP/PNG with alpha,
   plus extra formats (from RGB); no metadata;
4. ``placeholder``: BlurHash and dominant colour from the smallest output;
5. ``metadata``: the safe part of the original's metadata (capture time,
   camera, orientation, profile name), read from the header opened in step 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from imgsvc.errors import AnimationTooLarge
from imgsvc.imaging.animation import (
    AnimationLimits,
    frame_count,
    is_animated,
    render_animated,
)
from imgsvc.imaging.animation import check as check_animation
from imgsvc.imaging.decode import Decoded, decode_opened, open_image
from imgsvc.imaging.encode import (
    EncodeOptions,
    RenderedVariant,
    encode_extras,
    encode_variants,
)
from imgsvc.imaging.jpegplanes import decode_planes
from imgsvc.imaging.metadata import safe_metadata
from imgsvc.imaging.nclx import stated_nclx
from imgsvc.imaging.placeholder import Placeholder, make_placeholder
from imgsvc.imaging.planes import PLANE_MODES, Planes, resize_planes, split_planes
from imgsvc.imaging.resize import resize_all
from imgsvc.imaging.smartcrop import Focus, detail_map, with_focus
from imgsvc.imaging.structure import StructureLimits
from imgsvc.imaging.variants import VariantSpec


@dataclass(frozen=True)
class Rendering:
    """Every variant of one image, in the order of the specs, its placeholder, and
    the safe part of the original's metadata (``metadata.safe_metadata``)."""

    variants: list[RenderedVariant]
    placeholder: Placeholder
    metadata: dict[str, Any] = field(default_factory=dict)
    # With ``defer_extras``: the outputs, kept for ``render_extras``.
    outputs: list[tuple[str, Image.Image]] = field(default_factory=list)
    # With ``animation`` limits, for an animated source: ``{"kept", "frames"}``, or
    # ``{"kept": False, "reason", "message"}`` when it was past them.
    animation: dict[str, Any] | None = None


def render_image(
    data: bytes,
    specs: list[VariantSpec],
    *,
    allowed_formats: list[str],
    max_pixels: int,
    options: EncodeOptions | None = None,
    limits: StructureLimits | None = None,
    focus: Focus | None = None,
    crop: str = "smart",
    defer_extras: bool = False,
    animation: AnimationLimits | None = None,
) -> Rendering:
    """Decode ``data`` once; return every variant of ``specs``, encoded, and a placeholder.

    ``limits`` bounds the structure walk before decoding (the job passes its
    settings'; without it, ``structure.current_limits``). Cover crops are
    centred on ``focus`` (x, y in 0–1) when given, else on the automatic
    choice of ``smartcrop`` (``crop="smart"``) or the centre (``"centre"``).
    With ``defer_extras`` only the primary formats are encoded; the outputs
    are kept for ``render_extras``, so the primaries can be stored first.
    With ``animation`` limits, an animated GIF/WebP within them has its
    width-bound variants made as animated WebP (``animation``).
    Raises
    ``InvalidImage`` when the bytes cannot be decoded and ``ImageTooLarge``
    when the image is over ``max_pixels`` or past ``limits``.
    """
    options = options or EncodeOptions()
    header = open_image(data, allowed_formats, max_pixels, limits)
    metadata = safe_metadata(header, _nclx_primaries(data, header))
    animated: dict[str, RenderedVariant] = {}
    note: dict[str, Any] | None = None
    if animation is not None and is_animated(header):
        try:
            check_animation(header, animation)
            animated = {v.name: v for v in render_animated(header, specs, options)}
            note = {"kept": True, "frames": frame_count(header)}
        except AnimationTooLarge as exc:
            note = {"kept": False, "reason": exc.code, "message": exc.message}
    start = start_from(data, header, specs, max_pixels)
    del header  # it may hold the decoded pixels: freed before the resizes (see decode_start)
    if any(spec.cover for spec in specs) and (focus is not None or crop == "smart"):
        specs = with_focus(specs, focus, None if focus is not None else detail_of(start))
    outputs = resize_prepared(start, specs)
    del start
    placeholder = make_placeholder(_smallest(outputs))
    # Animated variants replace the stills of their names (made for the thumbnail and
    # the placeholder); they get no extra formats.
    named = [(spec.name, image) for spec, image in outputs if spec.name not in animated]
    if defer_extras:
        primaries = encode_variants(named, replace(options, extra_formats=()))
        variants = _merged(specs, primaries, animated)
        return Rendering(variants, placeholder, metadata, named, note)
    variants = _merged(specs, encode_variants(named, options), animated)
    return Rendering(variants, placeholder, metadata, animation=note)


def _merged(
    specs: list[VariantSpec],
    stills: list[RenderedVariant],
    animated: dict[str, RenderedVariant],
) -> list[RenderedVariant]:
    """The variants in the order of ``specs``, animated ones where made."""
    by_name = {variant.name: variant for variant in stills} | animated
    return [by_name[spec.name] for spec in specs]


def render_extras(rendering: Rendering, options: EncodeOptions) -> list[RenderedVariant]:
    """The variants of a ``defer_extras`` rendering with their extra formats
    (``options.extra_formats``) encoded from the kept outputs."""
    return encode_extras(rendering.outputs, rendering.variants, options)


def render_variants(
    data: bytes,
    specs: list[VariantSpec],
    *,
    allowed_formats: list[str],
    max_pixels: int,
    options: EncodeOptions | None = None,
) -> list[RenderedVariant]:
    """Decode ``data`` once and return every variant of ``specs``, encoded."""
    return render_image(
        data, specs, allowed_formats=allowed_formats, max_pixels=max_pixels, options=options
    ).variants


def decode_start(
    data: bytes,
    specs: list[VariantSpec],
    allowed_formats: list[str],
    max_pixels: int,
    limits: StructureLimits | None = None,
) -> Decoded | Planes:
    """What the resizes of ``specs`` start from, decoded from ``data``: a 4:2:0
    photo's stored planes, else the decoded source or the planes split from it.

    Raises ``InvalidImage`` and ``ImageTooLarge`` as ``decode`` does.
    """
    return start_from(
        data, open_image(data, allowed_formats, max_pixels, limits), specs, max_pixels
    )


def start_from(
    data: bytes, header: Image.Image, specs: list[VariantSpec], max_pixels: int
) -> Decoded | Planes:
    """``decode_start`` for an image ``open_image`` has already read the header of."""
    planes = decode_planes(data, header, specs)
    if planes is not None:
        return planes
    # The decoded source is the largest buffer: when split into planes it is
    # freed on return, before any resize, and its pages serve the images made
    # next: in a forked work-horse, as RQ runs a job, that lowers the peak RSS
    # and the page faults (each one kernel CPU time; BENCHMARKS.md, bench).
    return prepare(decode_opened(data, header, specs, max_pixels), specs)


def prepare(source: Decoded, specs: list[VariantSpec]) -> Decoded | Planes:
    """What the resizes of ``specs`` start from: an opaque photo's planes, else ``source``."""
    if source.image.mode not in PLANE_MODES:
        return source
    return split_planes(source.image, source.size, specs, source.area) or source


def resize_prepared(
    start: Decoded | Planes, specs: list[VariantSpec]
) -> list[tuple[VariantSpec, Image.Image]]:
    """Every output of ``specs`` from what ``decode_start`` or ``prepare`` returned:
    YCbCr for opaque colour images (see ``planes``), else the mode of the
    source (L, RGB or RGBA)."""
    if isinstance(start, Planes):
        return resize_planes(start, specs)
    return resize_all(start.image, start.size, specs, start.area)


def detail_of(start: Decoded | Planes) -> np.ndarray:
    """The detail map of the smart crop, from the luma when the image was split."""
    if isinstance(start, Planes):
        return detail_map(start.luma, start.area)
    return detail_map(start.image, start.area)


def _nclx_primaries(data: bytes, header: Image.Image) -> int | None:
    """The nclx colour primaries a HEIF/AVIF states, for its profile's name."""
    if header.format not in ("HEIF", "AVIF"):
        return None
    nclx = stated_nclx(data)
    return nclx.primaries if nclx else None


def _smallest(outputs: list[tuple[VariantSpec, Image.Image]]) -> Image.Image:
    """The smallest whole-image output (a cover crop shows only part of the image)."""
    whole = [image for spec, image in outputs if not spec.cover] or [i for _s, i in outputs]
    return min(whole, key=lambda image: image.width * image.height)
