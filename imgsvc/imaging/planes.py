"""Opaque photos resized the way a JPEG stores them: luma whole, chroma at half size.

An opaque output is encoded as a 4:2:0 JPEG: libjpeg converts RGB to YCbCr
and keeps one Cb and one Cr sample per 2x2 block, their average. Lanczos and
the colour conversion are both linear, so resizing the luma at the output
size and Cb and Cr at half of it gives the planes the encoder would have
made from an RGB resize (up to rounding), for about a third less work: one
channel at full size and two at a quarter of it, instead of three (four in
Pillow's memory) at full size.

The planes come from one of two places:

- a 4:2:0 JPEG's own planes, decoded as stored (``jpegplanes``): the usual
  photo, and the cheapest;
- ``split_planes`` of a decoded RGB(X) image: luma by ``convert("L")``, which
  uses libjpeg's own Y weights (BT.601, 16-bit fixed point), so it is exactly
  the Y the encoder would compute; chroma from the source reduced 2x (a 2x2
  box average, like libjpeg's downsampling), converted with libjpeg's
  weights: a quarter of the pixels to convert.

Then:

- each plane goes through the usual cascade (``resize.resize_all``; chroma
  with ``scale=0.5``), and each output's Cb and Cr are split at half size,
  doubled back with NEAREST and merged: every 2x2 block then holds one value,
  which the encoder's averaging keeps as it is. The JPEG encoder takes YCbCr
  as it is.

Memory: ``split_planes`` keeps only the luma and the half-size chroma, so
the caller frees the decoded source (a job's largest buffer) before any
resize, and each output's planes are freed once merged: a lower peak and
fewer page faults per job (figures in BENCHMARKS.md, bench).

The planes are not quite an RGB resize: the chroma's Lanczos works on the
half-size grid, so it is a little softer than Lanczos at the output size
followed by 2x2 averaging, though by less than q85 encoding itself changes
the chroma (``make bench`` reports the largest mean Cb/Cr difference from
naive). The smaller the output, the more that shows (most on saturated
colours), and the less there is to save: outputs narrower than
``PLANES_MIN_WIDTH`` are resized whole (Y, Cb and Cr, the same as from RGB
since both are linear, without converting either way) from the smallest
large output, as the cascade would make them, which keeps them closer to
naive's colours.

Cb and Cr are resized together, as the two bands of one "La" image: one
cascade costs less than two of "L" images (BENCHMARKS.md, bench).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from imgsvc.imaging.resize import Box, resize_all
from imgsvc.imaging.variants import VariantSpec

PLANE_MODES = ("RGB", "RGBX")
# Smaller outputs are resized whole from the smallest large one (see the module docstring).
PLANES_MIN_WIDTH = 1024
# Below this (decoded) the fixed costs win: conversions, merges make small photos slower.
PLANES_MIN_PIXELS = 3_000_000
# libjpeg's RGB -> Cb, Cr (jccolor.c), rounded. Pillow's convert("YCbCr")
# truncates: half a level bluer and redder, visible on flat colours.
_CB = (-0.16874, -0.33126, 0.5, 128.0)
_CR = (0.5, -0.41869, -0.08131, 128.0)


@dataclass(frozen=True)
class Planes:
    """An opaque photo split for resizing: ``luma`` (L) whole, and ``chroma``, its
    Cb and Cr at half size as the two bands of an "La" image; ``size`` and
    ``area`` as in ``resize.resize_all`` (``area``: of the luma; the chroma's is
    half of it)."""

    luma: Image.Image
    chroma: Image.Image
    size: tuple[int, int]
    area: Box


def wants_planes(size: tuple[int, int], specs: list[VariantSpec], pixels: int) -> bool:
    """Whether ``specs`` of an opaque image of ``size``, decoded to ``pixels``,
    are best made as planes: some whole-image output is at least
    ``PLANES_MIN_WIDTH`` wide, and the decoded image has ``PLANES_MIN_PIXELS``."""
    return bool(_large(size, specs, whole=True)) and pixels >= PLANES_MIN_PIXELS


def split_planes(
    source: Image.Image,
    size: tuple[int, int],
    specs: list[VariantSpec],
    area: Box | None = None,
) -> Planes | None:
    """The planes of an opaque ``source`` (RGB or RGBX), or None when ``specs`` are
    better made from it as RGB (see ``wants_planes``).

    The planes hold all the resizes need: the caller frees ``source`` (a job's
    largest buffer) before they start, which keeps the job's peak memory low.
    """
    if source.mode not in PLANE_MODES:
        raise ValueError(f"split_planes takes RGB or RGBX, not {source.mode}")
    if not wants_planes(size, specs, source.width * source.height):
        return None
    area = area or (0, 0, source.width, source.height)
    return Planes(source.convert("L"), _chroma(source.reduce(2)), size, area)


def resize_planes(
    planes: Planes, specs: list[VariantSpec]
) -> list[tuple[VariantSpec, Image.Image]]:
    """Every output of ``specs`` from ``planes``, in the order of ``specs``.

    Every output is YCbCr. Those at least ``PLANES_MIN_WIDTH`` wide have their
    chroma constant over 2x2 blocks (what a 4:2:0 JPEG keeps); smaller ones are
    resized, all three bands, from the smallest whole-image one. Outputs that
    come out the same as another are the same object.
    """
    size = planes.size
    made = dict(_merged(planes, _large(size, specs, whole=False)))
    base = made[min(_large(size, specs, whole=True), key=lambda spec: spec.target_size(*size)[0])]
    small = [spec for spec in specs if spec not in made]
    if small:
        # Resized as YCbCr: the same as from RGB (both linear), with no conversion
        # either way, and the encoder takes YCbCr as it is.
        made.update(resize_all(base, size, small, (0, 0, *base.size)))
    return [(spec, made[spec]) for spec in specs]


def _large(size: tuple[int, int], specs: list[VariantSpec], *, whole: bool) -> list[VariantSpec]:
    """The outputs made as planes (``whole``: only those showing the whole image)."""
    return [
        spec
        for spec in specs
        if spec.target_size(*size)[0] >= PLANES_MIN_WIDTH and not (whole and spec.cover)
    ]


def _merged(planes: Planes, specs: list[VariantSpec]) -> list[tuple[VariantSpec, Image.Image]]:
    """``specs`` resized as planes, merged into YCbCr images."""
    left, top, right, bottom = planes.area
    half: Box = (left / 2, top / 2, right / 2, bottom / 2)
    resized = list(
        zip(
            resize_all(planes.luma, planes.size, specs, planes.area),
            resize_all(planes.chroma, planes.size, specs, half, scale=0.5),
            strict=True,
        )
    )
    merged: dict[tuple[int, int], Image.Image] = {}
    outputs = []
    # Popped: each output's planes are freed once merged. (All were alive together,
    # so no two distinct planes share an id: equal ids are one shared image.)
    while resized:
        (spec, y), (_spec, cbcr) = resized.pop(0)
        key = (id(y), id(cbcr))
        if key not in merged:
            # Split at half size, then doubled: one byte a sample, not La's four.
            merged[key] = Image.merge("YCbCr", (y, *(_doubled(c, y.size) for c in cbcr.split())))
        outputs.append((spec, merged[key]))
    return outputs


def _chroma(reduced: Image.Image) -> Image.Image:
    """Cb and Cr (libjpeg's, rounded) of an RGB(X) image, as the bands of an "La" image."""
    rgb = reduced if reduced.mode == "RGB" else reduced.convert("RGB")
    # "La", not "LA": Pillow would premultiply Cr by Cb.
    return Image.merge("La", (rgb.convert("L", matrix=_CB), rgb.convert("L", matrix=_CR)))


def _doubled(chroma: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A half-size image repeated over 2x2 blocks, cut to ``size`` (odd sizes too)."""
    box = (0, 0, size[0] / 2, size[1] / 2)
    return chroma.resize(size, Image.Resampling.NEAREST, box=box)
