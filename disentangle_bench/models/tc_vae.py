"""beta-TCVAE (Chen et al., NeurIPS 2018, "Isolating Sources of Disentanglement in VAEs").

Regulariser as disentanglement_lib's ``BetaTCVAE``: ``KL + (beta - 1) * TC`` (Eq. 5 of the paper
with alpha = gamma = 1, i.e. the ELBO plus ``(beta - 1)`` times the total correlation), with TC
estimated on the batch's sampled codes by minibatch-weighted sampling (Chen et al., Sec. 3.1).
"""

from __future__ import annotations

import math

import torch

from disentangle_bench.models.vae import BetaVAE

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_density(
    samples: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """Elementwise ``log N(samples; mean, exp(log_var))`` (broadcasting)."""
    return -0.5 * ((samples - mean).square() * torch.exp(-log_var) + log_var + LOG_2PI)


def total_correlation(
    z: torch.Tensor,
    mean: torch.Tensor,
    log_var: torch.Tensor,
    dataset_size: int | None = None,
) -> torch.Tensor:
    """Minibatch-weighted estimate of ``TC = E_q(z)[log q(z) - sum_l log q(z_l)]``.

    With ``M`` the batch size, for each code ``z_j``::

        log q(z_j)   ~ logsumexp_i log q(z_j | x_i)   - log(M)
        log q(z_jl)  ~ logsumexp_i log q(z_jl | x_i) - log(M)

    i.e. each density is the batch's Monte-Carlo average of the posteriors, so the estimate is on
    the scale of the true TC (about 0 for independent codes, positive for dependent ones).
    disentanglement_lib's ``total_correlation`` is this minus ``(D - 1) log M`` (it drops the
    normalisers, which makes it negative); Chen et al.'s minibatch-weighted sampling with a dataset
    of ``N`` points normalises by ``log(M N)`` instead, i.e. adds ``(D - 1) log N``: pass
    ``dataset_size=N`` for that value. All three differ by a constant and have the same gradient.
    """
    batch_size = z.shape[0]
    log_q = gaussian_log_density(z[:, None, :], mean[None, :, :], log_var[None, :, :])  # [j, i, l]
    normaliser = math.log(batch_size * (dataset_size or 1))
    log_qz = torch.logsumexp(log_q.sum(dim=2), dim=1) - normaliser
    log_prod_marginals = (torch.logsumexp(log_q, dim=1) - normaliser).sum(dim=1)
    return (log_qz - log_prod_marginals).mean()


class BetaTCVAE(BetaVAE):
    """beta-TCVAE: regulariser ``KL + (beta - 1) * TC`` (disentanglement_lib ``BetaTCVAE``);
    beta-VAE's hyperparameters, another regulariser."""

    name = "beta_tc_vae"

    def regularizer(self, kl, mean, log_var, z, step):  # noqa: D102 - documented on the class
        tc = total_correlation(z, mean, log_var)
        return kl + (self.beta - 1.0) * tc, {"tc_loss": tc}
