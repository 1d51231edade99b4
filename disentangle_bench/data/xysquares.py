"""XYSquares: three 8 x 8 squares (red, green, blue), each on an 8 x 8 grid of positions.

From Michlo, Klein and James, "Overlooked Implications of the Reconstruction Loss for VAE
Disentanglement" (IJCAI 2023), whose disent framework defines it: six factors (x and y of each
square, 8 values each; 262,144 images), 64 x 64 RGB, each square drawn only in its own channel
(so overlapping squares mix their colours). With ``spacing = 8`` (the default, the square size)
neighbouring positions never share a pixel, so every step of any factor changes the image by the
same pixel distance: the dataset that defeats pixel-wise reconstruction losses. Smaller spacings
make neighbouring positions overlap (disent's ``grid_size=8``: 8 positions whatever the
spacing). The grid of positions is centred in the frame: a square's left edge is at
``offset + spacing * x`` with ``offset = (64 - (7 * spacing + 8)) // 2``, as in disent. Images
are binary per channel (0 or 1).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.procedural import ProceduralData

IMAGE_SIZE = 64
SQUARE_SIZE = 8
POSITIONS = 8
FACTOR_NAMES = ("x_R", "y_R", "x_G", "y_G", "x_B", "y_B")  # as disent
XYSQUARES_CITATION = """@inproceedings{michlo2023overlooked,
  title = {Overlooked Implications of the Reconstruction Loss for VAE Disentanglement},
  author = {Michlo, Nathan and Klein, Richard and James, Steven},
  booktitle = {Proceedings of the Thirty-Second International Joint Conference on Artificial
               Intelligence, {IJCAI-23}},
  year = {2023}
}"""


class XYSquares(ProceduralData):
    """Three squares, one per colour channel, at 8 x 8 positions each (262,144 images).

    Hyperparameters: ``spacing`` (pixels between neighbouring positions, 1 to 8; default 8),
    ``cache`` (default False: rendering is a few array writes per image).
    """

    name: ClassVar[str] = "xysquares"
    binary: ClassVar[bool] = True
    citation: ClassVar[str] = XYSQUARES_CITATION
    description: ClassVar[str] = (
        "XYSquares (Michlo et al. 2023): a red, a green and a blue 8x8 square, each on an 8x8 "
        "grid of positions, 64x64 RGB, binary per channel."
    )

    def __init__(self, spacing: int = 8, cache: bool = False) -> None:
        if int(spacing) != spacing or not 1 <= int(spacing) <= SQUARE_SIZE:
            raise ValueError(f"spacing must be an integer in [1, {SQUARE_SIZE}], got {spacing}")
        super().__init__(cache=cache)
        self.spacing = int(spacing)
        self.offset = (IMAGE_SIZE - (self.spacing * (POSITIONS - 1) + SQUARE_SIZE)) // 2

    @property
    def factor_names(self) -> tuple[str, ...]:
        return FACTOR_NAMES

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return (POSITIONS,) * 6

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (IMAGE_SIZE, IMAGE_SIZE, 3)

    @property
    def value_grid(self) -> tuple[np.ndarray, ...]:
        """The pixel coordinate of each square's left (x) or top (y) edge."""
        edges = self.offset + self.spacing * np.arange(POSITIONS, dtype=np.float64)
        return (edges,) * 6

    def key_parameters(self) -> tuple[Any, ...]:
        return (self.spacing,)

    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """Binary uint8 (N, 64, 64, 3) images for int factor indices (N, 6)."""
        factors = self.check_factors(factors)
        n = len(factors)
        images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        span = np.arange(SQUARE_SIZE)
        rows_of_image = np.arange(n)[:, None, None]
        for channel in range(3):
            left = self.offset + self.spacing * factors[:, 2 * channel]
            top = self.offset + self.spacing * factors[:, 2 * channel + 1]
            rows = (top[:, None] + span[None, :])[:, :, None]
            cols = (left[:, None] + span[None, :])[:, None, :]
            images[rows_of_image, rows, cols, channel] = 1
        return images
