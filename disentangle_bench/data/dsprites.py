"""Procedurally rendered dSprites: binary 64x64 images of one white sprite on black.

Five factors in DeepMind's order and index layout (row-major mixed radix, last factor fastest):
shape (0 square, 1 ellipse, 2 heart), scale, orientation (radians, counter-clockwise on screen),
position x (columns, left to right) and position y (rows, top to bottom).
:class:`ProceduralDSprites` uses the original grid (3 x 6 x 40 x 32 x 32 = 737,280 images),
:class:`ProceduralDSpritesSmall` a 2,304-image grid for quick CPU runs. Images are rendered with
vectorised float32 numpy (a 32 x 32 window around each sprite) and, by default, materialised once:
the small grid in memory, the full grid in the on-disk cache, bit-packed (see
:mod:`disentangle_bench.data.procedural`); ``cache=False`` renders every batch on demand.

How this differs from DeepMind's ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``:

- Each shape is an analytic implicit inside-test evaluated at the 64 x 64 pixel centres after the
  inverse similarity transform (translate, rotate, scale); a pixel is 1 exactly when its centre
  lies inside the shape or on its edge (no anti-aliasing). The original images are rasterised
  sprites, so edges, exact sizes and the outline of the heart differ; the two datasets are not
  pixel-for-pixel interchangeable.
- Sizes at scale 1, chosen to be comparable to the original sprites (not measured from them):
  square of side 20 px; ellipse with semi-axes 10.25 and 5.125 px, long axis horizontal at
  orientation 0 (20 x 10 pixels on the grid; with exactly 10 and 5 the scale-0.6 ellipse rendered
  identically at 9 and 18 degrees); heart ``(x^2 + y^2 - 1)^3 <= x^2 y^3`` at 9 px per unit,
  centred on its bounding box and point down at orientation 0 (20.5 x 20.1 px, 20 x 19 pixels).
  Every size is proportional to scale.
- Position: the sprite centre is at ``16 + 31 * position`` in pixel coordinates (pixel ``j``
  covers ``[j, j + 1)``, its centre is ``j + 0.5``), for x along columns and y along rows. On the
  32-value grid every step is exactly one pixel, neighbouring positions are exact translates, and
  the sprite centre is a pixel corner (so no pixel centre lies on the square's edge). The range is
  half a pixel off the frame centre (midpoint 31.5, not 32). The largest sprite (the square at 45
  degrees, radius 14.2 px) leaves at least the two outer rows and columns empty at every grid
  position.
- Rotational symmetry: as in the original, the square repeats every 90 degrees and the ellipse
  every 180 degrees, so orientations that differ by those angles give identical images. These are
  the only coincidences: the full grid has 430,080 distinct images (6 scales x 1024 positions x
  (10 + 20 + 40) orientations). The small grid (0, 22.5, 45, 67.5 degrees) has no symmetric pair
  and all of its 2,304 images are distinct.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from disentangle_bench.data.procedural import ProceduralData

IMAGE_SIZE = 64
FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
SHAPE_NAMES = ("square", "ellipse", "heart")
DEFAULT_CHUNK_SIZE = 4096

# Sprite centre in pixel coordinates: POSITION_OFFSET + POSITION_RANGE * position.
POSITION_OFFSET = 16.0
POSITION_RANGE = 31.0
# Sprite geometry at scale 1, in pixels.
SQUARE_HALF_SIDE = 10.0
ELLIPSE_SEMI_AXES = (10.25, 5.125)  # (horizontal, vertical) at orientation 0
HEART_PIXELS_PER_UNIT = 9.0
# The implicit heart spans y in [-1, 1.236]; shifting by this centres its bounding box.
_HEART_Y_SHIFT = 0.118

DSPRITES_CITATION = """@misc{dsprites17,
  author = {Loic Matthey and Irina Higgins and Demis Hassabis and Alexander Lerchner},
  title = {dSprites: Disentanglement testing Sprites dataset},
  howpublished = {https://github.com/deepmind/dsprites-dataset/},
  year = {2017}
}"""

_PIXEL_CENTRES = np.arange(IMAGE_SIZE, dtype=np.float32) + np.float32(0.5)
# Sprites are drawn in a window of this many pixels around their centre when they fit in it.
_WINDOW = 32


class _Params(NamedTuple):
    """Per-image factor values (except the shape), float64 (n,)."""

    scale: np.ndarray
    orientation: np.ndarray
    position_x: np.ndarray
    position_y: np.ndarray


class _Window(NamedTuple):
    """Where each image's pixels are evaluated: sprite centres relative to a square window."""

    centre_x: np.ndarray  # float32 (n,), in pixels from the window's left edge
    centre_y: np.ndarray  # float32 (n,), in pixels from the window's top edge
    size: int


def _grid(*values: np.ndarray) -> tuple[np.ndarray, ...]:
    arrays = tuple(np.asarray(v, dtype=np.float64) for v in values)
    for array in arrays:
        array.setflags(write=False)
    return arrays


FULL_GRID = _grid(
    np.arange(3),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40, endpoint=False),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
SMALL_GRID = _grid(
    np.arange(3),
    np.linspace(0.5, 1.0, 3),
    np.linspace(0.0, np.pi / 2.0, 4, endpoint=False),
    np.linspace(0.0, 1.0, 8),
    np.linspace(0.0, 1.0, 8),
)


def _sprite_frame(
    params: _Params, window: _Window, half_extent: tuple[float, float], y_shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Window pixel centres in each sprite's own frame: ``u`` right, ``v`` up, (n, size, size).

    The sprite frame is the pixel frame moved to the sprite centre, rotated by ``-orientation``
    and divided by ``scale * half_extent`` per axis.
    """
    scale, orientation, _, _ = params
    cos = np.cos(orientation)
    sin = np.sin(orientation)
    sx = scale * half_extent[0]
    sy = scale * half_extent[1]
    centres = _PIXEL_CENTRES[: window.size]
    dx = centres[None, None, :] - window.centre_x[:, None, None]  # (n, 1, size)
    dy = window.centre_y[:, None, None] - centres[None, :, None]  # (n, size, 1), y up

    def coefficient(values: np.ndarray) -> np.ndarray:
        return values.astype(np.float32)[:, None, None]

    u = coefficient(cos / sx) * dx + coefficient(sin / sx) * dy
    v = coefficient(-sin / sy) * dx + coefficient(cos / sy) * dy
    if y_shift:
        v += np.float32(y_shift)
    return u, v


def _square(params: _Params, window: _Window) -> np.ndarray:
    u, v = _sprite_frame(params, window, (SQUARE_HALF_SIDE, SQUARE_HALF_SIDE))
    np.abs(u, out=u)
    np.abs(v, out=v)
    return np.maximum(u, v, out=u) <= 1.0


def _ellipse(params: _Params, window: _Window) -> np.ndarray:
    u, v = _sprite_frame(params, window, ELLIPSE_SEMI_AXES)
    u *= u
    v *= v
    u += v
    return u <= 1.0


def _heart(params: _Params, window: _Window) -> np.ndarray:
    unit = (HEART_PIXELS_PER_UNIT, HEART_PIXELS_PER_UNIT)
    x, y = _sprite_frame(params, window, unit, _HEART_Y_SHIFT)
    x *= x  # x^2
    rhs = y * y
    cubic = x + rhs
    cubic -= 1.0  # x^2 + y^2 - 1
    rhs *= y
    rhs *= x  # x^2 y^3
    lhs = cubic * cubic
    lhs *= cubic  # (x^2 + y^2 - 1)^3
    return lhs <= rhs


# Per shape: inside-test and a radius (in pixels at scale 1) that contains the whole sprite
# whatever its orientation (square: half-diagonal; heart: half-diagonal of its bounding box).
_SHAPES: tuple[tuple[Callable[[_Params, _Window], np.ndarray], float], ...] = (
    (_square, SQUARE_HALF_SIDE * np.sqrt(2.0)),
    (_ellipse, max(ELLIPSE_SEMI_AXES)),
    (_heart, HEART_PIXELS_PER_UNIT * np.hypot(1.14, 1.12)),
)


def _window_origins(
    centre_x: np.ndarray, centre_y: np.ndarray, reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-left pixel (row, column) of a window around each sprite, and whether it fits there.

    A sprite fits when every part of it inside the frame lies inside its window; ``reach`` is
    the radius, in pixels, of a disc that holds the sprite.
    """
    top = IMAGE_SIZE - _WINDOW
    fits = np.ones(centre_x.shape, dtype=bool)
    origins = []
    for centre in (centre_y, centre_x):
        origin = np.clip(np.round(centre) - _WINDOW // 2, 0, top).astype(np.int64)
        fits &= (centre - reach >= origin) | (origin == 0)
        fits &= (centre + reach <= origin + _WINDOW) | (origin == top)
        origins.append(origin)
    return origins[0], origins[1], fits


def _render_group(images: np.ndarray, shape: int, params: _Params) -> None:
    """Draw sprites of one shape into the zeroed ``images`` (n, H, W), one per image."""
    inside, radius = _SHAPES[shape]
    centre_x = POSITION_OFFSET + POSITION_RANGE * params.position_x
    centre_y = POSITION_OFFSET + POSITION_RANGE * params.position_y
    row_origin, col_origin, fits = _window_origins(centre_x, centre_y, radius * params.scale)
    small = np.flatnonzero(fits)
    if small.size:
        rows, cols = row_origin[small], col_origin[small]
        window = _Window(
            (centre_x[small] - cols).astype(np.float32),
            (centre_y[small] - rows).astype(np.float32),
            _WINDOW,
        )
        views = sliding_window_view(images, (_WINDOW, _WINDOW), axis=(1, 2), writeable=True)
        # Each image is written once, through one window, so the overlapping views are safe.
        views[small, rows, cols] = inside(_Params(*(a[small] for a in params)), window)
    large = np.flatnonzero(~fits)
    if large.size:
        frame = _Window(
            centre_x[large].astype(np.float32), centre_y[large].astype(np.float32), IMAGE_SIZE
        )
        images[large] = inside(_Params(*(a[large] for a in params)), frame)


def render_dsprites(
    shape_index: np.ndarray,
    scale: np.ndarray,
    orientation: np.ndarray,
    position_x: np.ndarray,
    position_y: np.ndarray,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> np.ndarray:
    """Binary sprites, uint8 (N, 64, 64) in {0, 1}, from 1-D arrays of factor values.

    ``shape_index`` holds integral values (0 square, 1 ellipse, 2 heart), ``scale`` a size factor
    (1 is the largest grid size), ``orientation`` radians (counter-clockwise on screen), and
    ``position_x`` / ``position_y`` move the sprite along columns / rows, 0 to 1 covering the grid
    range (values outside [0, 1] may push the sprite out of the frame). Work is done
    ``chunk_size`` images at a time, so temporary memory stays bounded.
    """
    shape_values = np.asarray(shape_index).reshape(-1)
    shapes = shape_values.astype(np.int64)
    if np.any(shapes != shape_values):
        raise ValueError("shape_index must hold integral values")
    if np.any((shapes < 0) | (shapes >= len(_SHAPES))):
        raise ValueError(f"shape_index must be in [0, {len(_SHAPES)})")
    values = _Params(
        *(
            np.asarray(a, dtype=np.float64).reshape(-1)
            for a in (scale, orientation, position_x, position_y)
        )
    )
    if any(a.shape != shapes.shape for a in values):
        raise ValueError("all factor arrays must have the same length")
    if not all(np.all(np.isfinite(a)) for a in values) or np.any(values.scale <= 0):
        raise ValueError("factor values must be finite and scale positive")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    images = np.zeros((shapes.shape[0], IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for start in range(0, shapes.shape[0], chunk_size):
        stop = start + chunk_size
        chunk_shapes = shapes[start:stop]
        chunk = images[start:stop]
        for shape in range(len(_SHAPES)):
            rows = np.flatnonzero(chunk_shapes == shape)
            if rows.size == chunk_shapes.size:
                _render_group(chunk, shape, _Params(*(a[start:stop] for a in values)))
            elif rows.size:
                group = np.zeros((rows.size, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
                _render_group(group, shape, _Params(*(a[start:stop][rows] for a in values)))
                chunk[rows] = group
    return images


class ProceduralDSprites(ProceduralData):
    """dSprites on the original 737,280-configuration grid.

    ``grid`` holds one array of physical values per factor; a subclass changes the grid by
    overriding it. Observations are float32 (N, 64, 64, 1) in {0, 1}.

    Hyperparameter ``cache`` (default True): materialise all images once (bit-packed, 377 MB;
    the full grid in the on-disk cache, built in about 10 s the first time) and sample batches
    from memory; False renders every batch on demand.
    """

    name: ClassVar[str] = "dsprites"
    grid: ClassVar[tuple[np.ndarray, ...]] = FULL_GRID
    binary: ClassVar[bool] = True
    categorical_factors: ClassVar[tuple[str, ...]] = ("shape",)
    #: Orientation runs over a full turn (its last value neighbours its first).
    cyclic_factors: ClassVar[tuple[str, ...]] = ("orientation",)
    citation: ClassVar[str] = DSPRITES_CITATION
    description: ClassVar[str] = (
        "Procedurally rendered dSprites (disentangle-bench): one white sprite (square, ellipse, "
        "heart) on black, 64x64 binary, on DeepMind's factor grid and index layout."
    )

    def __init__(self, cache: bool = True) -> None:
        super().__init__(cache=cache)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return FACTOR_NAMES

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return tuple(len(values) for values in self.grid)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (IMAGE_SIZE, IMAGE_SIZE, 1)

    @property
    def value_grid(self) -> tuple[np.ndarray, ...]:
        return self.grid

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """Physical values, float64 (N, F), of int factor indices (N, F)."""
        factors = self.check_factors(factors)
        return np.stack([values[factors[:, i]] for i, values in enumerate(self.grid)], axis=1)

    def render_factors(self, factors: np.ndarray) -> np.ndarray:
        """Binary images, uint8 (N, 64, 64, 1), for int factor indices (N, F)."""
        values = self.factor_values(factors)
        return render_dsprites(*values.T)[..., None]

    #: Factors that can be rendered between grid values (see :meth:`observations_at`).
    off_grid_factors: ClassVar[tuple[str, ...]] = FACTOR_NAMES[1:]

    def observations_at(self, positions: np.ndarray) -> np.ndarray:
        """float32 (N, 64, 64, 1) at fractional factor positions (grid indices), the values
        interpolated linearly between grid values; the shape must be an integer index. Used by
        the variance diagnostic to move along directions between the factor axes."""
        positions = np.asarray(positions, dtype=np.float64)
        shape = positions[:, 0]
        if np.any(shape != np.round(shape)):
            raise ValueError("the shape factor has no values between its grid values")
        values = [
            np.interp(positions[:, k], np.arange(len(grid)), grid)
            for k, grid in enumerate(self.grid)
        ]
        return render_dsprites(shape.astype(np.int64), *values[1:])[..., None].astype(np.float32)


class ProceduralDSpritesSmall(ProceduralDSprites):
    """A 2,304-image dSprites grid: 3 shapes, 3 scales, 4 orientations, 8 x 8 positions."""

    name: ClassVar[str] = "dsprites_small"
    grid: ClassVar[tuple[np.ndarray, ...]] = SMALL_GRID
