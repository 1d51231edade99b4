"""Perturbations that hide (or, for controls, merely mask) a dataset's variance structure."""

from disentangle_bench.perturbations.base import AdditivePerturbation, PerturbedData
from disentangle_bench.perturbations.blend import (
    BlendMatchedNoise,
    ObliqueBlend,
    ShuffledObliqueBlend,
)
from disentangle_bench.perturbations.external import ExternalPerturbation
from disentangle_bench.perturbations.linear_mix import LinearMix
from disentangle_bench.perturbations.matching import NormMatchedNoise
from disentangle_bench.perturbations.noise import MatchedNoise
from disentangle_bench.perturbations.oblique import ObliqueStripes, ShuffledOblique

__all__ = [
    "AdditivePerturbation",
    "BlendMatchedNoise",
    "ExternalPerturbation",
    "LinearMix",
    "MatchedNoise",
    "NormMatchedNoise",
    "ObliqueBlend",
    "ObliqueStripes",
    "PerturbedData",
    "ShuffledOblique",
    "ShuffledObliqueBlend",
]
