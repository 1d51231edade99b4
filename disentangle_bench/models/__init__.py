"""Models: the standard architecture and the methods of the study."""

from disentangle_bench.models.vae import BetaVAE, GaussianVAE

#: The built-ins of this kind, handed to the hooks by disentangle_bench.builtin.
BUILTIN = (BetaVAE,)

__all__ = ["BUILTIN", "BetaVAE", "GaussianVAE"]
