"""The linear mixing perturbation: ``x' = x + eps * m(w)`` with ``m`` linear in the factors.

For smooth data (the synthetic linear dataset) the variance structure is a quadratic form, and the
perturbation that hides it is linear too (variance-structure reference, "synthetic linear check"):

    m(w) = B diag(b) R (2u - 1) / c,

``u`` the factor positions in [0, 1], ``R`` a seeded random rotation of factor space, ``b`` the
decreasing ``weights``, ``B`` seeded orthonormal columns in observation space and ``c`` the largest
entry of ``|B diag(b) R|`` summed over factors, so ``||m(w)||_inf <= 1``. The data's local Gram
matrix becomes ``(A S + eps B b R / c)^T (A S + eps B b R / c)``: its principal directions turn
toward the rotated ones while every factor stays exactly linearly decodable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.linear import orthonormal_columns, random_rotation
from disentangle_bench.perturbations.base import AdditivePerturbation


class LinearMix(AdditivePerturbation):
    """A rotated, anisotropic linear function of the factors added to every observation."""

    name = "linear_mix"
    defined_off_grid = True

    def __init__(
        self, eps: float = 1.0, seed: int = 0, weights: tuple[float, ...] = (4.0, 3.0, 2.0, 1.0)
    ) -> None:
        if not float(eps) > 0:
            raise ValueError(f"eps must be positive, got {eps}")
        # Unbounded data (value_range None) may take any positive strength; images are clipped.
        super().__init__(min(float(eps), 1.0), seed)
        self.eps = float(eps)
        weights = tuple(float(w) for w in weights)
        if not weights or any(w <= 0 for w in weights):
            raise ValueError(f"weights must be positive, got {weights}")
        self.weights = weights
        self._matrices: dict[tuple, np.ndarray] = {}

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "weights": list(self.weights)}

    def matrix(self, num_factors: int, num_outputs: int) -> np.ndarray:
        """``B diag(b) R / c``, (num_outputs, num_factors), acting on ``2u - 1``."""
        key = (num_factors, num_outputs)
        if key not in self._matrices:
            if len(self.weights) < num_factors:
                raise ValueError(
                    f"linear_mix needs one weight per factor ({num_factors}), "
                    f"got {len(self.weights)}"
                )
            rs = np.random.RandomState(self.seed)
            rotation = random_rotation(num_factors, rs)
            basis = orthonormal_columns(num_outputs, num_factors, rs)
            mixing = basis @ np.diag(self.weights[:num_factors]) @ rotation
            self._matrices[key] = mixing / np.abs(mixing).sum(axis=1).max()
        return self._matrices[key]

    def field(
        self, data: GroundTruthData, factors: np.ndarray, observations: np.ndarray
    ) -> np.ndarray:
        sizes = np.asarray(data.factors_num_values, dtype=np.float64)
        u = np.asarray(factors, dtype=np.float64) / np.maximum(sizes - 1.0, 1.0)
        outputs = int(np.prod(observations.shape[1:]))
        m = (2.0 * u - 1.0) @ self.matrix(len(sizes), outputs).T
        return m.reshape(observations.shape)
