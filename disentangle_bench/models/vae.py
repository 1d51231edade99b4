"""The Gaussian VAE, beta-VAE (Higgins et al., ICLR 2017) and AnnealedVAE (Burgess et al. 2018).

Loss as in disentanglement_lib's ``BaseVAE.model_fn``: a reconstruction loss plus a
model-specific regulariser of the diagonal Gaussian posterior; the representation is the
posterior mean. :class:`GaussianVAE` holds the one reconstruction term every VAE of this package
uses; each method subclasses it once and defines :meth:`GaussianVAE.regularizer` (or, for methods
on pairs or with a second network, its own ``loss``). The reparametrisation noise is drawn by
:meth:`GaussianVAE.draw_noise` and passed to the loss (:mod:`disentangle_bench.models.losses`).
"""

from __future__ import annotations

import torch
from torch import nn

from disentangle_bench.models.architectures import build_decoder, build_encoder
from disentangle_bench.models.checks import non_negative, positive_int
from disentangle_bench.models.losses import (
    check_reconstruction,
    full_precision,
    gaussian_kl,
    gaussian_noise,
    output_activation,
    parameter_dtype,
    reconstruction_loss,
    sample_gaussian,
)

Terms = dict[str, torch.Tensor]
Noise = dict[str, torch.Tensor]


class GaussianVAE(nn.Module):
    """Encoder to a diagonal Gaussian posterior, decoder to Bernoulli logits or Gaussian means.

    ``architecture``: ``'conv'`` (disentanglement_lib's, 64x64xC) or ``'mlp'`` (any shape).
    ``reconstruction``: ``'bernoulli'`` (disentanglement_lib's default, data in [0, 1]) or
    ``'gaussian'`` (squared error, any real data).
    """

    sample_kind = "single"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        super().__init__()
        self.num_latent = positive_int("num_latent", num_latent)
        self.reconstruction = check_reconstruction(reconstruction)
        self.architecture = architecture
        self.encoder = build_encoder(architecture, observation_shape, self.num_latent)
        self.decoder = build_decoder(architecture, observation_shape, self.num_latent)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log-variances, (N, num_latent) each, in float32 (or float64)."""
        mean, log_var = self.encoder(x)
        return full_precision(mean), full_precision(log_var)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation: the posterior mean."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Observation-space means (pixel probabilities for Bernoulli) for codes ``z``."""
        return output_activation(self.reconstruction, full_precision(self.decoder(z)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoded posterior means of ``x``."""
        return self.decode(self.encode(x))

    def reconstruction_loss(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The shared reconstruction term: ``-log p(x | z)`` summed over pixels, batch mean."""
        return reconstruction_loss(self.reconstruction, full_precision(self.decoder(z)), x)

    def draw_noise(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> Noise:
        """The random numbers one loss on ``batch`` uses: ``eps`` (one row per image, pairs
        ``(2, N, ...)`` flattened to ``2N`` rows), from ``generator`` (torch's default generator
        of the batch's device if None)."""
        rows = batch.shape[:-3].numel()
        eps = gaussian_noise(
            rows,
            self.num_latent,
            device=batch.device,
            dtype=parameter_dtype(self),
            generator=generator,
        )
        return {"eps": eps}

    def regularizer(
        self,
        kl: torch.Tensor,
        mean: torch.Tensor,
        log_var: torch.Tensor,
        z: torch.Tensor,
        step: int,
    ) -> tuple[torch.Tensor, Terms]:
        """The model's regulariser and any extra terms to log (by name)."""
        raise NotImplementedError

    def loss(
        self, x: torch.Tensor, step: int, noise: Noise | None = None
    ) -> tuple[torch.Tensor, Terms]:
        """``reconstruction + regularizer`` on a batch (N, C, H, W) and the terms to log;
        ``noise`` from :meth:`draw_noise` (drawn here if None)."""
        noise = self.draw_noise(x) if noise is None else noise
        mean, log_var = self.posterior(x)
        z = sample_gaussian(mean, log_var, noise=noise["eps"])
        reconstruction = self.reconstruction_loss(x, z)
        kl = gaussian_kl(mean, log_var)
        regularizer, extra_terms = self.regularizer(kl, mean, log_var, z, step)
        total = reconstruction + regularizer
        return total, {
            "loss": total,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "regularizer": regularizer,
            "elbo": -(reconstruction + kl),
            **extra_terms,
        }


class BetaVAE(GaussianVAE):
    """beta-VAE: regulariser ``beta * KL`` (Higgins et al. 2017; disentanglement_lib BetaVAE)."""

    name = "beta_vae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        beta: float = 1.0,
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        beta_ = non_negative("beta", beta)
        super().__init__(observation_shape, num_latent, architecture, reconstruction)
        self.beta = beta_

    def regularizer(self, kl, mean, log_var, z, step):  # noqa: D102 - documented on the class
        return self.beta * kl, {}


class AnnealedVAE(GaussianVAE):
    """AnnealedVAE: ``gamma * |KL - C(step)|`` with ``C = min(c_max, c_max * step / T)``.

    Burgess et al. 2018, "Understanding disentangling in beta-VAE", Eq. 8; disentanglement_lib
    ``AnnealedVAE`` with ``T = iteration_threshold`` (its study: gamma 1000, T 100,000,
    c_max in {5, 10, 25, 50, 75, 100}). ``step`` is the number of completed training steps.
    """

    name = "annealed_vae"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        gamma: float = 1000.0,
        c_max: float = 5.0,
        iteration_threshold: int = 100_000,
        architecture: str = "conv",
        reconstruction: str = "bernoulli",
    ) -> None:
        gamma_ = non_negative("gamma", gamma)
        c_max_ = non_negative("c_max", c_max)
        threshold = positive_int("iteration_threshold", iteration_threshold)
        super().__init__(observation_shape, num_latent, architecture, reconstruction)
        self.gamma, self.c_max, self.iteration_threshold = gamma_, c_max_, threshold

    def capacity(self, step: int) -> float:
        """The annealed capacity ``C(step)``."""
        return min(self.c_max, self.c_max * float(step) / self.iteration_threshold)

    def regularizer(self, kl, mean, log_var, z, step):  # noqa: D102 - documented on the class
        capacity = torch.tensor(self.capacity(step), dtype=kl.dtype, device=kl.device)
        return self.gamma * (kl - capacity).abs(), {"capacity": capacity}
