"""Models: the standard architecture and the methods of the study."""

from disentangle_bench.models.vae import BetaVAE, GaussianVAE

__all__ = ["BetaVAE", "GaussianVAE"]
