"""AnnealedVAE, beta-TCVAE, DIP-VAE-I/II, the autoencoder and the Gaussian reconstruction loss,
each against its formula computed by hand in numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from disentangle_bench.models import (
    DIPVAEI,
    DIPVAEII,
    AnnealedVAE,
    Autoencoder,
    BetaTCVAE,
    BetaVAE,
)
from disentangle_bench.models.tc_vae import total_correlation

REL = 1e-5


def binary_batch(n=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 64, 64, generator=generator) > 0.7).float()


def by_hand(model, x, seed=123):
    """(mean, log_var, z, decoder output) in float64, with the noise the model's loss draws."""
    with torch.no_grad():
        mean, log_var = (t.double().numpy() for t in model.encoder(x))
        torch.manual_seed(seed)
        noise = torch.randn(mean.shape).double().numpy()
        z = mean + np.exp(0.5 * log_var) * noise
        output = model.decoder(torch.from_numpy(z).float()).double().numpy()
    return mean, log_var, z, output


def bernoulli_nll(logits, target):
    per_pixel = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    return per_pixel.reshape(len(target), -1).sum(axis=1).mean()


def kl_normal(mean, log_var):
    return (0.5 * (mean**2 + np.exp(log_var) - log_var - 1)).sum(axis=1).mean()


def model_loss(model, x, step=0, seed=123):
    torch.manual_seed(seed)
    with torch.no_grad():
        total, terms = model.loss(x, step)
    return total.item(), {k: v.item() for k, v in terms.items()}


@pytest.mark.parametrize(("step", "capacity"), [(0, 0.0), (50_000, 5.0), (250_000, 10.0)])
def test_annealed_vae_loss_by_hand(step, capacity):
    torch.manual_seed(0)
    model = AnnealedVAE((64, 64, 1), num_latent=4, gamma=1000.0, c_max=10.0)
    x = binary_batch()
    total, terms = model_loss(model, x, step)
    mean, log_var, _, logits = by_hand(model, x)
    reconstruction = bernoulli_nll(logits, x.double().numpy())
    kl = kl_normal(mean, log_var)
    assert terms["capacity"] == capacity
    assert terms["regularizer"] == pytest.approx(1000.0 * abs(kl - capacity), rel=1e-4)
    assert total == pytest.approx(reconstruction + 1000.0 * abs(kl - capacity), rel=REL)


def tc_by_hand(z, mean, log_var):
    """Minibatch-weighted TC with the batch-size normaliser, written out with scipy."""
    m = len(z)
    std = np.exp(0.5 * log_var)
    # log q(z_j,l | x_i,l) for every j, i, l.
    log_q = norm.logpdf(z[:, None, :], loc=mean[None, :, :], scale=std[None, :, :])
    log_qz = logsumexp(log_q.sum(axis=2), axis=1) - math.log(m)
    log_marginals = (logsumexp(log_q, axis=1) - math.log(m)).sum(axis=1)
    return float(np.mean(log_qz - log_marginals))


def test_beta_tc_vae_loss_by_hand():
    torch.manual_seed(0)
    model = BetaTCVAE((64, 64, 1), num_latent=4, beta=6.0)
    x = binary_batch(8)
    total, terms = model_loss(model, x)
    mean, log_var, z, logits = by_hand(model, x)
    reconstruction = bernoulli_nll(logits, x.double().numpy())
    kl = kl_normal(mean, log_var)
    tc = tc_by_hand(z, mean, log_var)
    assert terms["tc_loss"] == pytest.approx(tc, rel=1e-4, abs=1e-5)
    assert terms["regularizer"] == pytest.approx(kl + 5.0 * tc, rel=1e-4, abs=1e-5)
    assert total == pytest.approx(reconstruction + kl + 5.0 * tc, rel=REL)


def test_tc_estimate_constants_relate_to_disentanglement_lib_and_chen_et_al():
    generator = torch.Generator().manual_seed(0)
    mean, log_var = torch.randn(16, 5, generator=generator), torch.zeros(16, 5)
    z = mean + torch.randn(16, 5, generator=generator)
    ours = total_correlation(z, mean, log_var).item()
    chen = total_correlation(z, mean, log_var, dataset_size=1000).item()
    assert chen - ours == pytest.approx(4 * math.log(1000), rel=1e-5)


def gaussian_tc(correlation):
    return -0.5 * np.linalg.slogdet(correlation)[1]


def test_tc_estimate_is_near_zero_for_independent_codes_and_positive_for_correlated_ones():
    generator = torch.Generator().manual_seed(0)
    batch, std = 512, 0.5
    log_var = torch.full((batch, 4), 2 * math.log(std))
    independent = torch.randn(batch, 4, generator=generator)
    correlated = independent.clone()
    correlated[:, 1], correlated[:, 2] = correlated[:, 0], -correlated[:, 0]
    estimates = {}
    for name, mean in (("independent", independent), ("correlated", correlated)):
        z = mean + std * torch.randn(batch, 4, generator=generator)
        estimates[name] = total_correlation(z, mean, log_var).item()
    # True TC of the aggregate posterior: 0, and -0.5 log det(corr) with off-diagonals 1/1.25.
    rho = 1.0 / (1.0 + std**2)
    truth = gaussian_tc(np.array([[1, rho, -rho], [rho, 1, -rho], [-rho, -rho, 1]]))
    assert abs(estimates["independent"]) < 0.15
    assert estimates["correlated"] == pytest.approx(truth, abs=0.2)
    assert estimates["correlated"] > 1.0


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_vae_loss_by_hand(kind):
    torch.manual_seed(0)
    cls = DIPVAEI if kind == "i" else DIPVAEII
    model = cls((64, 64, 1), num_latent=4, lambda_od=5.0, lambda_d_factor=3.0)
    x = binary_batch(10)
    total, terms = model_loss(model, x)
    mean, log_var, _, logits = by_hand(model, x)
    reconstruction = bernoulli_nll(logits, x.double().numpy())
    kl = kl_normal(mean, log_var)
    matrix = np.cov(mean.T, bias=True)
    if kind == "ii":
        matrix = matrix + np.diag(np.exp(log_var).mean(axis=0))
    off = matrix - np.diag(np.diag(matrix))
    penalty = 5.0 * (off**2).sum() + 15.0 * ((np.diag(matrix) - 1) ** 2).sum()
    assert terms["dip_regularizer"] == pytest.approx(penalty, rel=1e-4)
    assert total == pytest.approx(reconstruction + kl + penalty, rel=REL)


def test_study_lambda_d_defaults():
    assert DIPVAEI((64, 64, 1), lambda_od=2.0).lambda_d == 20.0
    assert DIPVAEII((64, 64, 1), lambda_od=2.0).lambda_d == 2.0


def test_autoencoder_loss_is_the_reconstruction_of_its_code():
    torch.manual_seed(0)
    model = Autoencoder((64, 64, 1), num_latent=3)
    x = binary_batch()
    total, terms = model_loss(model, x)
    with torch.no_grad():
        code = model.encoder(x)
        logits = model.decoder(code).double().numpy()
    assert set(terms) == {"loss", "reconstruction_loss"}
    assert total == pytest.approx(bernoulli_nll(logits, x.double().numpy()), rel=REL)
    assert torch.equal(model.encode(x), code)
    assert not any("log_var" in name for name, _ in model.named_parameters())


def test_gaussian_reconstruction_is_the_summed_squared_error():
    torch.manual_seed(0)
    model = BetaVAE(
        (1, 1, 12), num_latent=3, beta=2.0, architecture="mlp", reconstruction="gaussian"
    )
    x = 5.0 * torch.randn(7, 12, 1, 1)
    total, terms = model_loss(model, x)
    mean, log_var, _, output = by_hand(model, x)
    reconstruction = ((output - x.double().numpy()) ** 2).reshape(7, -1).sum(axis=1).mean()
    assert terms["reconstruction_loss"] == pytest.approx(reconstruction, rel=REL)
    assert total == pytest.approx(reconstruction + 2.0 * kl_normal(mean, log_var), rel=REL)
    with torch.no_grad():
        assert torch.allclose(model.reconstruct(x), model.decoder(model.encode(x)))
