"""Controls of matched magnitude: the noise strength whose perturbation has the same mean norm."""

from __future__ import annotations

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.noise import MatchedNoise


def mean_change_norm(
    base: GroundTruthData, perturbed: GroundTruthData, num: int = 2000, seed: int = 0
) -> float:
    """Mean Euclidean norm of ``x' - x`` over ``num`` sampled configurations."""
    factors = base.sample_factors(num, np.random.RandomState(seed))
    clean = base.sample_observations_from_factors(factors, np.random.RandomState(seed))
    changed = perturbed.sample_observations_from_factors(factors, np.random.RandomState(seed))
    return float(np.linalg.norm((changed - clean).reshape(num, -1), axis=1).mean())


def matched_noise_eps(
    base: GroundTruthData, target_norm: float, *, num: int = 2000, seed: int = 0
) -> float:
    """The ``noise`` eps whose mean change norm on ``base`` equals ``target_norm``.

    Clipping removes part of the noise on saturated pixels (half of it on a binary image's
    background), so the match is found by bisection on the measured norm, not by formula.
    """
    low, high = 1e-4, 1.0
    if mean_change_norm(base, MatchedNoise(eps=high).apply(base), num, seed) < target_norm:
        return high
    for _ in range(30):
        middle = 0.5 * (low + high)
        norm = mean_change_norm(base, MatchedNoise(eps=middle, seed=seed).apply(base), num, seed)
        low, high = (middle, high) if norm < target_norm else (low, middle)
    return 0.5 * (low + high)
