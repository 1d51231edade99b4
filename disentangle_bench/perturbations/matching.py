"""Controls of matched magnitude: the noise strength whose perturbation changes the images by the
same mean Euclidean norm as a structural twin."""

from __future__ import annotations

import copy

import numpy as np

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.perturbations.base import PerturbedData
from disentangle_bench.perturbations.noise import MatchedNoise


def _sample(base: GroundTruthData, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    factors = base.sample_factors(num, np.random.RandomState(seed))
    return factors, base.sample_observations_from_factors(factors, np.random.RandomState(seed))


def change_norms(clean: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """Euclidean norm of ``x' - x`` per observation."""
    return np.linalg.norm((changed - clean).reshape(len(clean), -1), axis=1)


def mean_change_norm(
    base: GroundTruthData, perturbed: GroundTruthData, num: int = 2000, seed: int = 0
) -> float:
    """Mean Euclidean norm of ``x' - x`` over ``num`` sampled configurations."""
    factors, clean = _sample(base, num, seed)
    changed = perturbed.sample_observations_from_factors(factors, np.random.RandomState(seed))
    return float(change_norms(clean, changed).mean())


def matched_noise_eps(
    base: GroundTruthData,
    target_norm: float,
    *,
    num: int = 2000,
    seed: int = 0,
    noise_seed: int = 0,
) -> float:
    """The ``noise`` eps (with ``noise_seed``) whose mean change norm on ``base`` equals
    ``target_norm``.

    Clipping removes part of the noise on saturated pixels (half of it on a binary image's
    background), so the match is found by bisection on the measured norm, not by formula. The
    clean images and the noise field are drawn once; each bisection step only rescales the field.
    """
    factors, clean = _sample(base, num, seed)
    field = MatchedNoise(eps=1.0, seed=noise_seed).field(base, factors, clean).astype(np.float32)
    value_range = getattr(base, "value_range", (0.0, 1.0))

    def norm(eps: float) -> float:
        changed = clean + np.float32(eps) * field
        if value_range is not None:
            np.clip(changed, *value_range, out=changed)
        return float(change_norms(clean, changed).mean())

    low, high = 1e-4, 1.0
    if norm(high) < target_norm:
        return high
    for _ in range(40):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if norm(middle) < target_norm else (low, middle)
    return 0.5 * (low + high)


class NormMatchedNoise(MatchedNoise):
    """The matched-norm control of a structural twin: ``clip(x + U[-e, e], 0, 1)`` fixed per
    image, with ``e`` chosen (by :func:`matched_noise_eps`) so that the mean change norm equals
    that of ``match`` (``oblique``, with this ``eps`` and ``seed`` and its other defaults).

    ``eps`` is the structural twin's strength, not the noise amplitude: on a binary background
    the oblique pattern's squared change per pixel is about ``eps^2 / 2`` against ``e^2 / 6`` for
    clipped uniform noise, so ``e`` comes out near ``sqrt(3) eps`` there. The amplitude found is
    recorded as ``noise_eps`` in the fingerprint's parameters.
    """

    name = "matched_noise"

    def __init__(self, eps: float = 0.1, seed: int = 0, num: int = 1000) -> None:
        super().__init__(eps, seed)
        if int(num) != num or num < 10:
            raise ValueError(f"num must be an integer of at least 10, got {num}")
        self.num = int(num)
        self.structural_eps = self.eps
        self.noise_eps: float | None = None

    def structural(self):
        from disentangle_bench.perturbations.oblique import ObliqueStripes

        return ObliqueStripes(eps=self.structural_eps, seed=self.seed)

    def parameters(self) -> dict:
        return {
            "eps": self.structural_eps,
            "seed": self.seed,
            "match": "oblique",
            "num": self.num,
            "noise_eps": self.noise_eps,
        }

    def apply(self, data: GroundTruthData) -> PerturbedData:
        """The twin of ``data``, with the noise amplitude matched on ``data`` itself."""
        target = mean_change_norm(data, self.structural().apply(data), self.num, self.seed)
        matched = copy.copy(self)  # one amplitude per dataset: this object stays unbound
        matched.noise_eps = matched_noise_eps(
            data, target, num=self.num, seed=self.seed, noise_seed=self.seed
        )
        matched.eps = matched.noise_eps  # the amplitude the field is scaled by
        return PerturbedData(data, matched)
