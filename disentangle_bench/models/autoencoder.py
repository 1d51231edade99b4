"""The deterministic autoencoder: the non-variational baseline of Zietlow et al. (ICML 2021).

Encoder to a code (no posterior variance, no prior), decoder back; the loss is the reconstruction
term alone (the same function the VAEs use). The representation is the code.
"""

from __future__ import annotations

import torch
from torch import nn

from disentangle_bench.models.architectures import build_decoder, build_encoder
from disentangle_bench.models.checks import positive_int
from disentangle_bench.models.losses import (
    check_reconstruction,
    full_precision,
    output_activation,
    reconstruction_loss,
)


class Autoencoder(nn.Module):
    """Deterministic autoencoder: ``loss = -log p(x | encoder(x))``."""

    name = "ae"
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
        self.encoder = build_encoder(
            architecture, observation_shape, self.num_latent, gaussian=False
        )
        self.decoder = build_decoder(architecture, observation_shape, self.num_latent)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation: the code."""
        return full_precision(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return output_activation(self.reconstruction, full_precision(self.decoder(z)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def draw_noise(
        self, batch: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Nothing: the autoencoder's loss is deterministic."""
        return {}

    def loss(
        self, x: torch.Tensor, step: int, noise: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        reconstruction = reconstruction_loss(
            self.reconstruction, full_precision(self.decoder(self.encode(x))), x
        )
        return reconstruction, {"loss": reconstruction, "reconstruction_loss": reconstruction}
