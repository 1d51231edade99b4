"""Permutation-contrastive learning, PCL (Hyvarinen and Morioka, AISTATS 2017, "Nonlinear ICA of
Temporally Dependent Stationary Sources").

A feature extractor ``h`` (the encoder, one output per latent) and a logistic regression tell
real consecutive pairs ``(x_t, x_{t-1})`` from pairs whose ``x_{t-1}`` is taken from another pair
of the batch: a random permutation without a fixed point (a derangement, drawn by
:meth:`PCL.draw_noise`), so that no negative is a real pair (a plain permutation would leave about
one real pair per batch labelled negative). The regression function is the paper's form for sources
with Laplacian innovations and a Gaussian marginal, as in the PCL baseline of Klindt et al.
(ICLR 2021) that Zietlow et al. (ICML 2021) evaluate::

    r(y_t, y_{t-1}) = sum_i [ -|a_i y_ti + b_i y_{t-1,i} + c_i| + y_ti^2 ] + d,   y = h(x)

with learned ``a`` (initially 1), ``b`` (-1), ``c`` (0) and ``d`` (0). The loss is the logistic
(binary cross-entropy) loss of ``r`` as the logit, averaged over the real and the permuted pairs.
The representation is the feature extractor's output ``h(x)``. PCL is not variational: there is
no decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from disentangle_bench.models.architectures import build_encoder
from disentangle_bench.models.checks import positive, positive_int
from disentangle_bench.models.losses import derangement, full_precision
from disentangle_bench.util.errors import ConfigError

Terms = dict[str, torch.Tensor]


class PCL(nn.Module):
    """PCL on natural pairs: a logistic classifier of real vs permuted consecutive pairs."""

    name = "pcl"
    sample_kind = "natural_pairs"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_latent: int = 10,
        transition_rate: float = 1.0,
        architecture: str = "conv",
    ) -> None:
        super().__init__()
        self.num_latent = positive_int("num_latent", num_latent)
        self.transition_rate = positive("transition_rate", transition_rate)
        self.architecture = architecture
        self.encoder = build_encoder(
            architecture, observation_shape, self.num_latent, gaussian=False
        )
        self.weight_current = nn.Parameter(torch.ones(self.num_latent))
        self.weight_previous = nn.Parameter(-torch.ones(self.num_latent))
        self.bias = nn.Parameter(torch.zeros(self.num_latent))
        self.offset = nn.Parameter(torch.zeros(()))

    @property
    def sample_options(self) -> dict[str, float]:
        """Keyword arguments of the natural-pair sampler."""
        return {"rate": self.transition_rate}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation: the feature extractor's output."""
        return full_precision(self.encoder(x))

    def regression(self, current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """The logit ``r(y_t, y_{t-1})`` for (N, D) features, (N,)."""
        sparse = (self.weight_current * current + self.weight_previous * previous + self.bias).abs()
        return -sparse.sum(dim=1) + current.square().sum(dim=1) + self.offset

    def draw_noise(
        self, pairs: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """``negatives``: the derangement that pairs each ``x_t`` with another pair's
        ``x_{t-1}``."""
        num = pairs.shape[1]
        if num < 2:
            raise ConfigError(f"pcl needs at least 2 pairs per batch to draw negatives, got {num}")
        return {"negatives": derangement(num, device=pairs.device, generator=generator)}

    def loss(
        self, pairs: torch.Tensor, step: int, noise: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, Terms]:
        """Loss on natural pairs ``(2, N, C, H, W)`` (``pairs[0]`` is x_{t-1}, ``pairs[1]`` x_t);
        ``noise`` from :meth:`draw_noise` (drawn here if None)."""
        noise = self.draw_noise(pairs) if noise is None else noise
        num = pairs.shape[1]
        features = self.encode(pairs.flatten(0, 1))
        previous, current = features[:num], features[num:]
        negatives = previous[noise["negatives"]]
        logits = torch.cat(
            [self.regression(current, previous), self.regression(current, negatives)]
        )
        labels = torch.cat([logits.new_ones(num), logits.new_zeros(num)])
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        accuracy = ((logits > 0).float() == labels).float().mean()
        return loss, {"loss": loss, "accuracy": accuracy}
