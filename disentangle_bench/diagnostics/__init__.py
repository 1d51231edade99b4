"""Diagnostics of a dataset's local variance structure (what a VAE's objective sees), how fast a
perturbation's pattern switches per grid step, probes of what the images still encode, and the
encoder-side diagnostic ``principal_alignment``."""

from disentangle_bench.diagnostics.switching import designed_switch_shares, switch_shares
from disentangle_bench.diagnostics.variance import (
    VarianceStructure,
    local_variance_structure,
    off_diagonal_mass,
    relative_eigengap,
    verdict,
)

__all__ = [
    "VarianceStructure",
    "designed_switch_shares",
    "local_variance_structure",
    "off_diagonal_mass",
    "relative_eigengap",
    "switch_shares",
    "verdict",
]
