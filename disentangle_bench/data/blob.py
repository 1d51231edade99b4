"""The CPU test bed: one anisotropic Gaussian blob on a grid of positions.

A 32 x 32 grayscale image of ``exp(-(c - x)^2 / (2 sigma_x^2) - (r - y)^2 / (2 sigma_y^2))``
with its centre ``(x, y)`` on a ``num_positions x num_positions`` grid spanning the pixels
``margin .. size - 1 - margin``. Two ordinal factors, ``position_x`` and ``position_y``.

Why this base (variance-structure reference, "A CPU test-bed candidate"; measurements in
docs/testbed.md):

- the blob is wider in y than in x (``sigma_y = 2 sigma_x``), so a one-step move along x changes
  more pixel mass than one along y: the factors induce *distinct* local variances and the
  principal directions are the factor axes (a round blob or a square sprite is degenerate);
- it is smooth at the grid step (``sigma_x`` about two grid steps), so the data are locally
  linear in the factors, as the VAE-PCA picture assumes (a narrow blob gave mixed codes);
- it is small enough (256 images, 1,024 pixels) for an MLP VAE to train in seconds on a CPU.

Off-grid positions render exactly (:meth:`observations_at`), so the variance diagnostic's
direction scan sees the continuous image.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.procedural import ProceduralData


class Blob(ProceduralData):
    """An anisotropic Gaussian blob at ``num_positions x num_positions`` grid positions.

    Hyperparameters: ``size`` (image side, pixels), ``num_positions`` (grid values per factor),
    ``sigma_x`` / ``sigma_y`` (blob widths, pixels), ``margin`` (pixels between the frame and the
    outermost centres).
    """

    name: ClassVar[str] = "blob"
    description: ClassVar[str] = (
        "One anisotropic Gaussian blob (sigma_x < sigma_y) on a grid of centre positions, "
        "grayscale: disentangle-bench's CPU test bed."
    )

    def __init__(
        self,
        size: int = 32,
        num_positions: int = 16,
        sigma_x: float = 2.5,
        sigma_y: float = 5.0,
        margin: int = 6,
        cache: bool = True,
    ) -> None:
        if int(size) != size or size < 8:
            raise ValueError(f"size must be an integer of at least 8 pixels, got {size}")
        if int(num_positions) != num_positions or num_positions < 2:
            raise ValueError(f"num_positions must be an integer of at least 2, got {num_positions}")
        if not (sigma_x > 0 and sigma_y > 0):
            raise ValueError(f"sigma_x and sigma_y must be positive, got {sigma_x}, {sigma_y}")
        if int(margin) != margin or not 0 <= margin < size / 2 - 1:
            raise ValueError(f"margin must be an integer in [0, size / 2 - 1), got {margin}")
        super().__init__(cache=cache)
        self.size = int(size)
        self.num_positions = int(num_positions)
        self.sigma_x = float(sigma_x)
        self.sigma_y = float(sigma_y)
        self.margin = int(margin)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return ("position_x", "position_y")

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return (self.num_positions, self.num_positions)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, 1)

    @property
    def value_grid(self) -> tuple[np.ndarray, ...]:
        """The pixel coordinate of the blob's centre along each factor."""
        centres = np.linspace(self.margin, self.size - 1 - self.margin, self.num_positions)
        return (centres, centres)

    def key_parameters(self) -> tuple[Any, ...]:
        return (self.size, self.num_positions, self.sigma_x, self.sigma_y, self.margin)

    def intensities(self, positions: np.ndarray) -> np.ndarray:
        """float64 (N, size, size) blob images for (possibly fractional) factor positions."""
        positions = np.asarray(positions, dtype=np.float64)
        step = (self.size - 1 - 2 * self.margin) / (self.num_positions - 1)
        centre_x = self.margin + step * positions[:, 0]
        centre_y = self.margin + step * positions[:, 1]
        pixels = np.arange(self.size, dtype=np.float64)
        across = np.exp(-0.5 * ((pixels[None, :] - centre_x[:, None]) / self.sigma_x) ** 2)
        down = np.exp(-0.5 * ((pixels[None, :] - centre_y[:, None]) / self.sigma_y) ** 2)
        return down[:, :, None] * across[:, None, :]

    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (N, size, size, 1) images for int factor indices (N, 2)."""
        factors = self.check_factors(factors)
        return np.rint(255.0 * self.intensities(factors))[..., None].astype(np.uint8)

    #: Both factors can be rendered between grid values.
    off_grid_factors: ClassVar[tuple[str, ...]] = ("position_x", "position_y")

    def observations_at(self, positions: np.ndarray) -> np.ndarray:
        """float32 (N, size, size, 1) images at fractional factor positions (N, 2)."""
        return self.intensities(positions)[..., None].astype(np.float32)
