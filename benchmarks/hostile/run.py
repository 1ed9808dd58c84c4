"""The header check on hostile uploads, against the same check on a 12 MP photo.

``make bench-hostile`` (``python -m benchmarks.hostile``) builds the corpus of
``tests/imaging/hostile.py`` (TIFF page chains, PNG/WebP chunk floods, GIF
frame and block floods, JPEG scan and marker floods; each under the 20 MiB
upload limit) and the benchmark's 12 MP JPEG, then measures, round after
round and side by side, the CPU of:

- **web**: ``probe`` on the upload as the web app holds it (a written buffer);
- **job**: ``decode.open_image``, what the job does before decoding.

Each figure is the median over the rounds of ``time.process_time``. The
report gives every item's error code, its CPU and its ratio to the photo's
check, and the worst item. ``--pillow`` adds what Pillow's own header walk
(``Image.open`` and ``n_frames``, the check before the walks) costs on each
item, once: slow (the TIFF page chain alone takes tens of seconds).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.common import INPUT_CACHE
from imgsvc.config import Defaults, csv_list
from imgsvc.errors import ImgsvcError
from imgsvc.imaging import probe
from imgsvc.imaging.decode import open_image
from imgsvc.imaging.structure import StructureLimits
from tests.imaging.hostile import CORPUS
from tests.support.images import make_inputs

ALLOWED = csv_list(Defaults.ALLOWED_FORMATS)
MAX_PIXELS = Defaults.MAX_IMAGE_PIXELS
LIMITS = StructureLimits.from_settings(vars(Defaults))
PHOTO = "jpeg-12mp"


def web_check(data: bytes) -> Callable[[], object]:
    body = io.BytesIO()
    body.write(data)  # as the web app holds an upload: a buffer of its own
    return lambda: probe(body, ALLOWED, MAX_PIXELS, LIMITS.max_frames, LIMITS)


def job_check(data: bytes) -> Callable[[], object]:
    return lambda: open_image(data, ALLOWED, MAX_PIXELS, LIMITS)


def pillow_check(data: bytes) -> Callable[[], object]:
    def check() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=ALLOWED) as image:
                return getattr(image, "n_frames", 1)

    return check


def timed(call: Callable[[], object]) -> tuple[str, float]:
    """The outcome (an error code, or "accepted") and the CPU seconds of one call."""
    started = time.process_time()
    try:
        call()
        outcome = "accepted"
    except ImgsvcError as exc:
        outcome = exc.code
    except Exception as exc:  # Pillow's own walk, on hostile input
        outcome = type(exc).__name__
    return outcome, time.process_time() - started


def measure(items: dict[str, bytes], rounds: int, pillow: bool) -> dict[str, Any]:
    checks = {"web": web_check, "job": job_check}
    seconds: dict[str, dict[str, list[float]]] = {name: {"web": [], "job": []} for name in items}
    outcomes: dict[str, str] = {}
    for _round in range(rounds):  # every item in every round: a busy moment hits all alike
        for name, data in items.items():
            for kind, make in checks.items():
                outcome, cpu = timed(make(data))
                outcomes.setdefault(name, outcome)
                seconds[name][kind].append(cpu)
    photo = {kind: statistics.median(seconds[PHOTO][kind]) for kind in checks}
    rows = {}
    for name, data in items.items():
        row: dict[str, Any] = {"bytes": len(data), "outcome": outcomes[name]}
        if name != PHOTO:
            row["expected"] = CORPUS[name][1]
        for kind in checks:
            median = statistics.median(seconds[name][kind])
            row[f"{kind}_ms"] = round(median * 1000, 3)
            row[f"{kind}_max_ms"] = round(max(seconds[name][kind]) * 1000, 3)
            row[f"{kind}_ratio"] = round(median / photo[kind], 2)
        if pillow:
            outcome, cpu = timed(pillow_check(data))
            row["pillow_ms"], row["pillow_outcome"] = round(cpu * 1000, 1), outcome
        rows[name] = row
    hostile = [name for name in items if name != PHOTO]
    worst = {kind: max(hostile, key=lambda name: rows[name][f"{kind}_ms"]) for kind in checks}
    return {
        "rows": rows,
        "worst": {
            kind: {
                "item": name,
                "ms": rows[name][f"{kind}_ms"],
                "ratio": rows[name][f"{kind}_ratio"],
            }
            for kind, name in worst.items()
        },
        "photo": {kind: round(value * 1000, 3) for kind, value in photo.items()},
    }


def report(figures: dict[str, Any]) -> str:
    lines = [
        f"{'item':28} {'MiB':>5} {'outcome':16} {'web ms':>8} {'x photo':>8} "
        f"{'job ms':>8} {'x photo':>8}" + (f" {'pillow ms':>10}" if figures["pillow"] else ""),
    ]
    for name, row in figures["rows"].items():
        flag = "" if row.get("expected", row["outcome"]) == row["outcome"] else " UNEXPECTED"
        line = (
            f"{name:28} {row['bytes'] / 2**20:5.1f} {row['outcome']:16} "
            f"{row['web_ms']:8.2f} {row['web_ratio']:8.1f} {row['job_ms']:8.2f} "
            f"{row['job_ratio']:8.1f}"
        )
        if figures["pillow"]:
            line += f" {row['pillow_ms']:10.1f}"
        lines.append(line + flag)
    for kind, worst in figures["worst"].items():
        lines.append(
            f"worst {kind} check: {worst['item']}, {worst['ms']:.2f} ms = "
            f"{worst['ratio']:.1f}x the {PHOTO} check ({figures['photo'][kind]:.2f} ms)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--pillow", action="store_true", help="add Pillow's own walk (slow)")
    args = parser.parse_args(argv)

    photo = next(item for item in make_inputs(INPUT_CACHE) if item.name == PHOTO)
    items = {PHOTO: photo.data} | {name: build() for name, (build, _code) in CORPUS.items()}
    figures = measure(items, args.rounds, args.pillow)
    figures.update(
        pillow=args.pillow,
        rounds=args.rounds,
        limits=vars(LIMITS),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=_commit(),
        machine=_machine(),
    )
    print(report(figures))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    unexpected = [
        name
        for name, row in figures["rows"].items()
        if row.get("expected", row["outcome"]) != row["outcome"]
    ]
    return 1 if unexpected else 0


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        cpuinfo = []
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    model = models[0] if models else platform.machine()
    cpus = len(os.sched_getaffinity(0))
    return f"{model}, {cpus} CPUs, Python {platform.python_version()}"
