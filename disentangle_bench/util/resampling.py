"""The percentile bootstrap of a mean (Efron and Tibshirani 1993, ch. 13): shared by the run
summary and the evidence statistics."""

from __future__ import annotations

import numpy as np


def check_resampling(num_resamples: int, confidence: float) -> None:
    """ValueError unless ``num_resamples`` is a positive integer and ``confidence`` in (0, 1)."""
    if int(num_resamples) != num_resamples or num_resamples < 1:
        raise ValueError(f"num_resamples must be a positive integer, got {num_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")


def percentile_interval(statistics: np.ndarray, confidence: float) -> tuple[float, float]:
    """The ``(1 - confidence) / 2`` tail percentiles of resampled statistics."""
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(statistics, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(
    values, *, num_resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (1-D, finite).

    Resamples the values with replacement ``num_resamples`` times from
    ``np.random.RandomState(seed)``; the interval is the pair of ``(1 - confidence) / 2`` tail
    percentiles of the resampled means (``np.percentile``, linear interpolation).
    """
    check_resampling(num_resamples, confidence)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0 or not np.all(np.isfinite(array)):
        raise ValueError("values must be a non-empty 1-D array of finite numbers")
    indices = np.random.RandomState(seed).randint(0, len(array), size=(num_resamples, len(array)))
    return percentile_interval(array[indices].mean(axis=1), confidence)
