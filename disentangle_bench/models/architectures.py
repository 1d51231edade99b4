"""Encoders and decoders: disentanglement_lib's standard conv networks and a small MLP variant.

``conv`` is layer for layer ``conv_encoder`` and ``deconv_decoder`` of disentanglement_lib
(``methods/shared/architectures.py``), after row 3 of Table 1 in Higgins et al. 2017 (beta-VAE).
TensorFlow's "same" padding for these kernel/stride pairs is symmetric, so it becomes ``padding=1``
for 4x4 / stride 2 and ``padding=0`` for 2x2 / stride 2. It needs 64x64xC observations.

``mlp`` is for small vector data of any shape, e.g. the synthetic linear dataset's (1, 1, D)
observations: the NCHW input is flattened to ``C*H*W`` values, then two dense layers of
:data:`MLP_UNITS` ReLU units; the decoder mirrors it and reshapes its output back to NCHW. (It is
narrower than disentanglement_lib's ``fc_encoder``, 2 x 1200, so that CPU experiments stay fast.)

Weights use TensorFlow's default initialisation (Glorot uniform, zero bias). Inputs and outputs
are NCHW; decoders return the pre-activation output (logits for the Bernoulli loss, the mean for
the Gaussian loss). A *Gaussian* encoder returns ``(means, log_variances)``; a deterministic one
(``gaussian=False``, for the autoencoder and PCL) returns the codes only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

ARCHITECTURES = ("conv", "mlp")
MLP_UNITS = 256


def glorot_init(module: nn.Module) -> None:
    """TensorFlow's default layer initialisation: Glorot-uniform weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class _Heads(nn.Module):
    """Dense heads on a feature vector: means and log-variances, or codes only."""

    def __init__(self, features: nn.Module, units: int, num_latent: int, gaussian: bool) -> None:
        super().__init__()
        self.features = features
        self.means = nn.Linear(units, num_latent)
        self.log_var = nn.Linear(units, num_latent) if gaussian else None
        glorot_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        hidden = self.features(x)
        if self.log_var is None:
            return self.means(hidden)
        return self.means(hidden), self.log_var(hidden)


class ConvEncoder(_Heads):
    """64x64xC -> (means, log-variances), each (N, num_latent); codes only if not gaussian."""

    def __init__(self, num_channels: int, num_latent: int, gaussian: bool = True) -> None:
        features = nn.Sequential(
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
        super().__init__(features, 256, num_latent, gaussian)


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


class MLPEncoder(_Heads):
    """Any (N, C, H, W) -> flattened -> 2 x dense ReLU -> heads."""

    def __init__(self, num_inputs: int, num_latent: int, gaussian: bool = True) -> None:
        features = nn.Sequential(
            nn.Flatten(),
            nn.Linear(num_inputs, MLP_UNITS),
            nn.ReLU(),
            nn.Linear(MLP_UNITS, MLP_UNITS),
            nn.ReLU(),
        )
        super().__init__(features, MLP_UNITS, num_latent, gaussian)


class MLPDecoder(nn.Module):
    """(N, num_latent) -> 2 x dense ReLU -> dense -> (N, C, H, W)."""

    def __init__(self, num_latent: int, output_shape: Sequence[int]) -> None:
        super().__init__()
        self.output_shape = tuple(int(s) for s in output_shape)  # (C, H, W)
        self.net = nn.Sequential(
            nn.Linear(num_latent, MLP_UNITS),
            nn.ReLU(),
            nn.Linear(MLP_UNITS, MLP_UNITS),
            nn.ReLU(),
            nn.Linear(MLP_UNITS, math.prod(self.output_shape)),
        )
        glorot_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.output_shape)


def check_image_shape(observation_shape: Sequence[int]) -> int:
    """Validate an (H, W, C) shape for the conv architecture and return C."""
    if len(observation_shape) != 3 or tuple(observation_shape[:2]) != (64, 64):
        raise ValueError(
            f"the conv architecture needs 64x64xC observations, got {tuple(observation_shape)}; "
            "use architecture='mlp' for other shapes"
        )
    return int(observation_shape[2])


def check_architecture(architecture: str, observation_shape: Sequence[int]) -> None:
    """Raise ValueError unless ``architecture`` can take observations of this (H, W, C) shape."""
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture must be one of {', '.join(map(repr, ARCHITECTURES))}, "
            f"got {architecture!r}"
        )
    if len(observation_shape) != 3 or min(int(s) for s in observation_shape) < 1:
        raise ValueError(f"observation_shape must be (H, W, C), got {tuple(observation_shape)}")
    if architecture == "conv":
        check_image_shape(observation_shape)


def build_encoder(
    architecture: str, observation_shape: Sequence[int], num_latent: int, *, gaussian: bool = True
) -> nn.Module:
    """The encoder of ``architecture`` for (H, W, C) observations."""
    check_architecture(architecture, observation_shape)
    height, width, channels = (int(s) for s in observation_shape)
    if architecture == "conv":
        return ConvEncoder(channels, num_latent, gaussian)
    return MLPEncoder(height * width * channels, num_latent, gaussian)


def build_decoder(
    architecture: str, observation_shape: Sequence[int], num_latent: int
) -> nn.Module:
    """The decoder of ``architecture``: codes -> (N, C, H, W) pre-activation outputs."""
    check_architecture(architecture, observation_shape)
    height, width, channels = (int(s) for s in observation_shape)
    if architecture == "conv":
        return DeconvDecoder(num_latent, channels)
    return MLPDecoder(num_latent, (channels, height, width))
