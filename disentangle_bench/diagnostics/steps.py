"""One grid step along each factor axis from sampled base configurations, and the local principal
directions those steps define: the finite differences that the variance diagnostic
(:mod:`disentangle_bench.diagnostics.variance`) and the ``principal_alignment`` metric share.

With ``d_k = x(w + e_k) - x(w)`` the change of the observation for one grid step along factor
``k`` and ``D = [d_1 ... d_K]``, the local Gram matrix is ``G = D^T D``; its eigenvectors are the
local principal directions in factor space and ``diag(G)`` the per-factor local variance
(Rolinek, Zietlow and Martius, CVPR 2019; Zietlow, Rolinek and Martius, ICML 2021).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData

__all__ = ["AxisSteps", "axis_steps", "principal_directions", "select_factors"]


def select_factors(data: GroundTruthData, factors: Sequence[str] | None = None) -> list[int]:
    """Indices of the factors to step along.

    Default: every factor with more than one value except unordered ones (``categorical_factors``,
    e.g. dSprites' shape), unless fewer than two ordered factors would remain. ``factors`` names
    them explicitly. At least two are needed.
    """
    sizes = data.factors_num_values
    active = [k for k, size in enumerate(sizes) if size > 1]
    if factors is None:
        categorical = set(getattr(data, "categorical_factors", ()))
        ordered = [k for k in active if data.factor_names[k] not in categorical]
        active = ordered if len(ordered) >= 2 else active
    else:
        if isinstance(factors, str):
            raise ValueError(f"factors must be a list of factor names, got the string {factors!r}")
        unknown = set(factors) - set(data.factor_names)
        if unknown:
            raise ValueError(f"unknown factors {sorted(unknown)}; the data has {data.factor_names}")
        active = [k for k in active if data.factor_names[k] in set(factors)]
    if len(active) < 2:
        raise ValueError("the diagnostic needs at least two factors with more than one value")
    return active


def sample_interior(
    sizes: Sequence[int], active: Sequence[int], num: int, random_state: np.random.RandomState
) -> np.ndarray:
    """(num, F) base configurations from which one step up along every active factor stays on
    the grid, and one step down as well where the factor has three or more values (for the
    diagonals); the other factors anywhere on their grid."""
    factors = np.zeros((num, len(sizes)), dtype=np.int64)
    for k, size in enumerate(sizes):
        if k in active:
            low = 1 if size >= 3 else 0
            factors[:, k] = random_state.randint(low, size - 1, size=num)
        else:
            factors[:, k] = random_state.randint(size, size=num)
    return factors


@dataclass(frozen=True)
class AxisSteps:
    """Observations at base configurations and one grid step up along each stepped factor."""

    factors: tuple[int, ...]  # indices of the stepped factors (K)
    base: np.ndarray  # (N, F) base configurations
    origin: np.ndarray  # (N, *observation_shape) observations at the base
    stepped: np.ndarray  # (K, N, *observation_shape): one step up along factor factors[k]

    def differences(self) -> np.ndarray:
        """(N, P, K) float64 finite differences ``x(w + e_k) - x(w)``, flattened observations."""
        n = len(self.base)
        origin = self.origin.reshape(n, -1).astype(np.float64)
        return np.stack([s.reshape(n, -1) - origin for s in self.stepped], axis=2)


def axis_steps(
    data: GroundTruthData,
    num_points: int,
    random_state: np.random.RandomState,
    factors: Sequence[str] | None = None,
) -> AxisSteps:
    """Sample ``num_points`` interior base configurations of ``data`` and observe them and their
    one-step neighbours along each selected factor (:func:`select_factors`).

    Random draws, in order: the base configurations, then the observations at the base, then
    those after each step (a dataset with per-sample randomness draws it there).
    """
    if num_points < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}")
    active = select_factors(data, factors)
    sizes = data.factors_num_values
    base = sample_interior(sizes, active, num_points, random_state)
    origin = np.asarray(data.sample_observations_from_factors(base, random_state))
    stepped = []
    for k in active:
        moved = base.copy()
        moved[:, k] += 1
        stepped.append(np.asarray(data.sample_observations_from_factors(moved, random_state)))
    return AxisSteps(tuple(active), base, origin, np.stack(stepped))


def principal_directions(differences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of the local Gram matrices ``G = D^T D`` of (N, P, K) differences.

    Returns ``(eigenvalues, eigenvectors)``, shapes (N, K) ascending and (N, K, K) with the
    principal directions in factor space as columns.
    """
    gram = np.einsum("npk,npl->nkl", differences, differences)
    return np.linalg.eigh(gram)
