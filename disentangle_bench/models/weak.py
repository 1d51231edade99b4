"""Ada-GVAE (Locatello et al., ICML 2020, "Weakly-Supervised Disentanglement Without
Compromises"), as disentanglement_lib's ``GroupVAEArgmax`` (``methods/weak/weak_vae.py``).

Trained on pairs ``(x_1, x_2)`` whose factors differ in ``k`` factors
(:class:`disentangle_bench.data.sampling.WeakPairSampler`; ``k = -1``: a random k per pair,
uniform in 1 .. F-1, the paper's "k = Rnd"). Both images are encoded; for each pair and latent
dimension
``delta_j = KL(q(z_j|x_1) || q(z_j|x_2))``. Dimensions with ``delta_j < tau``,
``tau = (max_j delta_j + min_j delta_j) / 2`` (the paper's adaptive threshold; disentanglement_lib
bins delta into two equal-width bins), are taken to be shared and both posteriors are replaced
by their average: mean ``(mu_1 + mu_2) / 2``, variance ``(s_1^2 + s_2^2) / 2``. The loss is the
beta-VAE loss of the two aggregated posteriors, averaged over the two images. If all deltas are
equal nothing is averaged. The representation is the posterior mean of one image.
"""

from __future__ import annotations

import torch

from disentangle_bench.models.checks import non_negative
from disentangle_bench.models.losses import gaussian_kl, sample_gaussian
from disentangle_bench.models.vae import GaussianVAE, Noise, Terms


def per_dimension_kl(
    mean_1: torch.Tensor, log_var_1: torch.Tensor, mean_2: torch.Tensor, log_var_2: torch.Tensor
) -> torch.Tensor:
    """``KL(N(mean_1, var_1) || N(mean_2, var_2))`` per dimension, (N, D)."""
    return 0.5 * (
        (log_var_1 - log_var_2).exp()
        + (mean_2 - mean_1).square() * torch.exp(-log_var_2)
        - 1.0
        + log_var_2
        - log_var_1
    )


def shared_dimensions(delta: torch.Tensor) -> torch.Tensor:
    """Boolean (N, D): ``delta < (max + min) / 2`` per row, the dimensions Ada-GVAE averages."""
    threshold = 0.5 * (
        delta.max(dim=1, keepdim=True).values + delta.min(dim=1, keepdim=True).values
    )
    return delta < threshold


def adaptive_average(
    mean_1: torch.Tensor, log_var_1: torch.Tensor, mean_2: torch.Tensor, log_var_2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The aggregated posteriors ``(mean_1, log_var_1, mean_2, log_var_2)`` and the mask of
    averaged dimensions."""
    with torch.no_grad():
        shared = shared_dimensions(per_dimension_kl(mean_1, log_var_1, mean_2, log_var_2))
    average_mean = 0.5 * (mean_1 + mean_2)
    average_log_var = torch.log(0.5 * log_var_1.exp() + 0.5 * log_var_2.exp())
    return (
        torch.where(shared, average_mean, mean_1),
        torch.where(shared, average_log_var, log_var_1),
        torch.where(shared, average_mean, mean_2),
        torch.where(shared, average_log_var, log_var_2),
        shared,
    )


class AdaGVAE(GaussianVAE):
    """Ada-GVAE on weak pairs: ``reconstruction + beta * KL`` of the averaged posteriors."""

    name = "ada_gvae"
    sample_kind = "weak_pairs"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        beta: float = 1.0,
        k: int = 1,
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        beta_ = non_negative("beta", beta)
        if isinstance(k, bool) or int(k) != k or not (int(k) >= 1 or int(k) == -1):
            raise ValueError(f"k must be a positive number of factors or -1 (random), got {k}")
        super().__init__(observation_shape, num_latent, architecture, reconstruction)
        self.beta, self.k = beta_, int(k)

    @property
    def sample_options(self) -> dict[str, int]:
        """Keyword arguments of the weak-pair sampler."""
        return {"k": self.k}

    def loss(
        self, pairs: torch.Tensor, step: int, noise: Noise | None = None
    ) -> tuple[torch.Tensor, Terms]:
        """Loss on weak pairs ``(2, N, C, H, W)``."""
        noise = self.draw_noise(pairs) if noise is None else noise
        num = pairs.shape[1]
        x = pairs.flatten(0, 1)
        mean, log_var = self.posterior(x)
        mean_1, log_var_1, mean_2, log_var_2, shared = adaptive_average(
            mean[:num], log_var[:num], mean[num:], log_var[num:]
        )
        mean = torch.cat([mean_1, mean_2])
        log_var = torch.cat([log_var_1, log_var_2])
        z = sample_gaussian(mean, log_var, noise=noise["eps"])
        reconstruction = self.reconstruction_loss(x, z)  # (r_1 + r_2) / 2
        kl = gaussian_kl(mean, log_var)  # (KL_1 + KL_2) / 2
        regularizer = self.beta * kl
        total = reconstruction + regularizer
        return total, {
            "loss": total,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "regularizer": regularizer,
            "elbo": -(reconstruction + kl),
            "shared_dimensions": shared.float().sum(dim=1).mean(),
        }
