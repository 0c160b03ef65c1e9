"""Pure statistics helpers: percentiles of raw latency samples and the median of repeated runs."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the value below which `q` % of samples fall, as wrk reports it).

    `sorted_values` must be sorted ascending; `q` is in [0, 100]. An empty sample gives NaN.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile out of range: {q}")
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if q == 0.0:
        return float(sorted_values[0])
    rank = math.ceil(q / 100.0 * n)  # 1-based nearest rank
    return float(sorted_values[min(max(rank, 1), n) - 1])


def latency_summary(samples_us: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean of latency samples given in microseconds, reported in milliseconds."""
    ordered = sorted(samples_us)
    if not ordered:
        return {k: math.nan for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")}
    return {
        "p50_ms": percentile(ordered, 50) / 1000.0,
        "p90_ms": percentile(ordered, 90) / 1000.0,
        "p99_ms": percentile(ordered, 99) / 1000.0,
        "p999_ms": percentile(ordered, 99.9) / 1000.0,
        "max_ms": ordered[-1] / 1000.0,
        "mean_ms": sum(ordered) / len(ordered) / 1000.0,
    }


def median_index(values: Sequence[float]) -> int:
    """Index of the median element (the lower median for even counts), so a whole run can be picked."""
    if not values:
        raise ValueError("no values")
    order = sorted(range(len(values)), key=lambda i: values[i])
    return order[(len(order) - 1) // 2]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0 or math.isnan(numerator):
        return None
    return numerator / denominator
