"""Ground-truth data: the interface, the built-in procedural datasets and their storage."""

from disentangle_bench.data.ground_truth import (
    ArrayGroundTruthData,
    GroundTruthData,
    content_fingerprint,
    derived_fingerprint,
    factor_bases,
)

__all__ = [
    "ArrayGroundTruthData",
    "GroundTruthData",
    "content_fingerprint",
    "derived_fingerprint",
    "factor_bases",
]
