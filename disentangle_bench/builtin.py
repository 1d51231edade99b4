"""The built-in plugin: registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from disentangle_bench.hookspecs import hookimpl


@hookimpl
def register_datasets():
    from disentangle_bench.data.dsprites import ProceduralDSprites, ProceduralDSpritesSmall

    return [ProceduralDSprites, ProceduralDSpritesSmall]


@hookimpl
def register_perturbations():
    from disentangle_bench.perturbations.noise import MatchedNoise

    return [MatchedNoise]


@hookimpl
def register_models():
    from disentangle_bench.models.vae import BetaVAE

    return [BetaVAE]


@hookimpl
def register_metrics():
    from disentangle_bench.metrics.mig import MIG

    return [MIG]
