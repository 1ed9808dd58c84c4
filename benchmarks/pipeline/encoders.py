"""Encoder settings, measured: CPU time and bytes for the six outputs of an input.

The outputs are imgsvc's own (before encoding), so the figures are what a job
pays. The median of three interleaved runs per setting (one for AVIF, whose
speeds differ by multiples, and which is slow).
"""

from __future__ import annotations

import io
import statistics
import time

from PIL import Image, features

from imgsvc.imaging import EncodeOptions
from tests.support.images import BenchInput
from tests.support.ssim import ssim
from tests.support.strategies import STRATEGIES

# (label, format, save parameters), per kind of output.
RGBA_CANDIDATES = [
    *[(f"WebP q80 method {m}", "WEBP", {"quality": 80, "method": m}) for m in (0, 2, 3, 4)],
    ("PNG level 6", "PNG", {"compress_level": 6}),
    ("AVIF q60 speed 8", "AVIF", {"quality": 60, "speed": 8, "max_threads": 1}),
]
RGB_CANDIDATES = [
    ("JPEG q85 progressive", "JPEG", {"quality": 85, "progressive": True, "optimize": True}),
    *[(f"WebP q80 method {m}", "WEBP", {"quality": 80, "method": m}) for m in (0, 1, 2, 3, 4)],
    *[
        (f"AVIF q60 speed {s}", "AVIF", {"quality": 60, "speed": s, "max_threads": 1})
        for s in (6, 8, 9, 10)
    ],
]
# The extra formats as the job makes them, over a range of qualities, to find the
# bytes each needs for the SSIM of the JPEG primary (``equal_ssim``).
EQUAL_SSIM_INPUT = "jpeg-12mp"
JPEG_PRIMARY = ("JPEG", {"quality": 85, "progressive": True})
EXTRA_LADDERS = {
    "WebP": (
        "WEBP",
        "quality",
        (75, 80, 85, 90, 95),
        {"method": EncodeOptions().extra_webp_method},
    ),
    "AVIF": (
        "AVIF",
        "quality",
        (55, 60, 65, 70, 75, 80),
        {"speed": EncodeOptions().avif_speed, "max_threads": 1},
    ),
}
MEASURED_INPUTS = {"png-alpha-3mp": RGBA_CANDIDATES, "jpeg-12mp": RGB_CANDIDATES}


def _encode_all(images: list[Image.Image], fmt: str, params: dict) -> tuple[float, int]:
    size = 0
    started = time.process_time()
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        size += buffer.tell()
    return (time.process_time() - started) * 1000, size


def measure(inputs: list[BenchInput], rounds: int = 3) -> dict:
    """CPU ms and bytes of each candidate setting, for the inputs in ``MEASURED_INPUTS``."""
    _setup, _job, pixels = STRATEGIES["imgsvc"]
    results: dict = {}
    for bench_input in inputs:
        candidates = MEASURED_INPUTS.get(bench_input.name)
        if not candidates:
            continue
        candidates = [c for c in candidates if c[1] != "AVIF" or features.check("avif")]
        images = list(pixels(bench_input.data).values())
        times: dict[str, list[float]] = {label: [] for label, _fmt, _params in candidates}
        sizes: dict[str, int] = {}
        for round_number in range(rounds):
            for label, fmt, params in candidates:
                if fmt == "AVIF" and round_number:
                    continue
                cpu_ms, sizes[label] = _encode_all(images, fmt, params)
                times[label].append(cpu_ms)
        results[bench_input.name] = [
            {
                "setting": label,
                "cpu_ms": round(statistics.median(times[label]), 1),
                "bytes": sizes[label],
            }
            for label in times
        ]
    return results


def _scored(images: list[Image.Image], fmt: str, params: dict) -> tuple[float, int]:
    """The mean luma SSIM of ``images`` encoded as ``fmt`` against themselves, and their bytes."""
    scores, size = [], 0
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        size += buffer.tell()
        decoded = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        scores.append(ssim(image, decoded))
    return statistics.fmean(scores), size


def equal_ssim(inputs: list[BenchInput]) -> dict:
    """The bytes of each extra format (at the job's speed settings) at the SSIM of
    the JPEG primary, on the 12 MP JPEG's six outputs: each format's quality
    ladder, and the bytes interpolated between the two rungs around the JPEG's SSIM."""
    bench_input = next((i for i in inputs if i.name == EQUAL_SSIM_INPUT), None)
    if bench_input is None:
        return {}
    _setup, _job, pixels = STRATEGIES["imgsvc"]
    images = [image.convert("RGB") for image in pixels(bench_input.data).values()]
    target, jpeg_bytes = _scored(images, *JPEG_PRIMARY)
    results: dict = {
        "input": bench_input.name,
        "jpeg": {"ssim": round(target, 5), "bytes": jpeg_bytes},
    }
    for label, (fmt, knob, values, fixed) in EXTRA_LADDERS.items():
        if fmt == "AVIF" and not features.check("avif"):
            continue
        ladder = [(value, *_scored(images, fmt, {knob: value, **fixed})) for value in values]
        results[label] = {
            "settings": fixed,
            "ladder": [{"quality": q, "ssim": round(s, 5), "bytes": b} for q, s, b in ladder],
            "bytes_at_jpeg_ssim": _interpolated(ladder, target),
        }
    return results


def _interpolated(ladder: list[tuple[int, float, int]], target: float) -> int | None:
    """Bytes at ``target`` SSIM, linear between the rungs around it (None: off the ladder)."""
    for (_q0, s0, b0), (_q1, s1, b1) in zip(ladder, ladder[1:], strict=False):
        if s0 <= target <= s1:
            return round(b0 + (b1 - b0) * (target - s0) / (s1 - s0 or 1))
    return None
