"""The built-in models, registered through the same hook as any third-party plugin."""

from __future__ import annotations

from disentangle_bench.models import (
    DIPVAEI,
    DIPVAEII,
    PCL,
    AdaGVAE,
    AnnealedVAE,
    Autoencoder,
    BetaTCVAE,
    BetaVAE,
    FactorVAE,
    SlowVAE,
)
from disentangle_bench.registry.hookspecs import hookimpl

BUILTIN = (
    BetaVAE,
    AnnealedVAE,
    FactorVAE,
    BetaTCVAE,
    DIPVAEI,
    DIPVAEII,
    Autoencoder,
    SlowVAE,
    AdaGVAE,
    PCL,
)


@hookimpl
def register_models():
    return list(BUILTIN)
