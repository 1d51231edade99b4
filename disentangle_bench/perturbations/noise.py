"""The matched-noise control: ``x' = clip(x + U[-eps, eps], 0, 1)``, fixed per image.

The control condition of Zietlow et al. (ICML 2021): noise of the same magnitude as the structural
perturbations but with no structure, drawn once per factor configuration (seeded), so the same
image always carries the same noise.
"""

from __future__ import annotations

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.base import AdditivePerturbation
from disentangle_bench.perturbations.counter_noise import uniform_per_item


class MatchedNoise(AdditivePerturbation):
    """Uniform noise in [-eps, eps] per pixel, a fixed function of (seed, factor configuration)."""

    name = "noise"

    def field(
        self, data: GroundTruthData, factors: np.ndarray, observations: np.ndarray
    ) -> np.ndarray:
        pixels = int(np.prod(observations.shape[1:]))
        u = uniform_per_item(self.seed, data.index_of(factors), pixels)
        return (2.0 * u - 1.0).reshape(observations.shape)
