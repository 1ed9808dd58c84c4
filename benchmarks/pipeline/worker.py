"""One benchmark strategy on one input, in a process of its own.

The input is read once; then each line on stdin is a command, answered by one
JSON line on stdout:

- ``run``: one timed job → ``{"cpu_ms", "wall_ms", "bytes"}``;
- ``rss`` → ``{"peak_rss_mb", "baseline_rss_mb"}``: the process's peak RSS
  (VmHWM) and its RSS before the first job. Every process imports the same
  worker modules first, so the baseline is that of a real worker and peak RSS
  compares jobs, not imports;
- ``dump DIR``: write each variant's pixels before encoding (PNG, lossless)
  and its delivered files (the last run's) into DIR → ``{"dumped": DIR}``;
- ``quit``: exit.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import imgsvc.imaging  # noqa: F401  (the baseline: what every worker has imported)
from tests.support.strategies import STRATEGIES


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (ru_maxrss would include the
    parent's RSS at fork time: Linux carries it across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reply(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _bytes_by_extension(files: dict[str, bytes]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for name, data in files.items():
        extension = name.rsplit(".", 1)[1]
        totals[extension] = totals.get(extension, 0) + len(data)
    return totals


def _serve(job, pixels, data: bytes) -> None:
    baseline = _status_mb("VmRSS")
    files: dict[str, bytes] = {}
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "quit":
            break
        if command == "rss":
            _reply({"peak_rss_mb": _status_mb("VmHWM"), "baseline_rss_mb": baseline})
        elif command == "dump":
            _dump(files or job(data), pixels, data, Path(argument))
        else:
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            files = job(data)
            cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started_wall
            sizes = _bytes_by_extension(files)
            _reply({"cpu_ms": cpu * 1000, "wall_ms": wall * 1000, "bytes": sizes})


def _dump(files: dict[str, bytes], pixels, data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in pixels(data).items():
        image.save(folder / f"{name}.png", compress_level=1)
    for name, payload in files.items():
        (folder / f"delivered-{name}").write_bytes(payload)
    _reply({"dumped": str(folder)})


def main() -> None:
    """Run one strategy on one input (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategy", required=True, choices=sorted(STRATEGIES))
    parser.add_argument("--input", required=True, type=Path)
    args = parser.parse_args()
    setup, job, pixels = STRATEGIES[args.strategy]
    if setup:
        setup()
    _serve(job, pixels, args.input.read_bytes())


if __name__ == "__main__":
    main()
