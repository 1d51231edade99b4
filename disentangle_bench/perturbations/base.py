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


class PerturbedData(GroundTruthData):
    """A base dataset seen through an :class:`AdditivePerturbation`."""

    def __init__(self, base: GroundTruthData, perturbation: AdditivePerturbation) -> None:
        self.base = base
        self.perturbation = perturbation

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
        clean = self.base.sample_observations_from_factors(factors, random_state)
        return self._perturb(factors, clean)

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
