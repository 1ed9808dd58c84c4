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

from tests.support.images import BenchInput
from tests.support.strategies import STRATEGIES

# (label, format, save parameters), per kind of output.
RGBA_CANDIDATES = [
    *[(f"WebP q80 method {m}", "WEBP", {"quality": 80, "method": m}) for m in (0, 2, 3, 4)],
    ("PNG level 6", "PNG", {"compress_level": 6}),
    ("AVIF q60 speed 8", "AVIF", {"quality": 60, "speed": 8, "max_threads": 1}),
]
RGB_CANDIDATES = [
    ("JPEG q85 progressive", "JPEG", {"quality": 85, "progressive": True, "optimize": True}),
    *[(f"WebP q80 method {m}", "WEBP", {"quality": 80, "method": m}) for m in (2, 3, 4)],
    *[
        (f"AVIF q60 speed {s}", "AVIF", {"quality": 60, "speed": s, "max_threads": 1})
        for s in (6, 8, 10)
    ],
]
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
