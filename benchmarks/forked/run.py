"""The image job as RQ runs it: each job in a work-horse forked from a warm worker.

    python -m benchmarks.forked [--rounds N] [--json PATH]

``make bench`` runs every job of a strategy in one long-lived process, which
reuses memory the previous job already faulted in. An RQ worker forks a fresh
work-horse per job, and that child faults in every page it touches: for the
big JPEGs the job's CPU time includes tens of thousands of page faults. This
forks one child per job from a parent that has imported what the worker
imports (``imgsvc.tasks``, libturbojpeg loaded), interleaves naive and imgsvc
round by round, and reads each child's CPU time and page faults from
``wait4``. ``make bench-forked`` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import INPUT_CACHE
from tests.support.images import make_inputs
from tests.support.strategies import STRATEGIES

INPUTS = ("jpeg-12mp", "jpeg-24mp")
COMPARED = ("naive", "imgsvc")


def forked_job(job: Callable[[bytes], object], data: bytes) -> tuple[float, int]:
    """Run ``job(data)`` in a forked child: (its CPU ms, its minor page faults)."""
    pid = os.fork()
    if pid == 0:  # the work-horse
        status = 0
        try:
            job(data)
        except BaseException:  # noqa: BLE001  (reported through the exit status)
            status = 1
        os._exit(status)
    _pid, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise RuntimeError(f"the forked job failed (status {status})")
    return (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_minflt


def measure(data: bytes, rounds: int) -> dict:
    """Naive and imgsvc, interleaved, one forked child per job, after a warm-up round."""
    jobs = {name: STRATEGIES[name][1] for name in COMPARED}
    for job in jobs.values():
        forked_job(job, data)
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            runs[name].append(forked_job(job, data))
    figures: dict = {}
    for name, values in runs.items():
        figures[name] = {
            "cpu_ms": round(statistics.median(cpu for cpu, _ in values), 1),
            "page_faults": round(statistics.median(faults for _, faults in values)),
        }
    paired = [n[0] / i[0] for n, i in zip(runs["naive"], runs["imgsvc"], strict=True)]
    figures["speedup_cpu"] = round(figures["naive"]["cpu_ms"] / figures["imgsvc"]["cpu_ms"], 3)
    figures["speedup_cpu_paired"] = round(statistics.median(paired), 3)
    figures["speedup_cpu_paired_range"] = [round(min(paired), 3), round(max(paired), 3)]
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per input")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    import imgsvc.tasks  # noqa: F401  (what the worker preloads before forking)
    from imgsvc.imaging import jpegplanes

    jpegplanes.preload()
    inputs = {i.name: i for i in make_inputs(INPUT_CACHE) if i.name in INPUTS}
    figures = {}
    print("input        strategy   CPU ms  page faults  speed-up  paired (range)")
    for name in INPUTS:
        result = figures[name] = measure(inputs[name].data, args.rounds)
        for strategy in COMPARED:
            cpu, faults = result[strategy]["cpu_ms"], result[strategy]["page_faults"]
            print(f"{name:12s} {strategy:8s} {cpu:8.0f} {faults:12,d}", end="")
            if strategy == "imgsvc":
                low, high = result["speedup_cpu_paired_range"]
                print(
                    f"  {result['speedup_cpu']:7.2f}x  {result['speedup_cpu_paired']:.2f}x"
                    f" ({low:.2f}-{high:.2f})"
                )
            else:
                print()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
