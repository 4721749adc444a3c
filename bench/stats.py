"""Percentiles and a bounded timing loop (docs/performance.md)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def time_pairs(
    first: Callable[[], object],
    second: Callable[[], object],
    *,
    count: int,
    max_seconds: float,
    warmup: int = 5,
) -> tuple[list[float], list[float]]:
    """Seconds per call of each, for up to `count` rounds, stopping early after `max_seconds`.

    The two take turns, so a busy machine slows both alike and their ratio stays meaningful.
    """
    for _ in range(warmup):
        first()
        second()
    a: list[float] = []
    b: list[float] = []
    deadline = time.perf_counter() + max_seconds
    for _ in range(count):
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        a.append(middle - start)
        b.append(time.perf_counter() - middle)
        if start > deadline:
            break
    return a, b


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.2f} ms"
