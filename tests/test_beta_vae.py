"""The standard architecture and the beta-VAE loss, against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from disentangle_bench.models.architectures import ConvEncoder, DeconvDecoder
from disentangle_bench.models.losses import bernoulli_reconstruction_loss, gaussian_kl
from disentangle_bench.models.vae import BetaVAE


def conv_parameters(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def dense_parameters(n_in, n_out):
    return n_in * n_out + n_out


def test_architecture_matches_disentanglement_lib_layer_for_layer():
    # conv 32k4, 32k4, 64k2, 64k2, dense 256, two heads; decoder dense 256, 1024, deconv 4x k4.
    encoder = (
        conv_parameters(1, 32, 4)
        + conv_parameters(32, 32, 4)
        + conv_parameters(32, 64, 2)
        + conv_parameters(64, 64, 2)
        + dense_parameters(1024, 256)
        + 2 * dense_parameters(256, 10)
    )
    decoder = (
        dense_parameters(10, 256)
        + dense_parameters(256, 1024)
        + conv_parameters(64, 64, 4)
        + conv_parameters(64, 32, 4)
        + conv_parameters(32, 32, 4)
        + conv_parameters(32, 1, 4)
    )
    model = BetaVAE((64, 64, 1), num_latent=10)
    assert sum(p.numel() for p in model.parameters()) == encoder + decoder == 690_517
    means, log_var = ConvEncoder(3, 6)(torch.zeros(2, 3, 64, 64))
    assert means.shape == log_var.shape == (2, 6)
    assert DeconvDecoder(6, 3)(torch.zeros(2, 6)).shape == (2, 3, 64, 64)


def test_loss_terms_on_analytic_values():
    # Logits 0 cost ln 2 per pixel whatever the target.
    logits = torch.zeros(2, 1, 64, 64)
    target = torch.rand(2, 1, 64, 64)
    assert bernoulli_reconstruction_loss(logits, target).item() == pytest.approx(
        4096 * math.log(2), rel=1e-6
    )
    # KL of N((1, 0), diag(1, 2)) from N(0, I) = 0.5 * (1 + 0 + 0 + (2 - ln 2 - 1)).
    kl = gaussian_kl(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]]))
    assert kl.item() == pytest.approx(0.5 * (2.0 - math.log(2.0)), rel=1e-6)


def test_beta_vae_loss_equals_the_formula_computed_by_hand():
    torch.manual_seed(0)
    model = BetaVAE((64, 64, 1), num_latent=4, beta=6.0)
    x = (torch.rand(3, 1, 64, 64) > 0.7).float()
    torch.manual_seed(123)
    total, terms = model.loss(x, step=0)

    with torch.no_grad():
        mean, log_var = (t.double().numpy() for t in model.encoder(x))
        torch.manual_seed(123)
        noise = torch.randn(3, 4).double().numpy()
        z = mean + np.exp(0.5 * log_var) * noise
        logits = model.decoder(torch.from_numpy(z).float()).double().numpy()
    target = x.double().numpy()
    # Sigmoid cross-entropy: max(l, 0) - l x + log(1 + exp(-|l|)), summed per image.
    per_pixel = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    reconstruction = per_pixel.reshape(3, -1).sum(axis=1).mean()
    kl = (0.5 * (mean**2 + np.exp(log_var) - log_var - 1)).sum(axis=1).mean()

    assert terms["reconstruction_loss"].item() == pytest.approx(reconstruction, rel=1e-5)
    assert terms["kl_loss"].item() == pytest.approx(kl, rel=1e-5)
    assert terms["regularizer"].item() == pytest.approx(6.0 * kl, rel=1e-5)
    assert total.item() == pytest.approx(reconstruction + 6.0 * kl, rel=1e-5)
    assert terms["elbo"].item() == pytest.approx(-(reconstruction + kl), rel=1e-5)


def test_every_parameter_gets_a_gradient_and_steps_lower_the_loss():
    torch.manual_seed(0)
    model = BetaVAE((64, 64, 1), num_latent=3, beta=1.0)
    x = (torch.rand(16, 1, 64, 64) > 0.8).float()
    total, _ = model.loss(x, 0)
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for step in range(20):
        optimizer.zero_grad()
        total, _ = model.loss(x, step)
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.85 * losses[0]


def test_representation_is_the_posterior_mean():
    torch.manual_seed(0)
    model = BetaVAE((64, 64, 1), num_latent=5)
    x = torch.rand(4, 1, 64, 64)
    assert torch.equal(model.encode(x), model.encoder(x)[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"beta": -1.0}, "beta must be non-negative"), ({"num_latent": 0}, "num_latent")],
)
def test_bad_hyperparameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BetaVAE((64, 64, 1), **kwargs)


def test_non_64_pixel_observations_are_rejected():
    with pytest.raises(ValueError, match="64x64"):
        BetaVAE((32, 32, 1))
