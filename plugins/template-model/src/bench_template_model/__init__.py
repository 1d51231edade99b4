"""A template model plugin for disentangle-bench: copy this package to add your own method.

The plugin registers one model, ``template_vae``: a VAE whose encoder and decoder are small MLPs
on the flattened image, with the same Bernoulli reconstruction loss and Gaussian KL as the
built-in models. Its hyperparameters are the keyword arguments of ``__init__`` and are bound from
gin by name (``template_vae.hidden = 128``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from disentangle_bench import hookimpl
from disentangle_bench.models.losses import (
    bernoulli_reconstruction_loss,
    gaussian_kl,
    sample_gaussian,
)


class TemplateVAE(nn.Module):
    """beta-VAE with MLP encoder and decoder: loss = reconstruction + beta * KL."""

    name = "template_vae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        hidden: int = 256,
        beta: float = 1.0,
    ) -> None:
        super().__init__()
        if num_latent < 1 or hidden < 1:
            raise ValueError("num_latent and hidden must be positive")
        if beta < 0:
            raise ValueError(f"beta must be non-negative, got {beta}")
        height, width, channels = observation_shape
        self.image_shape = (channels, height, width)
        pixels = math.prod(observation_shape)
        self.beta = float(beta)
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, 2 * num_latent)
        )
        self.decoder = nn.Sequential(
            nn.Linear(num_latent, hidden), nn.ReLU(), nn.Linear(hidden, pixels)
        )

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation the metrics score: the posterior mean."""
        return self.posterior(x)[0]

    def loss(self, x: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mean, log_var = self.posterior(x)
        logits = self.decoder(sample_gaussian(mean, log_var)).view(-1, *self.image_shape)
        reconstruction = bernoulli_reconstruction_loss(logits, x)
        kl = gaussian_kl(mean, log_var)
        total = reconstruction + self.beta * kl
        return total, {"loss": total, "reconstruction_loss": reconstruction, "kl_loss": kl}


@hookimpl
def register_models():
    return [TemplateVAE]
