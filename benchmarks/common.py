"""What several benchmark suites share: the input cache, percentiles, moto."""

from __future__ import annotations

import math
import os
from contextlib import ExitStack
from pathlib import Path

from tests.support.moto import MotoServer

ROOT = Path(__file__).resolve().parents[1]
# Generated inputs (tests.support.images), made once per machine.
INPUT_CACHE = ROOT / "var" / "bench-inputs"


def nearest_rank(ordered: list[float], p: float) -> float:
    """The ``p``-th percentile of sorted ``ordered`` by the nearest-rank method."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max (nearest rank), in seconds, rounded to the millisecond."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return nearest_rank(ordered, p)

    return {
        "p50": round(rank(50), 3),
        "p90": round(rank(90), 3),
        "p99": round(rank(99), 3),
        "max": round(ordered[-1], 3),
    }


def start_moto(stack: ExitStack, root: Path) -> dict[str, str]:
    """moto's S3 server in a process of its own (in this one it would share the
    client's GIL); the environment that points imgsvc at its bucket."""
    credentials = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(credentials)
    server = MotoServer("bench", log=root / "moto.log").start()
    stack.callback(server.stop)
    return {
        "IMGSVC_STORAGE_URL": "s3://bench/service",
        "IMGSVC_S3_ENDPOINT_URL": server.endpoint,
        **credentials,
    }
