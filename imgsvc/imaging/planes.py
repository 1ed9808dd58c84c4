"""Opaque photos resized the way a JPEG stores them: luma whole, chroma at half size.

An opaque output is encoded as a 4:2:0 JPEG: libjpeg converts RGB to YCbCr
and keeps one Cb and one Cr sample per 2x2 block, their average. Lanczos and
the colour conversion are both linear, so resizing the luma at the output
size and Cb and Cr at half of it gives the planes the encoder would have
made from an RGB resize (up to rounding), for about a third less work: one
channel at full size and two at a quarter of it, instead of three (four in
Pillow's memory) at full size.

- luma: ``convert("L")`` uses libjpeg's own Y weights (BT.601, 16-bit fixed
  point), so it is exactly the Y the encoder would compute;
- chroma: the source is first reduced 2x (a 2x2 box average, like libjpeg's
  downsampling), then Cb and Cr are computed with libjpeg's weights: a
  quarter of the pixels to convert;
- each plane goes through the usual cascade (``resize.resize_all``; chroma
  with ``scale=0.5``), and each output's chroma is doubled back with NEAREST
  and merged: every 2x2 block then holds one value, which the encoder's
  averaging keeps as it is. The JPEG encoder takes YCbCr as it is.

The planes are not quite an RGB resize: the chroma's Lanczos works on the
half-size grid, so it is a little softer than Lanczos at the output size
followed by 2x2 averaging (measured against naive on the 12 MP photo: mean
Cb/Cr difference 0.5-0.7 of 255, q85 encoding itself changes them by 1.3).
The smaller the output, the more that shows (1.0 at 320 px, 2.5 on a
saturated test image), and the less there is to save: outputs narrower than
``PLANES_MIN_WIDTH`` are made as RGB from the smallest large output, as the
cascade would make them (0.2-0.4 of 255 from naive's colours).

Cb and Cr are resized together, as the two bands of one "La" image: one
cascade costs less than two of "L" images (measured 67 against 84 ms for the
chroma of a 12 MP photo's six outputs).
"""

from __future__ import annotations

from PIL import Image

from imgsvc.imaging.resize import Box, resize_all
from imgsvc.imaging.variants import VariantSpec

PLANE_MODES = ("RGB", "RGBX")
# Smaller outputs are made as RGB from the smallest large one (see the module docstring).
PLANES_MIN_WIDTH = 1024
# Below this (decoded) the fixed costs win: conversions, merges (1 MP: 6 ms slower).
PLANES_MIN_PIXELS = 3_000_000
# libjpeg's RGB -> Cb, Cr (jccolor.c), rounded. Pillow's convert("YCbCr")
# truncates: half a level bluer and redder, visible on flat colours.
_CB = (-0.16874, -0.33126, 0.5, 128.0)
_CR = (0.5, -0.41869, -0.08131, 128.0)


def resize_planes(
    source: Image.Image,
    size: tuple[int, int],
    specs: list[VariantSpec],
    area: Box | None = None,
) -> list[tuple[VariantSpec, Image.Image]]:
    """Every output of ``specs`` from an opaque ``source`` (RGB or RGBX).

    The arguments and the result are those of ``resize.resize_all``. Outputs
    at least ``PLANES_MIN_WIDTH`` wide are YCbCr, their chroma constant over
    2x2 blocks (what a 4:2:0 JPEG keeps); smaller ones are RGB, and so is
    everything from a source under ``PLANES_MIN_PIXELS``. Outputs that
    come out the same as another are the same object.
    """
    if source.mode not in PLANE_MODES:
        raise ValueError(f"resize_planes takes RGB or RGBX, not {source.mode}")
    large = [spec for spec in specs if spec.target_size(*size)[0] >= PLANES_MIN_WIDTH]
    bases = [spec for spec in large if not spec.cover]
    if not bases or source.width * source.height < PLANES_MIN_PIXELS:
        return resize_all(source, size, specs, area)
    made = dict(_planes(source, size, large, area))
    # The small outputs: RGB, from the smallest whole-image output made as planes.
    base = made[min(bases, key=lambda spec: spec.target_size(*size)[0])]
    small = [spec for spec in specs if spec not in made]
    if small:
        made.update(resize_all(base.convert("RGB"), size, small, (0, 0, *base.size)))
    return [(spec, made[spec]) for spec in specs]


def _planes(
    source: Image.Image, size: tuple[int, int], specs: list[VariantSpec], area: Box | None
) -> list[tuple[VariantSpec, Image.Image]]:
    """``specs`` resized as planes, merged into YCbCr images."""
    left, top, right, bottom = area or (0, 0, source.width, source.height)
    luma = source.convert("L")
    reduced = source.reduce(2)
    if reduced.mode != "RGB":
        reduced = reduced.convert("RGB")
    # "La", not "LA": Pillow would premultiply Cr by Cb.
    chroma = Image.merge("La", (reduced.convert("L", matrix=_CB), reduced.convert("L", matrix=_CR)))
    half: Box = (left / 2, top / 2, right / 2, bottom / 2)
    planes = zip(
        resize_all(luma, size, specs, area),
        resize_all(chroma, size, specs, half, scale=0.5),
        strict=True,
    )
    merged: dict[tuple[int, int], Image.Image] = {}
    outputs = []
    for (spec, y), (_spec, cbcr) in planes:
        key = (id(y), id(cbcr))
        if key not in merged:
            merged[key] = Image.merge("YCbCr", (y, *_doubled(cbcr, y.size).split()))
        outputs.append((spec, merged[key]))
    return outputs


def _doubled(chroma: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A half-size image repeated over 2x2 blocks, cut to ``size`` (odd sizes too)."""
    box = (0, 0, size[0] / 2, size[1] / 2)
    return chroma.resize(size, Image.Resampling.NEAREST, box=box)
