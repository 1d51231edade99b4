"""Ground-truth data: the interface, the built-in datasets and their storage.

Built-in datasets (listed in :mod:`disentangle_bench.data.plugin`): procedural ``dsprites`` /
``dsprites_small``, disentanglement_lib's ``color_dsprites`` / ``noisy_dsprites`` /
``scream_dsprites``, procedural ``shapes3d`` / ``shapes3d_small``, ``xysquares``, the CPU test
bed ``blob``; loaders of the original files ``dsprites_full``, ``shapes3d_file``, ``mpi3d_toy``
/ ``mpi3d_realistic`` / ``mpi3d_real``; and ``hf_dataset`` (a dataset brought in with ``bench
datasets download``). See ``docs/datasets.md``.
"""

from disentangle_bench.data.blob import Blob
from disentangle_bench.data.dsprites import ProceduralDSprites, ProceduralDSpritesSmall
from disentangle_bench.data.dsprites_variants import ColorDSprites, NoisyDSprites, ScreamDSprites
from disentangle_bench.data.ground_truth import (
    ArrayGroundTruthData,
    GroundTruthData,
    chunked_fingerprint,
    content_fingerprint,
    derived_fingerprint,
    factor_bases,
)
from disentangle_bench.data.hub import HubDataset
from disentangle_bench.data.linear import LinearData
from disentangle_bench.data.loaders import (
    DSpritesFile,
    MPI3DReal,
    MPI3DRealistic,
    MPI3DToy,
    Shapes3DFile,
)
from disentangle_bench.data.procedural import ProceduralData
from disentangle_bench.data.shapes3d import ProceduralShapes3D, ProceduralShapes3DSmall
from disentangle_bench.data.xysquares import XYSquares

__all__ = [
    "Blob",
    "ArrayGroundTruthData",
    "ColorDSprites",
    "DSpritesFile",
    "GroundTruthData",
    "HubDataset",
    "LinearData",
    "MPI3DReal",
    "MPI3DRealistic",
    "MPI3DToy",
    "NoisyDSprites",
    "ProceduralData",
    "ProceduralDSprites",
    "ProceduralDSpritesSmall",
    "ProceduralShapes3D",
    "ProceduralShapes3DSmall",
    "ScreamDSprites",
    "Shapes3DFile",
    "XYSquares",
    "chunked_fingerprint",
    "content_fingerprint",
    "derived_fingerprint",
    "factor_bases",
]
