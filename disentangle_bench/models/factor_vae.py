"""FactorVAE (Kim and Mnih, ICML 2018, "Disentangling by Factorising"), as disentanglement_lib.

VAE loss ``reconstruction + KL + gamma * TC`` with ``TC = mean(logit_0 - logit_1)`` of the
discriminator on sampled codes (the density-ratio trick, Eq. 2 of the paper); the discriminator
minimises ``-(0.5 mean log p(z)[:, 0] + 0.5 mean log p(shuffled z)[:, 1])``. Two Adam optimisers
step on the same batch: the VAE's (the training config's) on encoder and decoder, the
discriminator's (lr 1e-4, betas 0.5 / 0.9 by default, disentanglement_lib's) on the
discriminator. The model uses the trainer's multi-optimiser extension of the model contract
(``configure_optimizers`` + ``training_losses``, see :mod:`disentangle_bench.registry.hookspecs`).
"""

from __future__ import annotations

from typing import Any

import torch

from disentangle_bench.models.checks import non_negative, positive, probability
from disentangle_bench.models.discriminator import (
    Discriminator,
    discriminator_accuracy,
    discriminator_loss,
    shuffle_codes,
    shuffle_order,
)
from disentangle_bench.models.losses import gaussian_kl, sample_gaussian
from disentangle_bench.models.optimizers import adam
from disentangle_bench.models.vae import GaussianVAE, Noise, Terms


class FactorVAE(GaussianVAE):
    """FactorVAE: ``reconstruction + KL + gamma * TC``; a discriminator with its own optimiser."""

    name = "factor_vae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        gamma: float = 10.0,
        discriminator_learning_rate: float = 1e-4,
        discriminator_beta1: float = 0.5,
        discriminator_beta2: float = 0.9,
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        gamma_ = non_negative("gamma", gamma)
        learning_rate = positive("discriminator_learning_rate", discriminator_learning_rate)
        betas = (
            probability("discriminator_beta1", discriminator_beta1),
            probability("discriminator_beta2", discriminator_beta2),
        )
        super().__init__(observation_shape, num_latent, architecture, reconstruction)
        self.gamma = gamma_
        self.discriminator_learning_rate = learning_rate
        self.discriminator_betas = betas
        self.discriminator = Discriminator(self.num_latent)

    def configure_optimizers(self, config: Any) -> dict[str, torch.optim.Optimizer]:
        """``vae``: Adam from the training config on encoder + decoder; ``discriminator``: Adam
        with this model's discriminator hyperparameters."""
        vae_parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
        return {
            "vae": adam(
                vae_parameters, config.learning_rate, (config.beta1, config.beta2), config.epsilon
            ),
            "discriminator": adam(
                self.discriminator.parameters(),
                self.discriminator_learning_rate,
                self.discriminator_betas,
                1e-8,
            ),
        }

    def draw_noise(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> Noise:
        """``eps`` (the reparametrisation noise), then ``shuffle`` (the discriminator's
        per-dimension permutation of the codes), in that order."""
        noise = super().draw_noise(batch, generator)
        noise["shuffle"] = shuffle_order(
            batch.shape[0], self.num_latent, device=batch.device, generator=generator
        )
        return noise

    def training_losses(
        self, x: torch.Tensor, step: int, noise: Noise | None = None
    ) -> tuple[dict[str, torch.Tensor], Terms]:
        """The loss of each optimiser on one batch, and the terms to log; ``noise`` from
        :meth:`draw_noise` (drawn here if None)."""
        noise = self.draw_noise(x) if noise is None else noise
        mean, log_var = self.posterior(x)
        z = sample_gaussian(mean, log_var, noise=noise["eps"])
        reconstruction = self.reconstruction_loss(x, z)
        kl = gaussian_kl(mean, log_var)
        logits = self.discriminator(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        regularizer = kl + self.gamma * tc
        vae_loss = reconstruction + regularizer
        logits_shuffled = self.discriminator(shuffle_codes(z.detach(), noise["shuffle"]))
        d_loss = discriminator_loss(logits, logits_shuffled)
        return {"vae": vae_loss, "discriminator": d_loss}, {
            "loss": vae_loss,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "tc_loss": tc,
            "regularizer": regularizer,
            "elbo": -(reconstruction + kl),
            "discriminator_loss": d_loss,
            "discriminator_accuracy": discriminator_accuracy(
                logits.detach(), logits_shuffled.detach()
            ),
        }

    def loss(
        self, x: torch.Tensor, step: int, noise: Noise | None = None
    ) -> tuple[torch.Tensor, Terms]:
        """The VAE's loss (what the ``vae`` optimiser minimises) and every term."""
        losses, terms = self.training_losses(x, step, noise)
        return losses["vae"], terms
