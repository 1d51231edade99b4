"""disentanglement_lib's standard convolutional encoder and decoder, in PyTorch.

Layer for layer as ``conv_encoder`` and ``deconv_decoder`` in disentanglement_lib
(``methods/shared/architectures.py``), after row 3 of Table 1 in Higgins et al. 2017 (beta-VAE).
TensorFlow's "same" padding for these kernel/stride pairs is symmetric, so it becomes ``padding=1``
for 4x4 / stride 2 and ``padding=0`` for 2x2 / stride 2. Weights use TensorFlow's default
initialisation (Glorot uniform, zero bias). Inputs and outputs are NCHW; the decoder returns logits.
"""

from __future__ import annotations

import torch
from torch import nn


def glorot_init(module: nn.Module) -> None:
    """TensorFlow's default layer initialisation: Glorot-uniform weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class ConvEncoder(nn.Module):
    """64x64xC -> (means, log-variances), each (N, num_latent)."""

    def __init__(self, num_channels: int, num_latent: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(num_channels, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=2, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=2, stride=2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(1024, 256),
            nn.ReLU(),
        )
        self.means = nn.Linear(256, num_latent)
        self.log_var = nn.Linear(256, num_latent)
        glorot_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.features(x)
        return self.means(hidden), self.log_var(hidden)


class DeconvDecoder(nn.Module):
    """(N, num_latent) -> logits (N, C, 64, 64)."""

    def __init__(self, num_latent: int, num_channels: int) -> None:
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(num_latent, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU()
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 32, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, num_channels, kernel_size=4, stride=2, padding=1),
        )
        glorot_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.dense(z).view(-1, 64, 4, 4))


def check_image_shape(observation_shape: tuple[int, ...]) -> int:
    """Validate an (H, W, C) shape for the conv architecture and return C."""
    if len(observation_shape) != 3 or tuple(observation_shape[:2]) != (64, 64):
        raise ValueError(
            f"the conv architecture needs 64x64xC observations, got {tuple(observation_shape)}"
        )
    return int(observation_shape[2])
