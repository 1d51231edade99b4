"""SlowVAE: the Gaussian-to-Laplace KL against numerical integration, and the loss by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.special import erf
from scipy.stats import laplace, norm

from disentangle_bench.models import SlowVAE
from disentangle_bench.models.slow_vae import gaussian_laplace_kl


@pytest.mark.parametrize(
    ("mean", "std", "centre", "rate"),
    [(0.0, 1.0, 0.0, 6.0), (0.3, 0.2, -0.4, 6.0), (-2.0, 0.05, 1.0, 1.5), (1.0, 2.0, 1.1, 0.5)],
)
def test_gaussian_to_laplace_kl_matches_numerical_integration(mean, std, centre, rate):
    def integrand(z):
        log_q = norm.logpdf(z, mean, std)
        return np.exp(log_q) * (log_q - laplace.logpdf(z, loc=centre, scale=1.0 / rate))

    expected, _ = integrate.quad(integrand, mean - 12 * std, mean + 12 * std, points=[centre])
    value = gaussian_laplace_kl(
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(2 * math.log(std), dtype=torch.float64),
        torch.tensor(centre, dtype=torch.float64),
        rate,
    )
    assert value.item() == pytest.approx(expected, rel=1e-6, abs=1e-8)


def laplace_kl_by_hand(mean, log_var, centre, rate):
    std = np.exp(0.5 * log_var)
    m = mean - centre
    expected_abs = std * np.sqrt(2 / np.pi) * np.exp(-(m**2) / (2 * std**2)) + m * erf(
        m / (std * np.sqrt(2))
    )
    return -np.log(rate / 2) + rate * expected_abs - 0.5 * (np.log(2 * np.pi * np.e) + log_var)


def test_slow_vae_mean_kl_loss_by_hand():
    torch.manual_seed(0)
    model = SlowVAE(
        (64, 64, 1),
        num_latent=4,
        beta=2.0,
        gamma=10.0,
        rate_prior=6.0,
        transition_objective="mean_kl",
    )
    generator = torch.Generator().manual_seed(1)
    pairs = (torch.rand(2, 5, 1, 64, 64, generator=generator) > 0.7).float()
    torch.manual_seed(123)
    with torch.no_grad():
        total, terms = model.loss(pairs, 0)
        mean, log_var = (t.double().numpy() for t in model.encoder(pairs.flatten(0, 1)))
        torch.manual_seed(123)
        noise = torch.randn(mean.shape).double().numpy()
        z = mean + np.exp(0.5 * log_var) * noise
        logits = model.decoder(torch.from_numpy(z).float()).double().numpy()
    target = pairs.flatten(0, 1).double().numpy()
    per_pixel = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    per_image = per_pixel.reshape(10, -1).sum(axis=1)
    reconstruction = (per_image[:5] + per_image[5:]).mean()  # both frames of each pair
    kl_rows = (0.5 * (mean**2 + np.exp(log_var) - log_var - 1)).sum(axis=1)
    kl = 0.5 * (kl_rows[:5] + kl_rows[5:]).mean()
    m0, m1, lv0, lv1 = mean[:5], mean[5:], log_var[:5], log_var[5:]
    transition = (
        0.5
        * (
            laplace_kl_by_hand(m1, lv1, m0, 6.0).sum(axis=1)
            + laplace_kl_by_hand(m0, lv0, m1, 6.0).sum(axis=1)
        ).mean()
    )
    assert terms["reconstruction_loss"].item() == pytest.approx(reconstruction, rel=1e-5)
    assert terms["kl_loss"].item() == pytest.approx(kl, rel=1e-4)
    assert terms["transition_kl"].item() == pytest.approx(transition, rel=1e-4)
    assert terms["transition_loss"].item() == pytest.approx(transition, rel=1e-4)
    assert total.item() == pytest.approx(reconstruction + 2.0 * kl + 10.0 * transition, rel=1e-5)
    assert terms["elbo"].item() == pytest.approx(-(reconstruction + kl + transition), rel=1e-5)


def authors_objective_by_hand(per_image, mean, log_var, beta, gamma, rate):
    """The authors' SlowVAE objective written out from their code's formulas
    (``bethgelab/slow_disentanglement``, ``scripts/solver.py``): rows ``[:n]`` are x_0, ``[n:]``
    x_1; the Normal and Laplace cross-entropies, the entropy counted once, means over rows."""
    n = len(mean) // 2
    var = np.exp(log_var)
    entropy = (0.5 * (log_var + np.log(2 * np.pi * np.e))).sum(axis=1).mean()
    cross_entropy_normal = (0.5 * (mean**2 + var) + np.log(np.sqrt(2 * np.pi))).sum(axis=1).mean()

    def cross_entropy_laplace(offset, lv):  # their form, with the Normal CDF
        v = np.exp(lv)
        sigma = np.sqrt(v)
        return (
            -np.log(rate / 2)
            + rate * sigma * np.sqrt(2 / np.pi) * np.exp(-(offset**2) / (2 * v))
            - rate * offset * (1 - 2 * norm.cdf(offset / sigma))
        )

    m0, m1, lv0, lv1 = mean[:n], mean[n:], log_var[:n], log_var[n:]
    laplace = (cross_entropy_laplace(m0 - m1, lv0) + cross_entropy_laplace(m1 - m0, lv1)).sum(1)
    reconstruction = 2.0 * per_image.mean()  # their per-image mean over both frames, doubled
    return (
        reconstruction
        + beta * (cross_entropy_normal - entropy)
        + gamma * (laplace.mean() - entropy)
    )


def test_slow_vae_trains_the_authors_objective_by_default():
    torch.manual_seed(0)
    model = SlowVAE((64, 64, 1), num_latent=4, beta=2.0, gamma=10.0, rate_prior=6.0)
    assert model.transition_objective == "authors"
    generator = torch.Generator().manual_seed(1)
    pairs = (torch.rand(2, 5, 1, 64, 64, generator=generator) > 0.7).float()
    torch.manual_seed(123)
    with torch.no_grad():
        total, terms = model.loss(pairs, 0)
        mean, log_var = (t.double().numpy() for t in model.encoder(pairs.flatten(0, 1)))
        torch.manual_seed(123)
        noise = torch.randn(mean.shape).double().numpy()
        z = mean + np.exp(0.5 * log_var) * noise
        logits = model.decoder(torch.from_numpy(z).float()).double().numpy()
    target = pairs.flatten(0, 1).double().numpy()
    per_pixel = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    per_image = per_pixel.reshape(10, -1).sum(axis=1)
    expected = authors_objective_by_hand(per_image, mean, log_var, 2.0, 10.0, 6.0)
    assert total.item() == pytest.approx(expected, rel=1e-5)
    # The authors' slowness term is twice the mean KL plus the mean posterior entropy.
    entropy = (0.5 * (log_var + np.log(2 * np.pi * np.e))).sum(axis=1)
    slowness = 2.0 * terms["transition_kl"].item() + 0.5 * (entropy[:5] + entropy[5:]).mean()
    assert terms["transition_loss"].item() == pytest.approx(slowness, rel=1e-4)
    mean_kl = SlowVAE((64, 64, 1), num_latent=4, transition_objective="mean_kl")
    mean_kl.load_state_dict(model.state_dict())
    torch.manual_seed(123)
    with torch.no_grad():
        _, other = mean_kl.loss(pairs, 0)
    assert other["transition_kl"].item() == pytest.approx(terms["transition_kl"].item(), rel=1e-6)
    assert other["transition_loss"].item() != pytest.approx(terms["transition_loss"].item())


def test_an_unknown_transition_objective_is_refused():
    with pytest.raises(ValueError, match="transition_objective must be one of 'authors'"):
        SlowVAE((64, 64, 1), transition_objective="kl")


def test_transition_prior_prefers_sparse_changes():
    # Same total squared change: moving one latent costs less under the Laplace prior than
    # spreading the move over all of them (the L1 norm is smaller).
    log_var = torch.full((1, 4), -4.0)
    sparse = gaussian_laplace_kl(torch.tensor([[2.0, 0, 0, 0]]), log_var, torch.zeros(1, 4), 6.0)
    dense = gaussian_laplace_kl(torch.full((1, 4), 1.0), log_var, torch.zeros(1, 4), 6.0)
    assert sparse.sum() < dense.sum()


def test_defaults_are_the_authors():
    model = SlowVAE((64, 64, 1))
    assert (model.beta, model.gamma, model.rate_prior) == (1.0, 10.0, 6.0)
    assert model.sample_kind == "natural_pairs" and model.sample_options == {"rate": 1.0}
