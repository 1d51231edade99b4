"""DIP-VAE-I and DIP-VAE-II (Kumar et al., ICLR 2018, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", Eqs. 6 and 7), as disentanglement_lib's ``DIPVAE``.

Regulariser ``KL + lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2`` with
``lambda_d = lambda_d_factor * lambda_od``, where ``C`` is

- DIP-VAE-I: ``Cov[mu]``, the biased (divide by N) batch covariance of the posterior means;
- DIP-VAE-II: ``E[diag(exp(logvar))] + Cov[mu]``, the covariance of the sampled codes.

disentanglement_lib's study uses lambda_d_factor 10 for type I and 1 for type II.
"""

from __future__ import annotations

import torch

from disentangle_bench.models.checks import non_negative
from disentangle_bench.models.vae import GaussianVAE


def covariance(mean: torch.Tensor) -> torch.Tensor:
    """Biased batch covariance ``E[mu mu^T] - E[mu] E[mu]^T`` of (N, D) means, (D, D).

    Elementwise (no matrix product), so that it stays float32 under autocast.
    """
    centred = mean - mean.mean(dim=0, keepdim=True)
    return (centred[:, :, None] * centred[:, None, :]).mean(dim=0)


def dip_penalty(matrix: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """``lambda_od * sum offdiag(M)^2 + lambda_d * sum (diag(M) - 1)^2``."""
    diagonal = torch.diagonal(matrix)
    off_diagonal = matrix - torch.diag(diagonal)
    return lambda_od * off_diagonal.square().sum() + lambda_d * (diagonal - 1.0).square().sum()


class DIPVAEI(GaussianVAE):
    """DIP-VAE-I: ``KL + dip_penalty(Cov[mu])``."""

    name = "dip_vae_i"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        lambda_od: float = 1.0,
        lambda_d_factor: float = 10.0,
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        lambda_od_ = non_negative("lambda_od", lambda_od)
        factor = non_negative("lambda_d_factor", lambda_d_factor)
        super().__init__(observation_shape, num_latent, architecture, reconstruction)
        self.lambda_od, self.lambda_d = lambda_od_, factor * lambda_od_

    def dip_matrix(self, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """The matrix whose off-diagonal is pushed to 0 and diagonal to 1: ``Cov[mu]``."""
        return covariance(mean)

    def regularizer(self, kl, mean, log_var, z, step):  # noqa: D102 - documented on the class
        penalty = dip_penalty(self.dip_matrix(mean, log_var), self.lambda_od, self.lambda_d)
        return kl + penalty, {"dip_regularizer": penalty}


class DIPVAEII(DIPVAEI):
    """DIP-VAE-II: ``KL + dip_penalty(E[diag(exp(logvar))] + Cov[mu])``."""

    name = "dip_vae_ii"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        lambda_od: float = 1.0,
        lambda_d_factor: float = 1.0,
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        super().__init__(
            observation_shape, num_latent, lambda_od, lambda_d_factor, architecture, reconstruction
        )

    def dip_matrix(self, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return torch.diag(log_var.exp().mean(dim=0)) + covariance(mean)
