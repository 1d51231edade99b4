"""Loss terms shared by the models, as disentanglement_lib defines them (``methods/shared``,
``methods/unsupervised/vae.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

RECONSTRUCTIONS = ("bernoulli", "gaussian")


def bernoulli_reconstruction_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy with logits, summed over pixels, averaged over the batch.

    disentanglement_lib ``bernoulli_loss`` (``subtract_true_image_entropy=False``).
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_pixel.flatten(1).sum(dim=1).mean()


def gaussian_reconstruction_loss(mean: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over pixels, averaged over the batch.

    disentanglement_lib ``l2_loss`` without its output activation (so that data outside [0, 1],
    such as the synthetic linear dataset, can be fitted): the negative log-likelihood of a
    Gaussian decoder with fixed variance 1/2, up to its constant.
    """
    return (mean - target).square().flatten(1).sum(dim=1).mean()


def check_reconstruction(reconstruction: str) -> str:
    if reconstruction not in RECONSTRUCTIONS:
        raise ValueError(
            f"reconstruction must be one of {', '.join(map(repr, RECONSTRUCTIONS))}, "
            f"got {reconstruction!r}"
        )
    return reconstruction


def reconstruction_loss(
    reconstruction: str, output: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """The reconstruction term named ``reconstruction`` of decoder ``output`` (pre-activation)."""
    if reconstruction == "bernoulli":
        return bernoulli_reconstruction_loss(output, target)
    if reconstruction == "gaussian":
        return gaussian_reconstruction_loss(output, target)
    raise ValueError(f"unknown reconstruction {reconstruction!r}")


def output_activation(reconstruction: str, output: torch.Tensor) -> torch.Tensor:
    """Decoder output -> observation space: sigmoid for Bernoulli, identity for Gaussian."""
    return torch.sigmoid(output) if reconstruction == "bernoulli" else output


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
