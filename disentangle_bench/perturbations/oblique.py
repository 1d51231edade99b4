"""The oblique block-stripe perturbation: hides the variance structure of sharp images.

Design (this project's; the paper's exact recipe is not public). For an image ``x(w)`` with
factor configuration ``w``, let ``u_k = w_k / (n_k - 1)`` in [0, 1] be the factor positions and
``s(w) = sum_k sigma_k u_k / sqrt(F)`` one *oblique* coordinate (``sigma_k`` seeded random signs).
The image is split into ``block x block`` pixel blocks, each with a fixed random phase ``phi_b``:

    m_p(w) = inward(x_p(w)) * 1[cos(2 pi frequency s(w) + phi_b(p)) > 0],
    inward(x) = +1 if x < 1/2 else -1.

- Bounded and exact: ``||m||_inf <= 1``; the push is always inward, so ``x' = clip(x + eps m, 0,
  1)`` never clips (eps <= 1/2), and for binary images thresholding ``x'`` at 1/2 returns ``x``:
  every factor is kept and distinct configurations stay distinct.
- Oblique: a move ``delta`` in factor space switches a fraction of about
  ``2 frequency |sigma . (delta / (n - 1))| / sqrt(F)`` of the blocks. In every plane of two factors
  the pattern is constant along one diagonal and changes fastest along the other, so the cheapest
  direction of change (the one a VAE aligns a latent with) turns to 45 degrees from the axes
  wherever the pattern's cost competes with the sprite's own.
- Learnable: phases constant on 8 x 8 blocks can be reproduced by a convolutional decoder; a
  per-pixel phase is treated as noise (variance-structure reference, measured prototypes).
- ``shuffle=True`` is the control: the same pattern images assigned to a fixed random permutation
  of the configurations (identical statistics, no structure left).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.base import AdditivePerturbation


def inward(observations: np.ndarray) -> np.ndarray:
    """+1 where a pixel is below 1/2, -1 elsewhere: a push that clipping never removes."""
    return np.where(observations < 0.5, 1.0, -1.0).astype(np.float32)


class ObliqueStripes(AdditivePerturbation):
    """``x' = clip(x + eps * m(w), 0, 1)``: block stripes moving along an oblique factor axis."""

    name = "oblique"

    def __init__(
        self,
        eps: float = 0.1,
        seed: int = 0,
        frequency: float = 16.0,
        block: int = 8,
        shuffle: bool = False,
    ) -> None:
        super().__init__(eps, seed)
        if not 0.0 < self.eps <= 0.5:
            raise ValueError(f"eps must be in (0, 0.5] for the inward push, got {eps}")
        if frequency <= 0:
            raise ValueError(f"frequency must be positive, got {frequency}")
        if int(block) < 1:
            raise ValueError(f"block must be a positive number of pixels, got {block}")
        self.frequency = float(frequency)
        self.block = int(block)
        self.shuffle = bool(shuffle)
        self.defined_off_grid = not self.shuffle
        self._layouts: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._permutations: dict[int, np.ndarray] = {}

    def parameters(self) -> dict[str, Any]:
        return {
            **super().parameters(),
            "frequency": self.frequency,
            "block": self.block,
            "shuffle": self.shuffle,
        }

    def layout(
        self, num_factors: int, image_shape: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(direction (F,): random signs / sqrt(F), phase of each pixel (H, W))."""
        key = (num_factors, tuple(image_shape))
        if key not in self._layouts:
            rs = np.random.RandomState(self.seed)
            signs = np.where(rs.rand(num_factors) < 0.5, -1.0, 1.0)
            height, width = image_shape
            blocks = rs.uniform(
                0.0, 2 * np.pi, size=(-(-height // self.block), -(-width // self.block))
            )
            rows = np.arange(height) // self.block
            cols = np.arange(width) // self.block
            self._layouts[key] = (signs / np.sqrt(num_factors), blocks[rows][:, cols])
        return self._layouts[key]

    def pattern(self, data: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        """The binary pattern (N, H, W) for (possibly fractional) factor positions."""
        sizes = np.asarray(data.factors_num_values, dtype=np.float64)
        height, width = data.observation_shape[:2]
        direction, pixel_phase = self.layout(len(sizes), (height, width))
        positions = np.asarray(factors, dtype=np.float64)
        if self.shuffle:
            positions = self._shuffled(data, positions)
        coordinate = (positions / np.maximum(sizes - 1.0, 1.0)) @ direction  # (N,)
        phase = 2 * np.pi * self.frequency * coordinate[:, None, None] + pixel_phase
        return (np.cos(phase) > 0).astype(np.float32)

    def field(
        self, data: GroundTruthData, factors: np.ndarray, observations: np.ndarray
    ) -> np.ndarray:
        pattern = self.pattern(data, factors)[..., None]  # the same pattern in every channel
        return inward(observations) * pattern

    def _shuffled(self, data: GroundTruthData, positions: np.ndarray) -> np.ndarray:
        """The configurations whose pattern each configuration receives (a fixed permutation)."""
        if not np.array_equal(positions, np.round(positions)):
            raise ValueError("the shuffled control is defined on the factor grid only")
        total = data.num_configurations
        if total not in self._permutations:
            self._permutations[total] = np.random.RandomState(self.seed + 1).permutation(total)
        index = data.index_of(positions.astype(np.int64))
        return data.factors_of(self._permutations[total][index]).astype(np.float64)


class ShuffledOblique(ObliqueStripes):
    """The control for :class:`ObliqueStripes`: its pattern images, assigned to a fixed random
    permutation of the configurations (``oblique`` with ``shuffle=True``)."""

    name = "oblique_shuffled"

    def __init__(
        self,
        eps: float = 0.1,
        seed: int = 0,
        frequency: float = 16.0,
        block: int = 8,
        shuffle: bool = True,
    ) -> None:
        super().__init__(eps, seed, frequency, block, shuffle)
