"""The benches' one percentile: nearest rank, so every reported figure is a value that was measured."""

from __future__ import annotations

import pytest

from bench._stats import percentile, percentiles


def test_nearest_rank_reports_a_measured_value() -> None:
    times = [0.004, 0.001, 0.003, 0.002, 0.010]
    assert percentile(times, 50) == 0.003
    assert percentile(times, 95) == 0.010, "the slowest of five is the 95th percentile"
    assert percentile(times, 0) == 0.001
    assert percentile(times, 100) == 0.010
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentiles(times, (50, 95, 100), scale=1000) == {"p50": 3.0, "p95": 10.0, "p100": 10.0}


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_nonsense_is_refused(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match=r"percentile|values"):
        percentile(values, q)
