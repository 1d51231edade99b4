"""``evidence.decoding``: how much of a twin's pattern a decoder reproduces, on exact cases."""

from __future__ import annotations

import numpy as np
import pytest

from disentangle_bench.evidence.decoding import bernoulli_loss_per_image, pattern_capture


@pytest.fixture()
def twin():
    """A clean part and a pattern that changes sign with it (as the inward push does)."""
    rs = np.random.RandomState(0)
    clean = rs.uniform(0.0, 1.0, size=(50, 4, 4, 1))
    pattern = 0.1 * np.where(clean < 0.5, 1.0, -1.0) * (rs.rand(50, 4, 4, 1) > 0.5)
    return clean, pattern, clean + pattern


def test_capture_is_one_for_the_observations_and_zero_for_the_pattern_blind(twin):
    clean, pattern, observations = twin
    assert pattern_capture(observations, clean, pattern) == pytest.approx(1.0)
    blind = clean + pattern.mean(axis=0)
    assert pattern_capture(blind, clean, pattern) == pytest.approx(0.0, abs=1e-12)
    half = clean + pattern.mean(axis=0) + 0.5 * (pattern - pattern.mean(axis=0))
    assert pattern_capture(half, clean, pattern) == pytest.approx(0.5)


def test_capture_refuses_mismatched_shapes_and_a_constant_pattern(twin):
    clean, pattern, observations = twin
    with pytest.raises(ValueError, match="one shape"):
        pattern_capture(observations[:10], clean, pattern)
    with pytest.raises(ValueError, match="does not vary"):
        pattern_capture(observations, clean, np.ones_like(pattern))


def test_bernoulli_loss_is_the_summed_cross_entropy():
    x = np.array([[[[0.0], [1.0]], [[0.25], [0.5]]]])
    r = np.array([[[[0.5], [0.5]], [[0.25], [0.5]]]])
    expected = 2 * np.log(2) - (0.25 * np.log(0.25) + 0.75 * np.log(0.75)) + np.log(2)
    assert bernoulli_loss_per_image(r, x) == pytest.approx(expected)
