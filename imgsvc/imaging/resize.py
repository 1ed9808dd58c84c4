"""Resizing: every output from one source, in a cascade, with premultiplied alpha.

Each output is made with Lanczos from the smallest image already made that is
at least ``CASCADE_RATIO`` (1.25) times its width, else from the source. Each
step then reads fewer pixels than a resize from the source would. The ratio
was chosen by measurement (``make bench`` shows both; BENCHMARKS.md): the
usual rule of 2x costs more CPU per big JPEG, and 1.25x still matches a resize
of the full image (its SSIM and sharpness bounds are pinned by a test).

Pillow's ``resize`` premultiplies RGBA on every call and un-premultiplies the
result. Here RGBA is premultiplied once, every resize works on ``RGBa``, and
each output is un-premultiplied once, at the end: fewer passes, and no
rounding loss compounding along the cascade.

The same cascade also makes the chroma planes of a photo at half the output
size (``scale=0.5``, see ``planes``): an output of odd width or height then
has a last chroma sample reaching half a pixel past the picture, and the
image it is resized from is padded by repeating its edge for that.
"""

from __future__ import annotations

import math

from PIL import Image

from imgsvc.imaging.variants import VariantSpec

_LANCZOS = Image.Resampling.LANCZOS
CASCADE_RATIO = 1.25
# Lanczos after an integer box reduction only when the ratio is 3x past it:
# Pillow documents the result as indistinguishable from plain Lanczos.
_REDUCING_GAP = 3.0


Box = tuple[float, float, float, float]


def crop_box(spec: VariantSpec, width: float, height: float) -> Box:
    """The box of a ``cover`` variant's aspect ratio in a ``width``×``height`` area,
    centred on the spec's focus as far as the area allows."""
    box_w, box_h = spec.width, spec.height or spec.width
    crop_w = min(width, height * box_w / box_h)
    crop_h = min(height, width * box_h / box_w)
    focus_x, focus_y = spec.focus
    left = min(max(focus_x * width - crop_w / 2, 0.0), width - crop_w)
    top = min(max(focus_y * height - crop_h / 2, 0.0), height - crop_h)
    return (left, top, left + crop_w, top + crop_h)


def _within(box: Box, area: Box) -> Box:
    """``box`` (relative to ``area``'s corner) in the coordinates of ``area``'s image."""
    return (area[0] + box[0], area[1] + box[1], area[0] + box[2], area[1] + box[3])


def _cascade_source(
    spec: VariantSpec, out_width: float, pool: list[tuple[Image.Image, Box]]
) -> tuple[Image.Image, Box]:
    """The smallest image in ``pool`` at least ``CASCADE_RATIO`` x the output, else the source."""
    for image, area in sorted(pool, key=lambda entry: entry[1][2] - entry[1][0]):
        span = area[2] - area[0]
        if spec.cover:
            left, _top, right, _bottom = crop_box(spec, span, area[3] - area[1])
            span = right - left
        if span >= CASCADE_RATIO * out_width:
            return image, area
    return pool[0]


def _padded(image: Image.Image, box: Box) -> Image.Image:
    """``image``, its last column and row repeated as far as ``box`` reaches past it."""
    width, height = image.size
    right = max(0, math.ceil(box[2]) - width)
    bottom = max(0, math.ceil(box[3]) - height)
    if not (right or bottom):
        return image
    padded = Image.new(image.mode, (width + right, height + bottom))
    padded.paste(image)
    if right:
        edge = image.crop((width - 1, 0, width, height))
        padded.paste(edge.resize((right, height), Image.Resampling.NEAREST), (width, 0))
    if bottom:
        edge = padded.crop((0, height - 1, width + right, height))
        padded.paste(edge.resize((width + right, bottom), Image.Resampling.NEAREST), (0, height))
    return padded


def resize_all(
    source: Image.Image,
    size: tuple[int, int],
    specs: list[VariantSpec],
    area: Box | None = None,
    *,
    scale: float = 1.0,
) -> list[tuple[VariantSpec, Image.Image]]:
    """Make every output of ``specs`` from ``source``, in the order of ``specs``.

    ``size`` is the full oriented size of the image: output sizes follow from
    it, not from a scaled decode's rounded dimensions. ``area`` is the part of
    ``source`` that shows the whole image: a JPEG decoded at M/8 has a partial
    last block, so 4095 px at 3/8 are 1535.6 px, not 1536 (default: all of it).
    Outputs that come out the same size as their input are the same object
    (encode them once).

    ``scale`` makes every output that much of its size, rounded up, showing
    the same part of the picture (0.5: the chroma of a 4:2:0 JPEG; ``area``
    is then in ``source``'s pixels, so halved too).
    """
    if source.mode == "RGBX":  # a scaled decode's layout: outputs are RGB
        source = source.convert("RGB")
    premultiplied = source.mode == "RGBA"
    whole: Box = (0, 0, source.width, source.height)
    pool = [(source.convert("RGBa") if premultiplied else source, area or whole)]
    made: dict[str, Image.Image] = {}
    for spec in sorted(specs, key=lambda s: s.target_size(*size)[0], reverse=True):
        full = spec.target_size(*size)
        exact = (full[0] * scale, full[1] * scale)
        out = (math.ceil(exact[0]), math.ceil(exact[1]))
        pick, pick_area = _cascade_source(spec, exact[0], pool)
        box = pick_area
        if spec.cover:
            width, height = pick_area[2] - pick_area[0], pick_area[3] - pick_area[1]
            box = _within(crop_box(spec, width, height), pick_area)
        if out != exact:  # the last column or row reaches past the picture
            left, top, right, bottom = box
            box = (
                left,
                top,
                left + (right - left) / exact[0] * out[0],
                top + (bottom - top) / exact[1] * out[1],
            )
            pick = _padded(pick, box)
        if box == (0, 0, *out) and out == pick.size:
            image = pick
        else:
            image = pick.resize(out, _LANCZOS, box=box, reducing_gap=_REDUCING_GAP)
        made[spec.name] = image
        if not spec.cover and image is not pick:
            pool.append((image, (0, 0, *exact)))
    if premultiplied:
        straight = {id(image): image.convert("RGBA") for image in made.values()}
        made = {name: straight[id(image)] for name, image in made.items()}
    return [(spec, made[spec.name]) for spec in specs]
