"""Diagnostics of a dataset's local variance structure (what a VAE's objective sees)."""

from disentangle_bench.diagnostics.variance import (
    VarianceStructure,
    distance_to_signed_permutation,
    local_variance_structure,
)

__all__ = ["VarianceStructure", "distance_to_signed_permutation", "local_variance_structure"]
