"""Training samplers: what a model's ``sample_kind`` asks the trainer for.

Every sampler draws only from the ``np.random.RandomState`` it is called with, so a checkpoint of
that state resumes the exact stream of batches.

- ``single`` (:class:`SingleSampler`): observations ``(N, H, W, C)``, factors uniform and
  independent (the dataset's ``sample_observations``).
- ``natural_pairs`` (:class:`NaturalPairSampler`, SlowVAE and PCL): pairs ``(x_0, x_1)`` whose
  factors move by sparse, Laplace-distributed transitions, as in Klindt et al. (ICLR 2021) and
  their data code. ``x_0``'s factors are uniform; each factor ``i`` with ``n_i > 1`` values then
  moves to value ``v`` with probability proportional to ``exp(-|v - w_0i| / s_i)``,
  ``s_i = ln(n_i) / rate``: a discrete Laplace *truncated to the grid and renormalised* (no
  clipping or reflection, so no mass piles up at the edges). Larger ``rate``: sparser, smaller
  moves. Factors the dataset lists in ``categorical_factors`` (names; e.g. a shape) never move.
  If no factor moved, one movable factor (uniform) is redrawn from its Laplace without its current
  value, so every pair differs.
- ``weak_pairs`` (:class:`WeakPairSampler`, Ada-GVAE): pairs whose factors differ in exactly
  ``k`` factors (Locatello et al., ICML 2020): ``k`` distinct factors (uniform among those with
  more than one value) are each redrawn uniformly among their *other* values. ``k = -1``: ``k``
  is drawn per pair uniformly from 1 .. F-1 (the paper's "k = Rnd"). (disentanglement_lib's
  ``simple_dynamics`` differs: it changes ``k`` or 1 factors with equal probability, and may
  redraw the old value.)

Pairs are returned as one array ``(2, N, H, W, C)``: ``[0]`` the first and ``[1]`` the second
observation of each pair. :func:`make_sampler` builds the sampler a model asks for and checks that
the dataset can make its samples, with one clear :class:`~disentangle_bench.util.errors.ConfigError`
otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.util.errors import ConfigError, PluginError

SAMPLE_KINDS = ("single", "natural_pairs", "weak_pairs")


class SingleSampler:
    """Single observations, ``(N, H, W, C)``."""

    kind = "single"

    def __init__(self, data: GroundTruthData) -> None:
        self.data = data

    def __call__(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        return self.data.sample_observations(num, random_state)


class _PairSampler:
    """Pairs of observations from pairs of factor configurations."""

    kind = ""

    def __init__(self, data: GroundTruthData) -> None:
        self.data = data

    def sample_factors(
        self, num: int, random_state: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        first, second = self.sample_factors(num, random_state)
        return np.stack(
            [
                self.data.sample_observations_from_factors(first, random_state),
                self.data.sample_observations_from_factors(second, random_state),
            ]
        )


def _factor_indices(data: GroundTruthData, names: Sequence[str]) -> list[int]:
    unknown = [name for name in names if name not in data.factor_names]
    if unknown:
        raise ConfigError(f"categorical_factors {unknown} are not factors of {data!r}")
    return [data.factor_names.index(name) for name in names]


class NaturalPairSampler(_PairSampler):
    """Pairs with sparse, Laplace-distributed factor transitions (module docstring)."""

    kind = "natural_pairs"

    def __init__(self, data: GroundTruthData, rate: float = 1.0) -> None:
        super().__init__(data)
        if not float(rate) > 0:
            raise ConfigError(f"natural pairs need a positive transition rate, got {rate}")
        self.rate = float(rate)
        sizes = [int(s) for s in data.factors_num_values]
        fixed = set(_factor_indices(data, getattr(data, "categorical_factors", ())))
        self.movable = [i for i, size in enumerate(sizes) if size > 1 and i not in fixed]
        if not self.movable:
            raise ConfigError(
                f"natural pairs need a factor that can move, but every factor of {data!r} has a "
                "single value or is categorical"
            )
        # transition[i][a, b] = P(w_1i = b | w_0i = a), the truncated, renormalised Laplace.
        self.transition: dict[int, np.ndarray] = {}
        for i in self.movable:
            values = np.arange(sizes[i])
            scale = np.log(sizes[i]) / self.rate
            weights = np.exp(-np.abs(values[None, :] - values[:, None]) / scale)
            self.transition[i] = weights / weights.sum(axis=1, keepdims=True)

    def sample_factors(
        self, num: int, random_state: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray]:
        first = self.data.sample_factors(num, random_state)
        second = first.copy()
        uniforms = random_state.random_sample((num, len(self.movable)))
        for column, i in enumerate(self.movable):
            cumulative = np.cumsum(self.transition[i][first[:, i]], axis=1)
            second[:, i] = _inverse_cdf(cumulative, uniforms[:, column])
        unchanged = np.flatnonzero((second == first).all(axis=1))
        if unchanged.size:
            choice = random_state.randint(len(self.movable), size=unchanged.size)
            redraw = random_state.random_sample(unchanged.size)
            for row, column, u in zip(unchanged, choice, redraw):
                i = self.movable[column]
                probabilities = self.transition[i][first[row, i]].copy()
                probabilities[first[row, i]] = 0.0
                cumulative = np.cumsum(probabilities / probabilities.sum())
                second[row, i] = _inverse_cdf(cumulative[None, :], np.array([u]))[0]
        return first, second


def _inverse_cdf(cumulative: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Row-wise inverse-CDF draws: the first index whose cumulative probability exceeds u."""
    index = (cumulative <= uniforms[:, None]).sum(axis=1)
    return np.minimum(index, cumulative.shape[1] - 1)


class WeakPairSampler(_PairSampler):
    """Pairs that differ in exactly ``k`` factors (``k = -1``: uniform in 1 .. F-1 per pair)."""

    kind = "weak_pairs"

    def __init__(self, data: GroundTruthData, k: int = 1) -> None:
        super().__init__(data)
        self.movable = [i for i, size in enumerate(data.factors_num_values) if int(size) > 1]
        count = len(self.movable)
        if k == -1:
            if count < 2:
                raise ConfigError(
                    f"weak pairs with a random k (1 .. F-1) need at least 2 factors with more "
                    f"than one value; {data!r} has {count}"
                )
        elif not 1 <= k <= count:
            raise ConfigError(
                f"weak pairs with k={k} differing factors need at least {k} factors with more "
                f"than one value; {data!r} has {count}"
            )
        self.k = int(k)

    def sample_factors(
        self, num: int, random_state: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray]:
        first = self.data.sample_factors(num, random_state)
        count = len(self.movable)
        random_k = self.k == -1
        k = random_state.randint(1, count, size=num) if random_k else np.full(num, self.k)
        ranks = random_state.random_sample((num, count)).argsort(axis=1).argsort(axis=1)
        offsets = random_state.random_sample((num, count))
        second = first.copy()
        for column, i in enumerate(self.movable):
            size = int(self.data.factors_num_values[i])
            change = ranks[:, column] < k
            shift = 1 + np.floor(offsets[:, column] * (size - 1)).astype(np.int64)
            second[change, i] = (first[change, i] + shift[change]) % size
        return first, second


def make_sampler(model: Any, data: GroundTruthData) -> Any:
    """The sampler for ``model.sample_kind`` (default ``'single'``) with ``model.sample_options``.

    Raises :class:`ConfigError` when the dataset cannot make the samples the model needs.
    """
    kind = getattr(model, "sample_kind", "single")
    options = dict(getattr(model, "sample_options", None) or {})
    name = getattr(model, "name", type(model).__name__)
    if kind == "single":
        return SingleSampler(data)
    try:
        if kind == "natural_pairs":
            return NaturalPairSampler(data, **options)
        if kind == "weak_pairs":
            return WeakPairSampler(data, **options)
    except ConfigError as error:
        raise ConfigError(f"model {name!r} cannot train on this dataset: {error}") from None
    except TypeError as error:
        raise PluginError(f"model {name!r} has invalid sample_options {options}: {error}") from None
    raise PluginError(
        f"model {name!r} asks for sample_kind {kind!r}; expected one of {', '.join(SAMPLE_KINDS)}"
    )
