"""The one percentile every bench reports: nearest rank, so a reported figure is a time that was measured."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The smallest measured value with at least ``q`` percent of the values at or below it (``q`` in 0..100)."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def percentiles(
    values: Sequence[float], qs: Iterable[float] = (50, 95), *, scale: float = 1.0, digits: int = 2
) -> dict[str, float]:
    """``{"p50": ..., "p95": ...}`` of ``values`` times ``scale`` (1000: seconds to milliseconds), rounded."""
    return {f"p{q:g}": round(percentile(values, q) * scale, digits) for q in qs}
