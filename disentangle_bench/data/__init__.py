"""Ground-truth data: the interface, the built-in procedural datasets and their storage."""

from disentangle_bench.data.dsprites import ProceduralDSprites, ProceduralDSpritesSmall
from disentangle_bench.data.ground_truth import (
    ArrayGroundTruthData,
    GroundTruthData,
    chunked_fingerprint,
    content_fingerprint,
    derived_fingerprint,
    factor_bases,
)

#: The built-ins of this kind, handed to the hooks by disentangle_bench.builtin.
BUILTIN = (ProceduralDSprites, ProceduralDSpritesSmall)

__all__ = [
    "BUILTIN",
    "ArrayGroundTruthData",
    "GroundTruthData",
    "ProceduralDSprites",
    "ProceduralDSpritesSmall",
    "chunked_fingerprint",
    "content_fingerprint",
    "derived_fingerprint",
    "factor_bases",
]
