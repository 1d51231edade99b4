"""How much of a perturbation's pattern switches per grid step, along each factor and diagonal.

For a perturbed dataset ``x' = clip(x + eps m(w), 0, 1)`` and a move ``delta`` in factor space (one
grid step along a factor, or along a diagonal ``e_k + e_l`` / ``e_k - e_l``), the *switch share* is
the fraction of pixels whose push is on (``|m| > 1/2``; for the oblique family, its pattern above
1/2, which for ``oblique_blend`` is not its field ``m - x``) at one end of the move and off at the
other, averaged over sampled start configurations. For the ``oblique`` pattern it equals the
designed ``a_k`` per axis step and ``a_k + a_l`` / ``|a_k - a_l|`` along the two diagonals
(:func:`designed_switch_shares`); for any other perturbation it says how fast its pattern changes in
grid units, which is what decides whether it rotates, aliases or scrambles.
"""

from __future__ import annotations

import itertools

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.base import PerturbedData
from disentangle_bench.perturbations.oblique import ObliqueStripes


def moves(data: GroundTruthData) -> dict[str, np.ndarray]:
    """One grid step along every factor with more than one value, and along both diagonals of
    every pair of them, labelled ``a``, ``a+b`` and ``a-b``."""
    names = data.factor_names
    movable = [k for k, size in enumerate(data.factors_num_values) if size > 1]
    steps: dict[str, np.ndarray] = {}
    for k in movable:
        steps[names[k]] = np.eye(len(names), dtype=np.int64)[k]
    for first, second in itertools.combinations(movable, 2):
        a, b = names[first], names[second]
        steps[f"{a}+{b}"] = steps[a] + steps[b]
        steps[f"{a}-{b}"] = steps[a] - steps[b]
    return steps


def switch_shares(data: PerturbedData, num: int = 256, seed: int = 0) -> dict[str, float]:
    """The measured switch share of every move of :func:`moves` (see the module docstring)."""
    if not isinstance(data, PerturbedData):
        raise TypeError(f"switch shares are defined for a perturbed dataset, got {data!r}")
    if int(num) != num or num < 1:
        raise ValueError(f"num must be a positive integer, got {num}")
    base, perturbation = data.base, data.perturbation
    sizes = np.asarray(base.factors_num_values)
    rs = np.random.RandomState(seed)
    shares = {}
    for label, move in moves(base).items():
        low, high = np.maximum(0, -move), sizes - 1 - np.maximum(0, move)
        start = low + (rs.rand(num, len(sizes)) * (high - low + 1)).astype(np.int64)
        end = start + move
        on = [pushed(perturbation, base, f, rs) for f in (start, end)]
        shares[label] = float(np.mean(on[0] != on[1]))
    return shares


def pushed(perturbation, base: GroundTruthData, factors: np.ndarray, rs) -> np.ndarray:
    """Where the push is on at ``factors``: the oblique pattern above 1/2, or ``|m| > 1/2``."""
    if isinstance(perturbation, ObliqueStripes):
        return perturbation.pattern(base, factors) > 0.5
    observations = base.sample_observations_from_factors(factors, rs)
    return np.abs(perturbation.field(base, factors, observations)) > 0.5


def designed_switch_shares(data: PerturbedData) -> dict[str, float]:
    """The shares an ``oblique`` twin is designed to have, labelled as :func:`moves`."""
    perturbation = data.perturbation
    if not isinstance(perturbation, ObliqueStripes) or perturbation.shuffle:
        raise TypeError("designed switch shares exist for the (unshuffled) oblique pattern only")
    advance, _ = perturbation.layout(data.base)  # signed share per step of each factor
    return {label: float(min(1.0, abs(advance @ move))) for label, move in moves(data.base).items()}
