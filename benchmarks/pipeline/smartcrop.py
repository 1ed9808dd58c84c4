"""What the automatic crop (``IMGSVC_CROP=smart``) adds to a job: CPU ms on each input.

Measured on the job's own start (the decoded image or its planes), in one
process: the detail map and the focus of every cover variant, the median of
``rounds`` runs. The job with it is what ``make bench`` times as ``imgsvc``.
"""

from __future__ import annotations

import statistics
import time

from imgsvc.imaging.pipeline import decode_start, detail_of
from imgsvc.imaging.smartcrop import with_focus
from tests.support.images import BenchInput
from tests.support.strategies import ALLOWED, MAX_PIXELS, SPECS

MEASURED = {"jpeg-12mp", "jpeg-24mp"}


def measure(inputs: list[BenchInput], rounds: int = 9) -> dict:
    """Median CPU ms of the smart crop's choice per measured input."""
    results = {}
    for bench_input in inputs:
        if bench_input.name not in MEASURED:
            continue
        start = decode_start(bench_input.data, SPECS, ALLOWED, MAX_PIXELS)
        times = []
        for _ in range(rounds + 1):  # the first round warms up
            began = time.process_time()
            with_focus(SPECS, None, detail_of(start))
            times.append((time.process_time() - began) * 1000)
        results[bench_input.name] = round(statistics.median(times[1:]), 2)
    return results
