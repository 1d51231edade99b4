"""Loss terms shared by the models, as disentanglement_lib defines them (``methods/shared``,
``methods/unsupervised/vae.py``), and the random draws the losses take as arguments.

Randomness stays outside the losses: a model's ``draw_noise(batch, generator)`` draws every random
number one training step needs (reparametrisation noise, shuffles, negatives) and its loss takes
them as ``noise``, so that a step is a pure function of parameters, batch and noise (the batched
trainer vmaps it over K models, each with its own generator).
"""

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
    mean: torch.Tensor,
    log_var: torch.Tensor,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reparametrised sample ``z = mean + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``.

    ``noise`` is ``eps`` drawn beforehand (see :func:`gaussian_noise`); without it ``eps`` is drawn
    here from ``generator`` (torch's default generator of ``mean``'s device if None).
    """
    if noise is None:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * log_var) * noise


def full_precision(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float32 if it is a half type (autocast output), else unchanged (float64
    models stay float64)."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def parameter_dtype(module: torch.nn.Module) -> torch.dtype:
    """The floating dtype of ``module``'s parameters (float32 if it has none): the dtype of the
    noise its loss takes (autocast leaves parameters, and so the noise, in float32)."""
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def gaussian_noise(
    rows: int,
    num_latent: int,
    *,
    device: torch.device,
    dtype: torch.dtype,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``eps ~ N(0, I)`` of shape ``(rows, num_latent)``, the reparametrisation noise."""
    return torch.randn((rows, num_latent), generator=generator, device=device, dtype=dtype)


def derangement(
    num: int, *, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A random permutation of ``range(num)`` without a fixed point (``sigma[i] != i``).

    ``sigma = order[(rank + s) mod num]`` with ``order`` a uniform random permutation, ``rank`` its
    inverse and ``s`` uniform in ``1 .. num - 1``: ``sigma`` conjugates the cyclic shift by ``s``,
    which has no fixed point, so neither has ``sigma``. Two draws (``randperm``, then ``randint``),
    no rejection loop, so no host synchronisation. Needs ``num >= 2``.
    """
    if num < 2:
        raise ValueError(f"a permutation without a fixed point needs at least 2 items, got {num}")
    order = torch.randperm(num, generator=generator, device=device)
    shift = torch.randint(1, num, (1,), generator=generator, device=device)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(num, device=device)
    return order[(rank + shift) % num]
