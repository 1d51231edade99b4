"""Means and 95% percentile-bootstrap confidence intervals over seeds.

The bootstrap (Efron 1979; percentile interval: Efron and Tibshirani 1993, "An Introduction to
the Bootstrap", ch. 13) resamples the n seeds with replacement ``RESAMPLES`` times from
``np.random.RandomState(SEED)``; the interval is the 2.5th and 97.5th percentile of the
resampled statistic (``np.percentile``, linear interpolation). The resampling indices depend only
on n, so every row with the same number of seeds uses the same resamples: the output does not
depend on the order of rows or submissions, and the same data always give the same numbers.

Scores on the original data, on a perturbed twin and on the noise twin are paired by seed: one
resample picks the same seeds for all of them. drop = mean(original) - mean(perturbed), the mean
of the per-seed differences; robustness = mean(perturbed) / mean(original), a ratio of means
(per-seed ratios explode when an original score is near 0). The ratio is undefined (None) when
the original mean is 0 (or so close to 0 that the ratio overflows), and its interval is
undefined when some resample's original mean is 0 (or its ratio overflows).
With one seed the interval is the point itself (no spread can be estimated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

RESAMPLES = 10_000
SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval (``low``/``high`` None: undefined)."""

    mean: float
    low: float | None
    high: float | None
    n: int


@lru_cache(maxsize=64)
def resample_indices(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n) seed indices drawn with replacement from ``RandomState(seed)``."""
    if n < 1:
        raise ValueError("the bootstrap needs at least one value")
    indices = np.random.RandomState(seed).randint(0, n, size=(resamples, n))
    indices.setflags(write=False)
    return indices


def percentile_interval(
    statistics: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The percentile interval of bootstrap ``statistics``."""
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(statistics, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mean(
    values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED
) -> Estimate:
    """Mean of ``values`` with its 95% percentile-bootstrap interval."""
    array = np.asarray(values, dtype=np.float64)
    means = array[resample_indices(len(array), resamples, seed)].mean(axis=1)
    low, high = percentile_interval(means)
    return Estimate(float(array.mean()), low, high, len(array))


def bootstrap_drop(
    original: Sequence[float],
    perturbed: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Estimate:
    """mean(original) - mean(perturbed) over seed-paired values, with its interval."""
    return bootstrap_mean(
        np.asarray(original, dtype=np.float64) - np.asarray(perturbed, dtype=np.float64),
        resamples=resamples,
        seed=seed,
    )


def bootstrap_ratio(
    original: Sequence[float],
    perturbed: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Estimate | None:
    """mean(perturbed) / mean(original) over seed-paired values, with its interval."""
    base = np.asarray(original, dtype=np.float64)
    other = np.asarray(perturbed, dtype=np.float64)
    if base.shape != other.shape:
        raise ValueError("paired values need the same number of seeds")
    if base.mean() == 0.0:
        return None
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = float(other.mean() / base.mean())
        if not np.isfinite(ratio):  # an original mean so close to 0 that the ratio overflows
            return None
        index = resample_indices(len(base), resamples, seed)
        denominators = base[index].mean(axis=1)
        if np.any(denominators == 0.0):
            return Estimate(ratio, None, None, len(base))
        ratios = other[index].mean(axis=1) / denominators
    if not np.all(np.isfinite(ratios)):
        return Estimate(ratio, None, None, len(base))
    low, high = percentile_interval(ratios)
    return Estimate(ratio, low, high, len(base))
