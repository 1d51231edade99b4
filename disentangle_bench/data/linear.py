"""A synthetic linear dataset ``x = A diag(s) w``: the cheapest place to see the mechanism.

``w`` holds the factor values, each factor on an evenly spaced grid in [-1, 1]; ``A`` has
orthonormal columns (seeded), so factor ``k`` moves ``x`` along its own orthogonal direction with
local variance proportional to ``s_k^2``. With distinct ``s`` a VAE recovers the factor axes (the
decoder's Jacobian columns align with the directions of distinct variance; Rolinek, Zietlow and
Martius, CVPR 2019); equal ``s`` make every rotation equally good. Observations are real vectors
shaped (1, 1, dim), not confined to [0, 1] (``value_range`` is None), optionally with Gaussian noise
fixed per configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData, content_fingerprint


def orthonormal_columns(rows: int, columns: int, random_state: np.random.RandomState) -> np.ndarray:
    """A (rows, columns) matrix with orthonormal columns, from the QR of a Gaussian matrix."""
    q, r = np.linalg.qr(random_state.randn(rows, columns))
    return q * np.sign(np.diag(r))  # a unique, uniformly distributed orthonormal frame


def random_rotation(dim: int, random_state: np.random.RandomState) -> np.ndarray:
    """A (dim, dim) rotation drawn uniformly."""
    return orthonormal_columns(dim, dim, random_state)


class LinearData(GroundTruthData):
    """``x = A diag(scales) w (+ fixed noise)`` for every configuration of a factor grid."""

    name: ClassVar[str] = "linear"
    value_range = None

    def __init__(
        self,
        num_factors: int = 4,
        num_values: int = 10,
        dim: int = 32,
        scales: Sequence[float] = (1.0, 1.4, 1.9, 2.6),
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        scales = tuple(float(s) for s in scales)
        if num_factors < 1 or num_values < 2:
            raise ValueError("linear data needs num_factors >= 1 and num_values >= 2")
        if len(scales) != num_factors:
            raise ValueError(f"scales has {len(scales)} entries for {num_factors} factors")
        if dim < num_factors:
            raise ValueError(f"dim ({dim}) must be at least num_factors ({num_factors})")
        if noise < 0 or any(s <= 0 for s in scales):
            raise ValueError("scales must be positive and noise non-negative")
        self.scales = np.asarray(scales)
        self.noise = float(noise)
        self.seed = int(seed)
        self.mixing = orthonormal_columns(dim, num_factors, np.random.RandomState(seed))
        self._sizes = (int(num_values),) * int(num_factors)
        self._dim = int(dim)
        index = np.arange(self.num_configurations)
        clean = self.observations_at(self.factors_of(index).astype(np.float64))
        if self.noise:
            clean += self.noise * np.random.RandomState(seed + 1).randn(*clean.shape)
        self._observations = clean.astype(np.float32)
        self._fingerprint = content_fingerprint(self._observations, self._sizes)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f"w{k}" for k in range(self.num_factors))

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return self._sizes

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (1, 1, self._dim)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def loading_matrix(self) -> np.ndarray:
        """``A diag(scales)``: column ``k`` is the change of ``x`` per unit of ``w_k``."""
        return self.mixing * self.scales

    def factor_values(self, positions: np.ndarray) -> np.ndarray:
        """Factor indices (integer or fractional) -> values ``w`` in [-1, 1]."""
        sizes = np.asarray(self._sizes, dtype=np.float64)
        return 2.0 * np.asarray(positions, dtype=np.float64) / (sizes - 1) - 1.0

    def observations_at(self, positions: np.ndarray) -> np.ndarray:
        """Noise-free observations at any (also off-grid) factor positions, (N, 1, 1, dim)."""
        x = self.factor_values(positions) @ self.loading_matrix.T
        return x.reshape(-1, 1, 1, self._dim)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        del random_state
        return self._observations[self.index_of(factors)]
