"""Benchmark of the image job: imgsvc's pipeline against naive Pillow and libvips.

    python -m benchmarks.pipeline [--json PATH] [--repeats N] [--simd-python PATH]

Makes its own inputs (``tests/support/images.py``), then per input runs every
strategy (``tests/support/strategies.py``) in a process of its own, interleaved
round by round, and prints per input: median CPU and wall ms per job; the
speed-up over naive, both the ratio of the medians and the paired one (the
median of each round's naive CPU / CPU, with their range: a host slow one
minute and fast the next disturbs it less, as both jobs of a round share the
minute); the ratio to libvips (CPU), peak RSS, the lowest SSIM (luma) of any
output against the naive reference, and the colour against it: the lowest
chroma SSIM and the largest mean Cb/Cr difference of any output (4:2:0
planes, ``tests/support/ssim.py``). Also: peak RSS on a 50 MP JPEG, the encoder
settings measured, and the load average at the start and the end.
``make bench`` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import INPUT_CACHE, ROOT
from benchmarks.pipeline import encoders, report, smartcrop
from tests.support.images import BenchInput, make_inputs, mega_jpeg
from tests.support.ssim import chroma, ssim
from tests.support.strategies import vips_available

SIMD = "imgsvc-simd"
# The extra formats cost seconds per job (AVIF): two timed rounds, and no SSIM
# (the pixels are imgsvc's).
FEWER_ROUNDS = {"imgsvc+webp,avif"}
# Timed rounds per big JPEG (after one warm-up; other inputs: at most 3). Nine
# keep `make bench` under 5 minutes on 2 cores and give the paired speed-up a
# usable median on a noisy host.
REPEATS = 9
# Strategies run on some inputs only: the variations of imgsvc that differ in how
# a big JPEG is decoded and reduced, and the extra formats (opaque and alpha).
BIG_JPEGS = {"jpeg-12mp", "jpeg-24mp"}  # the goals' inputs; the others get 3 timed rounds
# The variations of imgsvc (no goal of their own) get this many timed rounds at
# most: with 9 rounds for every strategy a run in a slow minute came close to
# 5 minutes; with these it stays well under.
VARIATION_ROUNDS = 5
ONLY_ON = {
    "imgsvc-2x": BIG_JPEGS,
    "imgsvc-pillow-decode": BIG_JPEGS,
    "imgsvc-rgb-resize": BIG_JPEGS,
    "imgsvc-rgb-decode": BIG_JPEGS,
    "imgsvc+webp,avif": {"jpeg-12mp", "png-alpha-3mp"},
}


class Child:
    """One strategy on one input, in its own process (see ``benchmarks/pipeline/worker.py``)."""

    def __init__(self, strategy: str, path: Path, simd_python: str | None = None) -> None:
        python = simd_python if strategy == SIMD and simd_python else sys.executable
        name = "imgsvc" if strategy == SIMD else strategy
        self.process = subprocess.Popen(
            [python, "-m", "benchmarks.pipeline.worker", "--strategy", name, "--input", str(path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str) -> dict:
        """Send one command, return its JSON answer."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker died (exit {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.ask_quietly("quit")
            self.process.wait(timeout=30)

    def ask_quietly(self, command: str) -> None:
        assert self.process.stdin
        self.process.stdin.write(command + "\n")
        self.process.stdin.close()


def time_input(
    path: Path, strategies: list[str], repeats: int, work: Path, simd: str | None
) -> dict:
    """Interleaved rounds (the first a warm-up) of every strategy on one input.

    Then each process reports its peak RSS and dumps its outputs for SSIM.
    """
    children = {name: Child(name, path, simd) for name in strategies}
    runs: dict[str, list[dict]] = {name: [] for name in strategies}
    results: dict[str, dict] = {}
    try:
        for round_number in range(repeats + 1):
            for name, child in children.items():
                if name in FEWER_ROUNDS and round_number > min(repeats, 2):
                    continue
                if name in ONLY_ON and round_number > VARIATION_ROUNDS:
                    continue
                result = child.ask("run")
                if round_number:
                    runs[name].append(result)
        for name, child in children.items():
            results[name] = {
                "cpu_ms": statistics.median(r["cpu_ms"] for r in runs[name]),
                "wall_ms": statistics.median(r["wall_ms"] for r in runs[name]),
                "cpu_ms_min": min(r["cpu_ms"] for r in runs[name]),
                "cpu_ms_runs": [round(r["cpu_ms"], 1) for r in runs[name]],
                **paired_speedup(runs["naive"], runs[name]),
                "bytes": runs[name][0]["bytes"],
                **child.ask("rss"),
            }
            if name not in FEWER_ROUNDS:
                child.ask(f"dump {work / f'{path.stem}-{name}'}")
    finally:
        for child in children.values():
            child.close()
    return results


def paired_speedup(naive: list[dict], runs: list[dict]) -> dict:
    """naive CPU / CPU of each round, both measured in that round (seconds apart):
    the host's slow and fast minutes cancel out of each ratio, not of a ratio of
    medians. Their median, quartiles and range (a strategy with fewer rounds is
    paired with naive's first rounds)."""
    ratios = [n["cpu_ms"] / r["cpu_ms"] for n, r in zip(naive, runs, strict=False)]
    low, _median, high = (
        statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    )
    return {
        "speedup_cpu_paired": round(statistics.median(ratios), 3),
        "speedup_cpu_paired_iqr": [round(low, 3), round(high, 3)],
        "speedup_cpu_paired_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "speedup_cpu_paired_runs": [round(ratio, 3) for ratio in ratios],
    }


def fidelity(path: Path, strategies: list[str], work: Path) -> tuple[dict, dict]:
    """SSIM of every output of every strategy against naive (pixels before encoding),
    and the colour: (chroma SSIM, mean Cb/Cr difference) of each output.

    Also imgsvc's delivered files against naive's, and naive's own delivered
    files against its pixels: what q85 encoding alone does to the scores.
    """
    folder = {name: work / f"{path.stem}-{name}" for name in strategies}
    reference = {p.stem: Image.open(p) for p in folder["naive"].glob("*.png")}
    scores: dict[str, dict[str, float]] = {}
    colour: dict[str, dict[str, tuple[float, float]]] = {}
    for name in strategies:
        if name != "naive" and name not in FEWER_ROUNDS:
            ours = {n: Image.open(folder[name] / f"{n}.png") for n in reference}
            scores[name] = {n: ssim(ours[n], r) for n, r in reference.items()}
            colour[name] = {n: chroma(ours[n], r) for n, r in reference.items()}
    naive_files, our_files = _delivered(folder["naive"]), _delivered(folder["imgsvc"])
    scores["imgsvc (delivered q85)"] = {
        n: ssim(Image.open(our_files[n]), Image.open(naive_files[n])) for n in reference
    }
    scores["naive q85 vs own pixels"] = {
        n: ssim(Image.open(naive_files[n]), r) for n, r in reference.items()
    }
    for note in ("imgsvc (delivered q85)", "naive q85 vs own pixels"):
        first = our_files if note.startswith("imgsvc") else naive_files
        second = naive_files if note.startswith("imgsvc") else None
        colour[note] = {
            n: chroma(Image.open(first[n]), Image.open(second[n]) if second else r)
            for n, r in reference.items()
        }
    return scores, colour


def _delivered(folder: Path) -> dict[str, Path]:
    return {p.name.removeprefix("delivered-").split(".")[0]: p for p in folder.glob("delivered-*")}


def memory_50mp(work: Path, strategies: list[str]) -> dict:
    """Peak RSS of one job on a 50 MP JPEG (just under the default pixel limit)."""
    bench_input = mega_jpeg(INPUT_CACHE)
    path = work / "jpeg-50mp.jpg"
    path.write_bytes(bench_input.data)
    results: dict = {
        "width": bench_input.width,
        "height": bench_input.height,
        "bytes": len(bench_input.data),
    }
    for name in strategies:
        child = Child(name, path)
        try:
            results[name] = {**child.ask("run"), **child.ask("rss")}
        finally:
            child.close()
    return results


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; see ``--help``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--repeats",
        type=int,
        default=REPEATS,
        help="timed rounds per big JPEG, after one warm-up (other inputs: at most 3)",
    )
    parser.add_argument("--simd-python", help="a Python with Pillow-SIMD: also run imgsvc under it")
    args = parser.parse_args(argv)
    started = time.monotonic()

    strategies = [
        "naive",
        "imgsvc",
        "imgsvc-rgb-decode",
        "imgsvc-rgb-resize",
        "imgsvc-2x",
        "imgsvc-pillow-decode",
    ]
    strategies.append("imgsvc+webp,avif")
    vips_missing = vips_available()
    if vips_missing:
        print(f"libvips: not measured ({vips_missing}); `pip install -e '.[bench]'` adds it.")
    else:
        strategies.append("libvips")
    if args.simd_python:
        strategies.append(SIMD)
    figures: dict = {"machine": _machine(args.simd_python), "strategies": strategies}
    print(json.dumps(figures["machine"]))
    # CPU time, not wall time, is compared; a busy host still slows it (caches, SMT).
    print(f"load average (1 min) at the start: {figures['machine']['load_average_at_start']:.2f}")

    with tempfile.TemporaryDirectory(prefix="imgsvc-bench-") as tmp:
        work = Path(tmp)
        inputs = make_inputs(INPUT_CACHE)
        _phase(started, "inputs made")
        figures["inputs"] = {}
        for bench_input in inputs:
            path = work / f"{bench_input.name}.{bench_input.format.lower()}"
            path.write_bytes(bench_input.data)
            here = [s for s in strategies if bench_input.name in ONLY_ON.get(s, {bench_input.name})]
            repeats = args.repeats if bench_input.name in BIG_JPEGS else min(args.repeats, 3)
            timing = time_input(path, here, repeats, work, args.simd_python)
            entry = _input_figures(bench_input, timing, *fidelity(path, here, work))
            figures["inputs"][bench_input.name] = entry
            print(report.input_table(bench_input.name, entry), flush=True)
            _phase(started, bench_input.name)
        figures["memory_50mp"] = memory_50mp(work, ["imgsvc", "imgsvc-pillow-decode"])
        print(report.memory_table(figures["memory_50mp"]), flush=True)
        _phase(started, "50 MP")
        figures["encoders"] = encoders.measure(inputs)
        print(report.encoder_table(figures["encoders"]), flush=True)
        figures["extras"] = _extras_cost(figures["inputs"])
        figures["extras_equal_ssim"] = encoders.equal_ssim(inputs)
        print(report.extras_table(figures["extras"], figures["extras_equal_ssim"]), flush=True)
        figures["smartcrop_ms"] = smartcrop.measure(inputs)
        print(report.smartcrop_table(figures["smartcrop_ms"]), flush=True)
    figures["elapsed_s"] = round(time.monotonic() - started, 1)
    figures["machine"]["load_average_at_end"] = os.getloadavg()[0]
    print(f"\nbenchmark took {figures['elapsed_s']} s")
    print(
        f"load average (1 min): {figures['machine']['load_average_at_start']:.2f} at the start, "
        f"{figures['machine']['load_average_at_end']:.2f} at the end"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")


def _extras_cost(inputs: dict) -> dict:
    """Per input timed with extras: the extra formats' CPU ms (the job with them
    less the job without, medians) and that as a multiple of the job without."""
    costs = {}
    for name, entry in inputs.items():
        timing = entry["strategies"]
        if "imgsvc+webp,avif" in timing and "imgsvc" in timing:
            base = timing["imgsvc"]["cpu_ms"]
            extra = timing["imgsvc+webp,avif"]["cpu_ms"] - base
            costs[name] = {"base_ms": base, "extras_ms": round(extra, 1), "ratio": extra / base}
    return costs


def _phase(started: float, what: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {what}", file=sys.stderr, flush=True)


def _input_figures(bench_input: BenchInput, timing: dict, scores: dict, colour: dict) -> dict:
    naive, vips = timing["naive"], timing.get("libvips")
    for name, row in timing.items():
        row["speedup_cpu"] = naive["cpu_ms"] / row["cpu_ms"]
        row["speedup_wall"] = naive["wall_ms"] / row["wall_ms"]
        row["vs_libvips_cpu"] = row["cpu_ms"] / vips["cpu_ms"] if vips else None
        if name in scores:
            row["ssim"] = {k: round(v, 5) for k, v in scores[name].items()}
            row["ssim_min"] = round(min(scores[name].values()), 5)
        if name in colour:
            row.update(_colour_figures(colour[name]))
    return {
        "width": bench_input.width,
        "height": bench_input.height,
        "format": bench_input.format,
        "bytes": len(bench_input.data),
        "strategies": timing,
        "ssim_notes": {
            k: {n: round(v, 5) for n, v in scores[k].items()} for k in scores if k not in timing
        },
        "chroma_notes": {k: _colour_figures(colour[k]) for k in colour if k not in timing},
    }


def _colour_figures(per_output: dict[str, tuple[float, float]]) -> dict:
    return {
        "chroma_ssim": {n: round(s, 5) for n, (s, _mad) in per_output.items()},
        "chroma_mad": {n: round(m, 3) for n, (_s, m) in per_output.items()},
        "chroma_ssim_min": round(min(s for s, _mad in per_output.values()), 5),
        "chroma_mad_max": round(max(m for _s, m in per_output.values()), 3),
    }


def _machine(simd_python: str | None) -> dict:
    import PIL

    machine = {
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg()[0],
    }
    if simd_python:
        machine["pillow_simd"] = subprocess.run(
            [simd_python, "-c", "import PIL; print(PIL.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return machine
