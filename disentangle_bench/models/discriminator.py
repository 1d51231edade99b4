"""FactorVAE's discriminator and the per-dimension shuffle it is trained against.

disentanglement_lib ``fc_discriminator`` (``methods/shared/architectures.py``): six dense layers
of 1000 leaky-ReLU units (slope 0.2, TensorFlow's default), a dense layer to two logits;
probabilities are the softmax clipped to [1e-6, 1 - 1e-6]. Column 0 is "drawn from q(z)",
column 1 "drawn from the product of its marginals".
"""

from __future__ import annotations

import torch
from torch import nn

from disentangle_bench.models.architectures import glorot_init
from disentangle_bench.models.losses import full_precision

PROBABILITY_CLIP = 1e-6


class Discriminator(nn.Module):
    """(N, num_latent) codes -> (N, 2) logits."""

    def __init__(self, num_latent: int, units: int = 1000, layers: int = 6) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = num_latent
        for _ in range(layers):
            blocks += [nn.Linear(width, units), nn.LeakyReLU(0.2)]
            width = units
        blocks.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*blocks)
        glorot_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return full_precision(self.net(z))


def clipped_log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """``log(clip(softmax(logits), 1e-6, 1 - 1e-6))``, as disentanglement_lib clips."""
    probabilities = torch.softmax(logits, dim=1)
    return probabilities.clamp(PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP).log()


def shuffle_order(
    rows: int,
    num_latent: int,
    *,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``(rows, num_latent)`` indices: an independent uniform permutation of the rows for each
    latent dimension (the argsort of uniform numbers, one column per dimension)."""
    uniforms = torch.rand((rows, num_latent), generator=generator, device=device)
    return uniforms.argsort(dim=0)


def shuffle_codes(z: torch.Tensor, order: torch.Tensor | None = None) -> torch.Tensor:
    """Permute each latent dimension independently across the batch (disentanglement_lib
    ``shuffle_codes``): samples of the product of the marginals of the batch's codes. ``order``
    from :func:`shuffle_order` (drawn here from torch's default generator if None)."""
    if order is None:
        order = shuffle_order(z.shape[0], z.shape[1], device=z.device)
    return z.gather(0, order)


def discriminator_loss(logits_real: torch.Tensor, logits_shuffled: torch.Tensor) -> torch.Tensor:
    """``-(0.5 mean log p_real[:, 0] + 0.5 mean log p_shuffled[:, 1])`` (disentanglement_lib)."""
    real = clipped_log_probabilities(logits_real)[:, 0].mean()
    shuffled = clipped_log_probabilities(logits_shuffled)[:, 1].mean()
    return -(0.5 * real + 0.5 * shuffled)


def discriminator_accuracy(
    logits_real: torch.Tensor, logits_shuffled: torch.Tensor
) -> torch.Tensor:
    """Share of codes the discriminator labels correctly (real -> 0, shuffled -> 1)."""
    correct = (logits_real.argmax(1) == 0).float().sum() + (logits_shuffled.argmax(1) == 1).sum()
    return correct / (logits_real.shape[0] + logits_shuffled.shape[0])
