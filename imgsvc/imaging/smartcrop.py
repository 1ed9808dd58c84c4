"""Where a cover crop looks: the upload's focal point, or a cheap automatic choice.

A cover variant (the 200×200 thumbnail) shows only part of the image. Which
part is its ``focus``: a point (x, y in 0–1 of the oriented image) that the
crop is centred on as far as the image allows (``resize.crop_box``).

Without a focal point from the upload, ``CROP=smart`` picks one as libvips'
``smartcrop`` does, on a small copy: the image's luma is reduced to at most
``ANALYSIS_SIDE`` pixels a side, its detail measured as the gradient
magnitude of each pixel (a subject on a plain background is where the edges
are), and the crop window of the variant's aspect slid along the image's
long axis to where it holds the most detail. Where no window holds clearly
more than the centred one (``CENTRE_MARGIN``), the centre stays: a uniform
picture keeps today's crop. ``CROP=centre`` skips all of it.

How a cover crop is chosen is part of its variant's identity
(:func:`crop_identity`, ``VariantSpec.crop``): ``centre``, ``smart``, or
``focus=x,y`` with the focal point to ``FOCUS_DECIMALS`` places (focal points
are kept rounded, so equal identities make equal bytes).

What it costs is a resize of the decoded image to the small copy and a few
array operations on it (figures: BENCHMARKS.md, bench).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from imgsvc.errors import InvalidFocus
from imgsvc.imaging.variants import VariantSpec

Focus = tuple[float, float]
Box = tuple[float, float, float, float]
CROP_MODES = ("smart", "centre")
ANALYSIS_SIDE = 128
# A window must hold this much more detail than the centred one to move the crop.
CENTRE_MARGIN = 1.1
# A focal point to a thousandth of the image: finer moves no crop by a pixel at thumbnail sizes.
FOCUS_DECIMALS = 3


def parse_crop(text: str) -> str:
    """``smart`` or ``centre`` (``center`` too); raise ``ValueError`` otherwise."""
    mode = text.strip().lower().replace("center", "centre")
    if mode not in CROP_MODES:
        raise ValueError(f"Unknown crop {text!r}: use {' or '.join(CROP_MODES)}")
    return mode


def parse_focus(value: object) -> Focus | None:
    """An upload's focal point, x from the left and y from the top of the image
    as shown, rounded to ``FOCUS_DECIMALS``: ``"0.3,0.6"`` or ``[0.3, 0.6]`` →
    (0.3, 0.6). None for ``None`` or an empty string (no focal point); raises
    ``InvalidFocus`` when malformed or outside 0–1."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        parts: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise InvalidFocus()
    if len(parts) != 2 or any(isinstance(part, bool) for part in parts):
        raise InvalidFocus()
    try:
        x, y = (float(part) for part in parts)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidFocus() from None
    if not (0 <= x <= 1 and 0 <= y <= 1):  # NaN fails both
        raise InvalidFocus()
    return (round(x, FOCUS_DECIMALS), round(y, FOCUS_DECIMALS))


def crop_identity(focus: Focus | None, crop: str) -> str:
    """How an image's cover crops are chosen, as a variant's identity records it:
    ``focus=x,y`` for a focal point, else the ``CROP`` setting (``smart``/``centre``)."""
    if focus is not None:
        return f"focus={focus[0]:.{FOCUS_DECIMALS}f},{focus[1]:.{FOCUS_DECIMALS}f}"
    return parse_crop(crop)


def detail_map(image: Image.Image, area: Box) -> np.ndarray:
    """The gradient magnitude of ``image``'s ``area``, reduced to ``ANALYSIS_SIDE``."""
    width, height = area[2] - area[0], area[3] - area[1]
    scale = min(1.0, ANALYSIS_SIDE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = image.resize(size, Image.Resampling.BOX, box=area)
    if small.mode != "L":
        small = small.convert("L")
    luma = np.asarray(small, dtype=np.float32)
    detail = np.zeros_like(luma)
    detail[:, :-1] += np.abs(np.diff(luma, axis=1))
    detail[:-1, :] += np.abs(np.diff(luma, axis=0))
    return detail


def automatic_focus(detail: np.ndarray, spec: VariantSpec) -> Focus:
    """The focus of ``spec``'s crop that holds the most of ``detail`` (see the module)."""
    rows, columns = detail.shape
    box_h = spec.height or spec.width
    aspect = spec.width / box_h
    if columns / rows > aspect:  # wider than the crop: slide across
        return (_best_centre(detail.sum(axis=0), aspect * rows / columns), 0.5)
    return (0.5, _best_centre(detail.sum(axis=1), columns / aspect / rows))


def _best_centre(profile: np.ndarray, fraction: float) -> float:
    """The centre (0–1) of the window, ``fraction`` of ``profile`` long, with the
    most in it; 0.5 unless it beats the centred window by ``CENTRE_MARGIN``."""
    length = profile.size
    window = max(1, min(length, round(fraction * length)))
    if window >= length:
        return 0.5
    sums = np.convolve(profile, np.ones(window, dtype=np.float32), mode="valid")
    centred = sums[(length - window) // 2]
    first = int(np.argmax(sums))
    if sums[first] <= centred * CENTRE_MARGIN:
        return 0.5
    # Every window holding a small subject whole ties: take the middle one, so
    # the subject is centred in the crop rather than at its edge.
    last = sums.size - 1 - int(np.argmax(sums[::-1]))
    return ((first + last) / 2 + window / 2) / length


def with_focus(
    specs: list[VariantSpec], focus: Focus | None, detail: np.ndarray | None
) -> list[VariantSpec]:
    """``specs`` with each cover crop's focus: ``focus`` when given, else the
    automatic one from ``detail`` (None: centred, as the specs are)."""
    chosen = []
    for spec in specs:
        if spec.cover and focus is not None:
            spec = spec.with_focus(focus)
        elif spec.cover and detail is not None:
            spec = spec.with_focus(automatic_focus(detail, spec))
        chosen.append(spec)
    return chosen
