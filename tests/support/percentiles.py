"""Nearest-rank percentiles, as the load test and every benchmark suite report them."""

from __future__ import annotations

import math


def nearest_rank(ordered: list[float], p: float) -> float:
    """The ``p``-th percentile of sorted ``ordered`` by the nearest-rank method."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max (nearest rank), in seconds, rounded to the millisecond;
    ``{}`` for no values."""
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
