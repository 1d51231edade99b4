"""Perturbations that hide (or, for controls, merely mask) a dataset's variance structure."""

from disentangle_bench.perturbations.base import AdditivePerturbation, PerturbedData
from disentangle_bench.perturbations.noise import MatchedNoise

#: The built-ins of this kind, handed to the hooks by disentangle_bench.builtin.
BUILTIN = (MatchedNoise,)

__all__ = ["BUILTIN", "AdditivePerturbation", "MatchedNoise", "PerturbedData"]
