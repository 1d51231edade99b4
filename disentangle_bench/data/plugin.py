"""The built-in data, registered through the same hook as any third-party plugin."""

from __future__ import annotations

from disentangle_bench.data import (
    Blob,
    ColorDSprites,
    DSpritesFile,
    HubDataset,
    LinearData,
    MPI3DReal,
    MPI3DRealistic,
    MPI3DToy,
    NoisyDSprites,
    ProceduralDSprites,
    ProceduralDSpritesSmall,
    ProceduralShapes3D,
    ProceduralShapes3DSmall,
    ScreamDSprites,
    Shapes3DFile,
    XYSquares,
)
from disentangle_bench.registry.hookspecs import hookimpl

BUILTIN = (
    ProceduralDSprites,
    ProceduralDSpritesSmall,
    ColorDSprites,
    NoisyDSprites,
    ScreamDSprites,
    ProceduralShapes3D,
    ProceduralShapes3DSmall,
    XYSquares,
    DSpritesFile,
    Shapes3DFile,
    MPI3DToy,
    MPI3DRealistic,
    MPI3DReal,
    HubDataset,
    LinearData,
    Blob,
)


@hookimpl
def register_datasets():
    return list(BUILTIN)
