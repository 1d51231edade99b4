"""SlowVAE (Klindt et al., ICLR 2021, "Towards Nonlinear Disentanglement in Natural Data with
Temporal Sparse Coding").

Trained on natural pairs ``(x_0, x_1)`` whose factors move by sparse, Laplace-distributed
transitions (:class:`disentangle_bench.data.sampling.NaturalPairSampler`). Prior
``p(z_0) = N(0, I)`` and transition prior
``p(z_1 | z_0) = prod_i (alpha / 2) exp(-alpha |z_1i - z_0i|)``
(``alpha = rate_prior``). The paper's objective for one direction is::

    -log p(x_0 | z_0) - log p(x_1 | z_1) + beta KL(q(z_0|x_0) || N(0, I))
        + gamma KL(q(z_1|x_1) || p(z_1 | z_0))

with the expectation over ``z_0`` taken at its posterior mean (as the authors' code does). The
authors' code (``bethgelab/slow_disentanglement``, ``scripts/solver.py``) trains both directions
at once and counts both directions' Laplace cross-entropies but the posterior entropy once.
With batch means over the pairs, ``H_t`` the entropy of ``q(z_t|x_t)`` and
``CE_10 = CE(q(z_1|x_1), Laplace(mu_0, 1/alpha))`` (``CE_01`` the other way)::

    loss = r_0 + r_1 + beta (KL_0 + KL_1) / 2 + gamma S
    'authors' (default):  S = CE_10 + CE_01 - (H_0 + H_1) / 2  =  T_10 + T_01 + (H_0 + H_1) / 2
    'mean_kl':            S = (T_10 + T_01) / 2,  T_10 = CE_10 - H_1 = KL(q(z_1|x_1) || p(z_1|z_0))

(``transition_objective``). The authors' term is not a KL: it is twice the mean of the two KLs
plus the mean posterior entropy, so it also pulls the posterior variances down. ``'mean_kl'``
keeps each direction a proper KL (the average of the two directions' ELBOs). The logged terms
are ``transition_kl`` (the mean KL, either way) and ``transition_loss`` (``S``); ``elbo`` is the
mean of the two directions' ELBOs. The Gaussian-to-Laplace cross-entropy is closed-form:
``-log(alpha/2) + alpha E|y|`` with ``y ~ N(m, s^2)``,
``E|y| = s sqrt(2/pi) exp(-m^2 / 2s^2) + m erf(m / (s sqrt 2))``; the Gaussian entropy is
``0.5 (log(2 pi) + 1 + log s^2)``. Defaults are the authors': beta 1, gamma 10, rate_prior 6,
data transition rate 1.
"""

from __future__ import annotations

import math

import torch

from disentangle_bench.models.checks import non_negative, positive
from disentangle_bench.models.losses import gaussian_kl, sample_gaussian
from disentangle_bench.models.vae import GaussianVAE, Noise, Terms

LOG_2PI_E = math.log(2.0 * math.pi) + 1.0


TRANSITION_OBJECTIVES = ("authors", "mean_kl")


def gaussian_laplace_cross_entropy(
    mean: torch.Tensor, log_var: torch.Tensor, centre: torch.Tensor, rate: float
) -> torch.Tensor:
    """``CE(N(mean, exp(log_var)), Laplace(centre, 1 / rate))`` per dimension (elementwise)."""
    std = torch.exp(0.5 * log_var)
    offset = mean - centre
    expected_abs = std * math.sqrt(2.0 / math.pi) * torch.exp(
        -offset.square() / (2.0 * std.square())
    ) + offset * torch.erf(offset / (std * math.sqrt(2.0)))
    return -math.log(rate / 2.0) + rate * expected_abs


def gaussian_entropy(log_var: torch.Tensor) -> torch.Tensor:
    """Entropy of ``N(., exp(log_var))`` per dimension."""
    return 0.5 * (LOG_2PI_E + log_var)


def gaussian_laplace_kl(
    mean: torch.Tensor, log_var: torch.Tensor, centre: torch.Tensor, rate: float
) -> torch.Tensor:
    """``KL(N(mean, exp(log_var)) || Laplace(centre, 1 / rate))`` per dimension (elementwise)."""
    return gaussian_laplace_cross_entropy(mean, log_var, centre, rate) - gaussian_entropy(log_var)


class SlowVAE(GaussianVAE):
    """SlowVAE on natural pairs: Gaussian prior for ``z_0``, Laplace transition prior."""

    name = "slow_vae"
    sample_kind = "natural_pairs"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        beta: float = 1.0,
        gamma: float = 10.0,
        rate_prior: float = 6.0,
        transition_rate: float = 1.0,
        transition_objective: str = "authors",
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        if transition_objective not in TRANSITION_OBJECTIVES:
            raise ValueError(
                f"transition_objective must be one of "
                f"{', '.join(map(repr, TRANSITION_OBJECTIVES))}, got {transition_objective!r}"
            )
        beta_ = non_negative("beta", beta)
        gamma_ = non_negative("gamma", gamma)
        rate_prior_ = positive("rate_prior", rate_prior)
        transition_rate_ = positive("transition_rate", transition_rate)
        super().__init__(observation_shape, num_latent, architecture, reconstruction)
        self.beta, self.gamma, self.rate_prior = beta_, gamma_, rate_prior_
        self.transition_rate = transition_rate_
        self.transition_objective = transition_objective

    @property
    def sample_options(self) -> dict[str, float]:
        """Keyword arguments of the natural-pair sampler."""
        return {"rate": self.transition_rate}

    def loss(
        self, pairs: torch.Tensor, step: int, noise: Noise | None = None
    ) -> tuple[torch.Tensor, Terms]:
        """Loss on natural pairs ``(2, N, C, H, W)`` (``pairs[0]`` before, ``pairs[1]`` after)."""
        noise = self.draw_noise(pairs) if noise is None else noise
        num = pairs.shape[1]
        x = pairs.flatten(0, 1)
        mean, log_var = self.posterior(x)
        z = sample_gaussian(mean, log_var, noise=noise["eps"])
        reconstruction = 2.0 * self.reconstruction_loss(x, z)  # r_0 + r_1, mean over pairs
        kl = gaussian_kl(mean, log_var)  # (KL_0 + KL_1) / 2, mean over pairs
        mean_0, mean_1 = mean[:num], mean[num:]
        log_var_0, log_var_1 = log_var[:num], log_var[num:]
        forward = gaussian_laplace_cross_entropy(mean_1, log_var_1, mean_0, self.rate_prior)
        backward = gaussian_laplace_cross_entropy(mean_0, log_var_0, mean_1, self.rate_prior)
        entropy = gaussian_entropy(log_var_0) + gaussian_entropy(log_var_1)  # H_0 + H_1
        transition_kl = 0.5 * (forward + backward - entropy).sum(dim=1).mean()
        if self.transition_objective == "authors":
            transition = (forward + backward - 0.5 * entropy).sum(dim=1).mean()
        else:
            transition = transition_kl
        regularizer = self.beta * kl + self.gamma * transition
        total = reconstruction + regularizer
        return total, {
            "loss": total,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "transition_kl": transition_kl,
            "transition_loss": transition,
            "regularizer": regularizer,
            "elbo": -(reconstruction + kl + transition_kl),
        }
