"""FactorVAE: both losses by hand, the two optimisers, and a discriminator that learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentangle_bench.models import FactorVAE
from disentangle_bench.models.discriminator import (
    Discriminator,
    discriminator_accuracy,
    discriminator_loss,
    shuffle_codes,
)
from disentangle_bench.pipeline.training import TrainingConfig, backward, compute_losses

REL = 1e-5


def binary_batch(n=8):
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 64, 64, generator=generator) > 0.7).float()


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_discriminator_is_disentanglement_libs():
    discriminator = Discriminator(10)
    linear = [m for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(10, 1000)] + [
        (1000, 1000)
    ] * 5 + [(1000, 2)]
    leaky = [m for m in discriminator.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert len(leaky) == 6 and all(m.negative_slope == 0.2 for m in leaky)


def test_factor_vae_losses_by_hand():
    torch.manual_seed(0)
    model = FactorVAE((64, 64, 1), num_latent=4, gamma=35.0)
    x = binary_batch()
    torch.manual_seed(123)
    with torch.no_grad():
        losses, terms = model.training_losses(x, 0)
    with torch.no_grad():
        mean, log_var = (t.double().numpy() for t in model.encoder(x))
        torch.manual_seed(123)
        noise = torch.randn(mean.shape).double().numpy()
        z = mean + np.exp(0.5 * log_var) * noise
        logits = model.decoder(torch.from_numpy(z).float()).double().numpy()
        z_t = torch.from_numpy(z).float()
        d_real = model.discriminator(z_t).double().numpy()
        order = torch.rand(z_t.shape).argsort(dim=0)  # the shuffle's draw follows the noise
        z_shuffled = np.take_along_axis(z, order.numpy(), axis=0)
        d_shuffled = model.discriminator(torch.from_numpy(z_shuffled).float()).double().numpy()
    target = x.double().numpy()
    per_pixel = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    reconstruction = per_pixel.reshape(8, -1).sum(axis=1).mean()
    kl = (0.5 * (mean**2 + np.exp(log_var) - log_var - 1)).sum(axis=1).mean()
    tc = (d_real[:, 0] - d_real[:, 1]).mean()
    # Each shuffled column is a permutation of the original column.
    assert np.allclose(np.sort(z_shuffled, axis=0), np.sort(z, axis=0))
    p_real = np.clip(softmax(d_real), 1e-6, 1 - 1e-6)
    p_shuffled = np.clip(softmax(d_shuffled), 1e-6, 1 - 1e-6)
    d_loss = -(0.5 * np.log(p_real[:, 0]).mean() + 0.5 * np.log(p_shuffled[:, 1]).mean())

    assert terms["tc_loss"].item() == pytest.approx(tc, rel=1e-4, abs=1e-6)
    assert losses["vae"].item() == pytest.approx(reconstruction + kl + 35.0 * tc, rel=REL)
    assert losses["discriminator"].item() == pytest.approx(d_loss, rel=1e-5)
    assert terms["regularizer"].item() == pytest.approx(kl + 35.0 * tc, rel=1e-4, abs=1e-4)


def test_two_optimisers_each_get_only_their_own_loss_gradient():
    torch.manual_seed(0)
    model = FactorVAE((64, 64, 1), num_latent=3, gamma=10.0)
    optimizers = model.configure_optimizers(TrainingConfig(learning_rate=3e-4))
    vae_params = set(map(id, optimizers["vae"].param_groups[0]["params"]))
    disc_params = set(map(id, optimizers["discriminator"].param_groups[0]["params"]))
    assert not vae_params & disc_params
    assert vae_params | disc_params == {id(p) for p in model.parameters()}
    assert optimizers["vae"].defaults["lr"] == 3e-4
    assert optimizers["discriminator"].defaults["betas"] == (0.5, 0.9)
    assert optimizers["discriminator"].defaults["lr"] == 1e-4

    x = binary_batch()
    torch.manual_seed(7)
    losses, _ = compute_losses(model, x, 0, list(optimizers))
    expected_disc = torch.autograd.grad(
        losses["discriminator"], list(model.discriminator.parameters()), retain_graph=True
    )
    expected_encoder = torch.autograd.grad(
        losses["vae"], list(model.encoder.parameters()), retain_graph=True
    )
    backward(losses, optimizers)
    for parameter, grad in zip(model.discriminator.parameters(), expected_disc, strict=True):
        assert torch.allclose(parameter.grad, grad)
    for parameter, grad in zip(model.encoder.parameters(), expected_encoder, strict=True):
        assert torch.allclose(parameter.grad, grad)


def train_discriminator(correlated, steps=150):
    torch.manual_seed(0)
    discriminator = Discriminator(3, units=32)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-3, betas=(0.5, 0.9))

    def codes(n):
        z = torch.randn(n, 3)
        if correlated:
            z[:, 1] = z[:, 0] + 0.1 * torch.randn(n)
        return z

    for _ in range(steps):
        z = codes(128)
        loss = discriminator_loss(discriminator(z), discriminator(shuffle_codes(z)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        z = codes(2000)
        real, shuffled = discriminator(z), discriminator(shuffle_codes(z))
    return discriminator_accuracy(real, shuffled).item(), (real[:, 0] - real[:, 1]).mean().item()


def test_discriminator_learns_to_tell_correlated_codes_from_shuffled_ones():
    accuracy, tc = train_discriminator(correlated=True)
    assert accuracy > 0.8 and tc > 1.0
    accuracy, tc = train_discriminator(correlated=False)  # nothing to tell apart
    assert abs(accuracy - 0.5) < 0.05 and abs(tc) < 0.2
