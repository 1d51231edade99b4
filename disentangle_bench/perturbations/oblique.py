"""The oblique block-stripe perturbation: rotates the local variance structure, in grid units.

Design (this project's; the paper's exact recipe is not public). The image is cut into
``block x block`` pixel blocks, each with a fixed random phase ``phi_b``. For a factor
configuration ``w`` (grid indices), with ``M`` the mixed factors and ``sigma_k`` seeded random
signs,

    theta(w)  = pi * sum_{k in M} a_k sigma_k w_k,
    m_p(w)    = inward(x_p(w)) * 1[cos(theta(w) + phi_b(p)) > 0],
    inward(x) = +1 if x < 1/2 else -1.

- *Designed in grid units.* A one-step move along a mixed factor advances the phase by
  ``pi a_k``; a block switches when one of its two threshold crossings falls inside that arc, so
  the share of blocks that switch per step is exactly ``a_k`` (averaged over the phase lattice),
  whatever the factor's number of values: the same on the small and the full grid. ``a_k`` is
  ``switch_share`` for every ordinal factor. Along the diagonal ``sigma_k e_k + sigma_l e_l`` of
  two mixed factors the share is ``a_k + a_l``, along the other diagonal ``|a_k - a_l|`` (0 for
  equal shares): the cheapest direction of change turns to 45 degrees from the axes. No aliasing:
  ``switch_share <= 1/4``, so one step along an axis or a two-factor diagonal advances the phase
  by at most a quarter period.
- *Which factors.* ``factors`` names the mixed factors; by default every ordinal factor (more
  than one value, neither categorical nor cyclic). Categorical factors (a shape) have no order
  and cannot be mixed. A cyclic factor (dSprites' orientation) may be named: its advance is
  rounded so that a full turn returns the phase to its start (``a_k = 2 j / n_k`` with ``j`` the
  nearest whole number of half turns), and a grid too coarse to carry ``switch_share`` (fewer
  than ``2 / switch_share`` values) is refused.
- *Factors kept.* ``||m||_inf <= 1`` and the push is always inward, so nothing is clipped for
  ``eps <= 1/2``; for binary images thresholding ``x'`` at 1/2 returns ``x``.
- *Learnable.* Phases constant on blocks (default: an eighth of the image side) can be
  reproduced by a decoder; a per-pixel phase is treated as noise (variance-structure reference).
- *What it adds.* The pattern depends on ``w`` only through the circular phase ``theta(w)``: a
  new, one-dimensional circular variable in the images. docs/perturbations.md says how the test
  bed study checks whether trained models encode it on its own.

``profile`` shapes the pattern along its phase: ``'square'`` (the default, above) switches a block
fully on or off; ``'cosine'`` pushes by ``(1 + cos(theta + phi_b)) / 2``, smooth in the phase, so
each image's pattern is an affine function of ``(cos theta, sin theta)`` (three fixed images span
it: the constant, cosine and sine images) and a decoder can reproduce it linearly. The phase
lattice, and the share of pixels whose push crosses one half per step (what
:mod:`disentangle_bench.diagnostics.switching` measures), are the same for both; the cosine profile
moves every pixel a little on each step instead of a quarter of them fully. The default profile is
left out of :meth:`parameters`, so the fingerprints of square-profile twins did not change when the
option was added.

``shuffle=True`` is the control ``oblique_shuffled``: the same pattern images assigned to a fixed
random permutation of the configurations. It keeps every per-image statistic and removes the
relation between the pattern and the factors: the pattern becomes an extra image variable that
no factor explains (a decoder can only memorise it), not an absence of structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.base import AdditivePerturbation
from disentangle_bench.util.errors import ConfigError

#: The largest switch share: one step along an axis or a two-factor diagonal advances the
#: phase by at most a quarter period.
MAX_SWITCH_SHARE = 0.25
#: The pattern's shape along its phase (see the module docstring).
PROFILES = ("square", "cosine")


def inward(observations: np.ndarray) -> np.ndarray:
    """+1 where a pixel is below 1/2, -1 elsewhere: a push that clipping never removes."""
    return np.where(observations < 0.5, 1.0, -1.0).astype(np.float32)


def factor_kinds(data: GroundTruthData) -> tuple[set[str], set[str]]:
    """(categorical, cyclic) factor names, looked up through wrapped datasets."""
    source: Any = data
    while not hasattr(source, "cyclic_factors") and hasattr(source, "base"):
        source = source.base
    categorical = set(getattr(data, "categorical_factors", ()))
    return categorical, set(getattr(source, "cyclic_factors", ()))


def ordinal_factors(data: GroundTruthData) -> tuple[str, ...]:
    """The factors an oblique pattern mixes by default: more than one value, neither
    categorical nor cyclic."""
    categorical, cyclic = factor_kinds(data)
    return tuple(
        name
        for name, size in zip(data.factor_names, data.factors_num_values, strict=True)
        if size > 1 and name not in categorical and name not in cyclic
    )


def step_shares(
    data: GroundTruthData, switch_share: float, factors: Sequence[str] | None = None
) -> np.ndarray:
    """The designed share ``a_k`` of blocks that switch per grid step along each factor (0 for
    factors not mixed); raises :class:`ConfigError` for a design the grid cannot carry."""
    categorical, cyclic = factor_kinds(data)
    names = list(data.factor_names)
    mixed = ordinal_factors(data) if factors is None else tuple(factors)
    unknown = [name for name in mixed if name not in names]
    if unknown:
        raise ConfigError(
            f"oblique.factors: {unknown} are not factors of {type(data).__name__} "
            f"(factors: {', '.join(names)})"
        )
    shares = np.zeros(len(names))
    for name in mixed:
        k = names.index(name)
        size = data.factors_num_values[k]
        if name in categorical:
            raise ConfigError(f"oblique.factors: {name!r} is categorical (no order to mix)")
        if size < 2:
            raise ConfigError(f"oblique.factors: {name!r} has only one value")
        if name in cyclic:
            half_turns = round(size * switch_share / 2)
            if half_turns < 1 or 2 * half_turns / size > MAX_SWITCH_SHARE + 1e-12:
                raise ConfigError(
                    f"oblique.switch_share = {switch_share}: the cyclic factor {name!r} has "
                    f"{size} values, too few to carry it (needs at least {2 / switch_share:g})"
                )
            shares[k] = 2 * half_turns / size
        else:
            shares[k] = switch_share
    if not shares.any():
        raise ConfigError(
            f"oblique.factors: {type(data).__name__} has no ordinal factor to mix; name the "
            "factors with oblique.factors"
        )
    return shares


class ObliqueStripes(AdditivePerturbation):
    """``x' = clip(x + eps * m(w), 0, 1)``: block stripes whose phase advances by a designed
    share of a half period per grid step along every mixed factor."""

    name = "oblique"

    def __init__(
        self,
        eps: float = 0.1,
        seed: int = 0,
        switch_share: float = MAX_SWITCH_SHARE,
        block: int | None = None,
        factors: Sequence[str] | None = None,
        shuffle: bool = False,
        profile: str = "square",
    ) -> None:
        super().__init__(eps, seed)
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        self.profile = profile
        if not 0.0 < self.eps <= 0.5:
            raise ValueError(f"eps must be in (0, 0.5] for the inward push, got {eps}")
        if not 0.0 < float(switch_share) <= MAX_SWITCH_SHARE:
            raise ValueError(
                f"switch_share must be in (0, {MAX_SWITCH_SHARE}] (at most a quarter period per "
                f"step along a two-factor diagonal), got {switch_share}"
            )
        if block is not None and (int(block) != block or int(block) < 1):
            raise ValueError(f"block must be a positive number of pixels, got {block}")
        if factors is not None and (isinstance(factors, str) or not len(factors)):
            raise ValueError(f"factors must be a non-empty list of factor names, got {factors!r}")
        self.switch_share = float(switch_share)
        self.block = None if block is None else int(block)
        self.factors = None if factors is None else tuple(str(name) for name in factors)
        self.shuffle = bool(shuffle)
        self.defined_off_grid = not self.shuffle
        self._layouts: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._permutations: dict[int, np.ndarray] = {}

    def parameters(self) -> dict[str, Any]:
        return {
            **super().parameters(),
            "switch_share": self.switch_share,
            "block": self.block,
            "factors": None if self.factors is None else list(self.factors),
            "shuffle": self.shuffle,
            **({} if self.profile == "square" else {"profile": self.profile}),
        }

    def check(self, data: GroundTruthData) -> None:
        """Raise :class:`ConfigError` if ``data``'s grid cannot carry this design."""
        step_shares(data, self.switch_share, self.factors)

    def apply(self, data: GroundTruthData):
        self.check(data)  # a design the grid cannot carry fails before any work
        return super().apply(data)

    def block_size(self, image_shape: tuple[int, int]) -> int:
        """Pixels per block side: ``block``, or an eighth of the shorter image side."""
        return self.block if self.block is not None else max(1, min(image_shape) // 8)

    def layout(self, data: GroundTruthData) -> tuple[np.ndarray, np.ndarray]:
        """(phase advance per grid step of each factor, in units of pi, signed (F,); the fixed
        phase of each pixel (H, W))."""
        height, width = data.observation_shape[:2]
        key = (tuple(data.factor_names), tuple(data.factors_num_values), height, width)
        if key not in self._layouts:
            shares = step_shares(data, self.switch_share, self.factors)
            rs = np.random.RandomState(self.seed)
            signs = np.where(rs.rand(len(shares)) < 0.5, -1.0, 1.0)
            block = self.block_size((height, width))
            blocks = rs.uniform(0.0, 2 * np.pi, size=(-(-height // block), -(-width // block)))
            rows = np.arange(height) // block
            cols = np.arange(width) // block
            self._layouts[key] = (signs * shares, blocks[rows][:, cols])
        return self._layouts[key]

    def phase(self, data: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        """``theta(w)`` (N,) for (possibly fractional) factor positions, in radians."""
        advance, _ = self.layout(data)
        positions = np.asarray(factors, dtype=np.float64)
        if self.shuffle:
            positions = self._shuffled(data, positions)
        return np.pi * positions @ advance

    def pattern(self, data: GroundTruthData, factors: np.ndarray) -> np.ndarray:
        """The pattern (N, H, W) in [0, 1] for (possibly fractional) factor positions: binary
        for the square profile."""
        _, pixel_phase = self.layout(data)
        wave = np.cos(self.phase(data, factors)[:, None, None] + pixel_phase)
        if self.profile == "cosine":
            return (0.5 * (1.0 + wave)).astype(np.float32)
        return (wave > 0).astype(np.float32)

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
        switch_share: float = MAX_SWITCH_SHARE,
        block: int | None = None,
        factors: Sequence[str] | None = None,
        shuffle: bool = True,
        profile: str = "square",
    ) -> None:
        super().__init__(eps, seed, switch_share, block, factors, shuffle, profile)
