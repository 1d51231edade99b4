"""The built-in perturbations and the registered twins of the built-in datasets, through the same
hooks as any third-party plugin."""

from __future__ import annotations

from disentangle_bench.perturbations import (
    BlendMatchedNoise,
    ExternalPerturbation,
    LinearMix,
    MatchedNoise,
    NormMatchedNoise,
    ObliqueBlend,
    ObliqueStripes,
    ShuffledOblique,
    ShuffledObliqueBlend,
)
from disentangle_bench.perturbations.twins import twins
from disentangle_bench.registry.hookspecs import hookimpl

BUILTIN = (
    MatchedNoise,
    NormMatchedNoise,
    ObliqueStripes,
    ShuffledOblique,
    ObliqueBlend,
    BlendMatchedNoise,
    ShuffledObliqueBlend,
    LinearMix,
    ExternalPerturbation,
)


@hookimpl
def register_perturbations():
    return list(BUILTIN)


@hookimpl
def register_datasets():
    from disentangle_bench.data.plugin import BUILTIN as DATASETS

    return twins({dataset.name: dataset for dataset in DATASETS})
