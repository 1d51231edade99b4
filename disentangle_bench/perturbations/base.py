"""Additive perturbations of a ground-truth dataset: ``x' = clip(x + eps * m(w), 0, 1)``.

Datasets whose observations are not images in [0, 1] declare ``value_range`` (``None``: no
clipping); the perturbed dataset clips to its base's range.

``m`` is a deterministic function of the factor configuration ``w`` with ``||m(w)||_inf <= 1``
(Zietlow, Rolinek and Martius, ICML 2021). The factors, their sizes and their order are those of
the base dataset; only the observations change, by at most ``eps`` per pixel.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData, derived_fingerprint


class AdditivePerturbation(abc.ABC):
    """A perturbation ``x' = clip(x + eps * m(w), 0, 1)``; subclasses define the field ``m``."""

    name: ClassVar[str]
    #: Whether ``field`` is defined at fractional factor positions (needed by the diagnostic's
    #: off-grid direction scan); fields that are fixed per grid configuration are not.
    defined_off_grid: ClassVar[bool] = False

    def __init__(self, eps: float = 0.1, seed: int = 0) -> None:
        if not 0.0 < float(eps) <= 1.0:
            raise ValueError(f"eps must be in (0, 1], got {eps}")
        self.eps = float(eps)
        self.seed = int(seed)

    def parameters(self) -> dict[str, Any]:
        """The hyperparameters that define the perturbation (recorded in fingerprints)."""
        return {"eps": self.eps, "seed": self.seed}

    @abc.abstractmethod
    def field(
        self, data: GroundTruthData, factors: np.ndarray, observations: np.ndarray
    ) -> np.ndarray:
        """``m(w)`` for each configuration: same shape as ``observations``, values in [-1, 1]."""

    def apply(self, data: GroundTruthData) -> PerturbedData:
        return PerturbedData(data, self)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"{type(self).__name__}({params})"


#: A twin of a deterministic base with at most this many float32 values is computed once and
#: kept in memory (the perturbation is then not recomputed for every batch).
CACHE_LIMIT_VALUES = 64 * 1024 * 1024


class PerturbedData(GroundTruthData):
    """A base dataset seen through an :class:`AdditivePerturbation`.

    When the base renders every configuration deterministically (procedural and array datasets)
    and the whole twin fits in :data:`CACHE_LIMIT_VALUES` float32 values, all observations are
    computed once, at first use, and batches are read from memory: the same values, without
    recomputing the perturbation per batch.
    """

    def __init__(self, base: GroundTruthData, perturbation: AdditivePerturbation) -> None:
        self.base = base
        self.perturbation = perturbation
        self._all: np.ndarray | None = None

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self.base.factor_names)

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        return tuple(self.base.factors_num_values)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return tuple(self.base.observation_shape)  # type: ignore[return-value]

    @property
    def fingerprint(self) -> str:
        return derived_fingerprint(
            self.base.fingerprint, self.perturbation.name, self.perturbation.parameters()
        )

    @property
    def categorical_factors(self) -> tuple[str, ...]:
        return tuple(getattr(self.base, "categorical_factors", ()))

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The range observations are clipped to: the base's (``(0, 1)`` for images)."""
        return getattr(self.base, "value_range", (0.0, 1.0))

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.RandomState
    ) -> np.ndarray:
        if self._cacheable():
            if self._all is None:
                every = self.factors_of(np.arange(self.num_configurations))
                clean = self.base.sample_observations_from_factors(every, None)
                self._all = self._perturb(every, clean)
            return self._all[self.index_of(np.asarray(factors, dtype=np.int64))]
        clean = self.base.sample_observations_from_factors(factors, random_state)
        return self._perturb(factors, clean)

    def _cacheable(self) -> bool:
        from disentangle_bench.data.ground_truth import ArrayGroundTruthData
        from disentangle_bench.data.procedural import ProceduralData

        size = self.num_configurations * int(np.prod(self.observation_shape))
        deterministic = isinstance(self.base, ProceduralData | ArrayGroundTruthData)
        return deterministic and size <= CACHE_LIMIT_VALUES

    def perturb(self, factors: np.ndarray, clean: np.ndarray) -> np.ndarray:
        """``clip(clean + eps * m(factors))`` for observations the caller already has."""
        return self._perturb(factors, clean)

    def _perturb(self, factors: np.ndarray, clean: np.ndarray) -> np.ndarray:
        field = self.perturbation.field(self.base, factors, clean)
        perturbed = clean.astype(np.float32) + np.float32(self.perturbation.eps) * field.astype(
            np.float32
        )
        if self.value_range is not None:
            low, high = self.value_range
            np.clip(perturbed, low, high, out=perturbed)
        return perturbed
