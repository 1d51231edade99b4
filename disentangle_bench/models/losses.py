"""Loss terms of the VAE family, as disentanglement_lib defines them (``methods/unsupervised``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bernoulli_reconstruction_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy with logits, summed over pixels, averaged over the batch.

    disentanglement_lib ``bernoulli_loss`` (``subtract_true_image_entropy=False``).
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_pixel.flatten(1).sum(dim=1).mean()


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over latents, averaged over the batch.

    ``0.5 * sum_j (mu_j^2 + exp(logvar_j) - logvar_j - 1)``, disentanglement_lib
    ``compute_gaussian_kl``.
    """
    per_latent = 0.5 * (mean.square() + log_var.exp() - log_var - 1.0)
    return per_latent.sum(dim=1).mean()


def sample_gaussian(
    mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Reparametrised sample ``z = mean + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``."""
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * log_var) * noise
