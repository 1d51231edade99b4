"""The Gaussian VAE on the standard architecture, and beta-VAE (Higgins et al., ICLR 2017).

Loss as in disentanglement_lib's ``BaseVAE.model_fn``: Bernoulli reconstruction loss plus a
model-specific regulariser of the Gaussian posterior; the representation is the posterior mean.
"""

from __future__ import annotations

import torch
from torch import nn

from disentangle_bench.models.architectures import ConvEncoder, DeconvDecoder, check_image_shape
from disentangle_bench.models.losses import (
    bernoulli_reconstruction_loss,
    gaussian_kl,
    sample_gaussian,
)


class GaussianVAE(nn.Module):
    """Conv encoder to a diagonal Gaussian posterior, conv decoder to Bernoulli logits.

    Subclasses define :meth:`regularizer`; everything else (sampling, reconstruction loss,
    logged terms) is shared so that every VAE computes exactly the same reconstruction term.
    """

    sample_kind = "single"

    def __init__(self, observation_shape: tuple[int, int, int], num_latent: int = 10) -> None:
        super().__init__()
        if int(num_latent) < 1:
            raise ValueError(f"num_latent must be at least 1, got {num_latent}")
        channels = check_image_shape(observation_shape)
        self.num_latent = int(num_latent)
        self.encoder = ConvEncoder(channels, self.num_latent)
        self.decoder = DeconvDecoder(self.num_latent, channels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation: the posterior mean."""
        return self.encoder(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities for latent codes ``z``."""
        return torch.sigmoid(self.decoder(z))

    def regularizer(
        self,
        kl: torch.Tensor,
        mean: torch.Tensor,
        log_var: torch.Tensor,
        z: torch.Tensor,
        step: int,
    ) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, x: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mean, log_var = self.encoder(x)
        z = sample_gaussian(mean, log_var)
        reconstruction = bernoulli_reconstruction_loss(self.decoder(z), x)
        kl = gaussian_kl(mean, log_var)
        regularizer = self.regularizer(kl, mean, log_var, z, step)
        total = reconstruction + regularizer
        return total, {
            "loss": total,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "regularizer": regularizer,
            "elbo": -(reconstruction + kl),
        }


class BetaVAE(GaussianVAE):
    """beta-VAE: regulariser ``beta * KL`` (Higgins et al. 2017; disentanglement_lib BetaVAE)."""

    name = "beta_vae"

    def __init__(
        self, observation_shape: tuple[int, int, int], num_latent: int = 10, beta: float = 1.0
    ) -> None:
        if float(beta) < 0:
            raise ValueError(f"beta must be non-negative, got {beta}")
        super().__init__(observation_shape, num_latent)
        self.beta = float(beta)

    def regularizer(self, kl, mean, log_var, z, step):  # noqa: D102 - documented on the class
        return self.beta * kl
