"""Bootstrap means, drops and ratios on data whose answers are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats

from disentangle_bench.leaderboard.statistics import (
    RESAMPLES,
    bootstrap_drop,
    bootstrap_mean,
    bootstrap_ratio,
    percentile_interval,
    resample_indices,
)


def test_constant_data_has_a_zero_width_interval():
    estimate = bootstrap_mean([0.25] * 5)
    assert estimate.mean == estimate.low == estimate.high == pytest.approx(0.25, abs=1e-15)
    assert estimate.n == 5


def test_one_seed_gives_the_point_as_its_interval():
    estimate = bootstrap_mean([0.7])
    assert (estimate.mean, estimate.low, estimate.high, estimate.n) == (0.7, 0.7, 0.7, 1)


def test_matches_the_exact_bootstrap_distribution():
    """n = 4: all 4^4 resamples are equally likely; the Monte Carlo percentiles of 10,000 draws
    land within a small distance of the exact distribution's percentiles."""
    values = np.array([0.1, 0.4, 0.5, 0.9])
    exact = np.array([values[list(idx)].mean() for idx in itertools.product(range(4), repeat=4)])
    exact_low, exact_high = np.percentile(exact, [2.5, 97.5])
    estimate = bootstrap_mean(values)
    assert estimate.mean == pytest.approx(0.475)
    assert estimate.low == pytest.approx(exact_low, abs=0.02)
    assert estimate.high == pytest.approx(exact_high, abs=0.02)


def test_matches_scipy_percentile_bootstrap():
    values = np.array([0.12, 0.35, 0.31, 0.48, 0.22, 0.41, 0.29, 0.38])
    reference = scipy.stats.bootstrap(
        (values,),
        np.mean,
        method="percentile",
        n_resamples=RESAMPLES,
        confidence_level=0.95,
        random_state=np.random.RandomState(1),
    ).confidence_interval
    estimate = bootstrap_mean(values)
    assert estimate.low == pytest.approx(reference.low, abs=0.01)
    assert estimate.high == pytest.approx(reference.high, abs=0.01)
    assert estimate.low < values.mean() < estimate.high


def test_percentile_interval_of_a_known_array():
    statistics = np.arange(1001, dtype=float)  # percentiles are the values themselves
    assert percentile_interval(statistics) == pytest.approx((25.0, 975.0))


def test_deterministic_and_independent_of_call_order():
    values = [0.3, 0.1, 0.6]
    first = bootstrap_mean(values)
    bootstrap_mean([5.0, 1.0, 2.0, 3.0, 7.0])  # other rows in between change nothing
    assert bootstrap_mean(values) == first
    assert resample_indices(3).shape == (RESAMPLES, 3)
    assert np.array_equal(
        resample_indices(3), np.random.RandomState(0).randint(0, 3, (RESAMPLES, 3))
    )


def test_drop_is_paired_by_seed():
    """Each seed loses exactly 0.1: the paired drop has no spread, whatever the seeds' spread."""
    original = [0.2, 0.5, 0.9]
    perturbed = [0.1, 0.4, 0.8]
    drop = bootstrap_drop(original, perturbed)
    assert drop.mean == pytest.approx(0.1)
    assert drop.low == pytest.approx(0.1) and drop.high == pytest.approx(0.1)


def test_ratio_is_a_ratio_of_means():
    original = [0.2, 0.4, 0.6]
    perturbed = [0.1, 0.2, 0.3]
    ratio = bootstrap_ratio(original, perturbed)
    assert ratio.mean == pytest.approx(0.5)
    assert ratio.low == pytest.approx(0.5) and ratio.high == pytest.approx(0.5)
    uneven = bootstrap_ratio([0.2, 0.6], [0.2, 0.2])
    assert uneven.mean == pytest.approx(0.4 / 0.8)  # not the mean of per-seed ratios (2/3)
    assert uneven.low <= uneven.mean <= uneven.high


def test_ratio_is_undefined_for_a_zero_original():
    assert bootstrap_ratio([0.0, 0.0], [0.1, 0.2]) is None
    partly = bootstrap_ratio([0.0, 0.4], [0.1, 0.2])  # some resamples pick only the 0
    assert partly.mean == pytest.approx(0.15 / 0.2)
    assert partly.low is None and partly.high is None
