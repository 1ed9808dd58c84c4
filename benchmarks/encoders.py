"""Encoder settings, measured: CPU time and bytes for the six outputs of an input.

The outputs are imgsvc's own (before encoding), so the figures are what a job
pays. One run per setting: the differences that decide are large (AVIF speed
6 costs ~3x speed 8; WebP method 0 makes ~30 % more bytes than 3).
"""

from __future__ import annotations

import io
import time

from PIL import Image, features

from benchmarks.inputs import BenchInput
from benchmarks.strategies import STRATEGIES

# (label, format, save parameters), per kind of output.
RGBA_CANDIDATES = [
    *[(f"WebP q80 method {m}", "WEBP", {"quality": 80, "method": m}) for m in (0, 2, 3, 4)],
    ("PNG level 6", "PNG", {"compress_level": 6}),
    ("AVIF q60 speed 8", "AVIF", {"quality": 60, "speed": 8, "max_threads": 1}),
]
RGB_CANDIDATES = [
    ("JPEG q85 progressive", "JPEG", {"quality": 85, "progressive": True, "optimize": True}),
    *[(f"WebP q80 method {m}", "WEBP", {"quality": 80, "method": m}) for m in (0, 3, 4)],
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


def measure(inputs: list[BenchInput]) -> dict:
    """CPU ms and bytes of each candidate setting, for the inputs in ``MEASURED_INPUTS``."""
    _setup, _job, pixels = STRATEGIES["imgsvc"]
    results: dict = {}
    for bench_input in inputs:
        candidates = MEASURED_INPUTS.get(bench_input.name)
        if not candidates:
            continue
        images = list(pixels(bench_input.data).values())
        rows = []
        for label, fmt, params in candidates:
            if fmt == "AVIF" and not features.check("avif"):
                continue
            cpu_ms, size = _encode_all(images, fmt, params)
            rows.append({"setting": label, "cpu_ms": round(cpu_ms, 1), "bytes": size})
        results[bench_input.name] = rows
    return results
