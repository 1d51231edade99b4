"""Disentanglement metrics with disentanglement_lib 1.5's semantics."""

from disentangle_bench.metrics.mig import MIG, mig, mig_from_discretized
from disentangle_bench.metrics.utils import (
    discrete_entropy,
    discrete_mutual_info,
    generate_batch_factor_code,
    histogram_discretize,
    make_discretizer,
)

#: The built-ins of this kind, handed to the hooks by disentangle_bench.builtin.
BUILTIN = (MIG,)

__all__ = [
    "BUILTIN",
    "MIG",
    "discrete_entropy",
    "discrete_mutual_info",
    "generate_batch_factor_code",
    "histogram_discretize",
    "make_discretizer",
    "mig",
    "mig_from_discretized",
]
