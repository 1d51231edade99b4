"""Perturbations that hide (or, for controls, merely mask) a dataset's variance structure."""

from disentangle_bench.perturbations.base import AdditivePerturbation, PerturbedData
from disentangle_bench.perturbations.noise import MatchedNoise

__all__ = ["AdditivePerturbation", "MatchedNoise", "PerturbedData"]
