"""disent's loss terms next to the reference's (disentanglement_lib 1.5), on the same tensors.

Given a batch ``x``, posterior means and log-variances, sampled codes ``z`` and decoder logits,
:func:`disent_terms` asks a disent framework for its reconstruction and regularisation terms
(its own ``compute_ave_recon_loss`` and ``compute_ave_reg_loss``), and :func:`reference_terms`
computes disentanglement_lib's: sigmoid cross-entropy summed over pixels, KL summed over
latents, both averaged over the batch, plus each model's regulariser

- beta-VAE: ``beta * KL``;
- beta-TCVAE: ``KL + (beta - 1) * TC``, TC the minibatch-weighted estimate without the
  ``log M`` normalisers, as disentanglement_lib computes it;
- DIP-VAE-I / -II: ``KL + lambda_od * sum offdiag(C)^2 + lambda_d * sum (diag(C) - 1)^2`` with
  ``C = Cov[mu]`` (biased) or ``C = Cov[mu] + diag(E[var])``.

``benchmarks/compare_reference.py`` and the tests use both to measure where disent differs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from disentangle_bench.models.dip_vae import covariance, dip_penalty
from disentangle_bench.models.losses import gaussian_kl
from disentangle_bench.models.tc_vae import total_correlation

#: The reference's models and the hyperparameters their regularisers take.
REFERENCE_MODELS = {
    "beta_vae": ("beta",),
    "beta_tc_vae": ("beta",),
    "dip_vae_i": ("lambda_od", "lambda_d"),
    "dip_vae_ii": ("lambda_od", "lambda_d"),
}


def reference_tc(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """disentanglement_lib's TC estimate (no ``log M`` normalisers): disentangle-bench's
    minus ``(D - 1) log M``."""
    batch, dims = z.shape
    return total_correlation(z, mean, log_var) - (dims - 1) * math.log(batch)


def reference_terms(
    model: str,
    x: torch.Tensor,
    logits: torch.Tensor,
    mean: torch.Tensor,
    log_var: torch.Tensor,
    z: torch.Tensor,
    **hyperparameters: float,
) -> dict[str, torch.Tensor]:
    """disentanglement_lib's ``reconstruction``, ``kl``, ``regularizer`` and ``total``."""
    if model not in REFERENCE_MODELS:
        raise ValueError(f"model must be one of {sorted(REFERENCE_MODELS)}, got {model!r}")
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    reconstruction = reconstruction.flatten(1).sum(dim=1).mean()
    kl = gaussian_kl(mean, log_var)
    if model == "beta_vae":
        regularizer = hyperparameters["beta"] * kl
    elif model == "beta_tc_vae":
        regularizer = kl + (hyperparameters["beta"] - 1.0) * reference_tc(z, mean, log_var)
    else:
        matrix = covariance(mean)
        if model == "dip_vae_ii":
            matrix = matrix + torch.diag(log_var.exp().mean(dim=0))
        penalty = dip_penalty(matrix, hyperparameters["lambda_od"], hyperparameters["lambda_d"])
        regularizer = kl + penalty
    return {
        "reconstruction": reconstruction,
        "kl": kl,
        "regularizer": regularizer,
        "total": reconstruction + regularizer,
    }


def disent_terms(
    framework: Any,
    x: torch.Tensor,
    logits: torch.Tensor,
    mean: torch.Tensor,
    log_var: torch.Tensor,
    z: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """A disent VAE framework's ``reconstruction``, ``kl``, ``regularizer`` and ``total`` for
    the same tensors (its posterior ``Normal(mean, exp(log_var / 2))``, a unit normal prior)."""
    from torch.distributions import Normal

    posterior = Normal(mean, torch.exp(0.5 * log_var))
    prior = Normal(torch.zeros_like(mean), torch.ones_like(mean))
    reconstruction, _ = framework.compute_ave_recon_loss([logits], [x])
    regularizer, logs = framework.compute_ave_reg_loss([posterior], [prior], [z])
    return {
        "reconstruction": reconstruction,
        "kl": logs["kl_loss"],
        "regularizer": regularizer,
        "total": reconstruction + regularizer,
    }
