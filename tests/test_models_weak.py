"""Ada-GVAE: the adaptive threshold, the averaging, and the loss by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentangle_bench.models import AdaGVAE
from disentangle_bench.models.weak import adaptive_average, per_dimension_kl


def kl_by_hand(m1, lv1, m2, lv2):
    """KL(N(m1, v1) || N(m2, v2)) per dimension."""
    v1, v2 = np.exp(lv1), np.exp(lv2)
    return 0.5 * (np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)


def test_per_dimension_kl():
    generator = torch.Generator().manual_seed(0)
    m1, lv1, m2, lv2 = (torch.randn(5, 4, generator=generator, dtype=torch.float64) for _ in "abcd")
    expected = kl_by_hand(*(t.numpy() for t in (m1, lv1, m2, lv2)))
    assert np.allclose(per_dimension_kl(m1, lv1, m2, lv2).numpy(), expected)


def test_averages_exactly_the_dimensions_below_the_threshold():
    # Pair 0: means differ by 0, 0.1, 3, 4 (unit variances): KL 0, 0.005, 4.5, 8; threshold 4
    # -> dims 0 and 1 are averaged. Pair 1: only dim 2 differs -> every other dim is averaged.
    mean_1 = torch.zeros(2, 4, dtype=torch.float64)
    mean_2 = torch.tensor([[0.0, 0.1, 3.0, 4.0], [0.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    log_var_1 = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.5, -1.0, 0.0, 0.0]], dtype=torch.float64)
    log_var_2 = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.5, -1.0, 0.0, 0.0]], dtype=torch.float64)
    m1, lv1, m2, lv2, shared = adaptive_average(mean_1, log_var_1, mean_2, log_var_2)
    assert shared.tolist() == [[True, True, False, False], [True, True, False, True]]
    delta = kl_by_hand(*(t.numpy() for t in (mean_1, log_var_1, mean_2, log_var_2)))
    threshold = 0.5 * (delta.max(axis=1, keepdims=True) + delta.min(axis=1, keepdims=True))
    assert np.array_equal(shared.numpy(), delta < threshold)
    average_mean = 0.5 * (mean_1 + mean_2)
    average_log_var = torch.log(0.5 * log_var_1.exp() + 0.5 * log_var_2.exp())
    for out, own, average in ((m1, mean_1, average_mean), (m2, mean_2, average_mean)):
        assert torch.equal(out[shared], average[shared]) and torch.equal(out[~shared], own[~shared])
    assert torch.equal(lv1[shared], average_log_var[shared])
    assert torch.equal(lv2[~shared], log_var_2[~shared])


def test_nothing_is_averaged_when_all_dimensions_are_equally_far():
    mean = torch.zeros(1, 3)
    *_, shared = adaptive_average(mean, torch.zeros(1, 3), mean + 1.0, torch.zeros(1, 3))
    assert not shared.any()


def test_ada_gvae_loss_by_hand():
    torch.manual_seed(0)
    model = AdaGVAE((64, 64, 1), num_latent=5, beta=4.0, k=1)
    generator = torch.Generator().manual_seed(1)
    pairs = (torch.rand(2, 6, 1, 64, 64, generator=generator) > 0.7).float()
    torch.manual_seed(123)
    with torch.no_grad():
        total, terms = model.loss(pairs, 0)
        mean, log_var = (t.double().numpy() for t in model.encoder(pairs.flatten(0, 1)))
        torch.manual_seed(123)
        noise = torch.randn(mean.shape).double().numpy()
    m1, m2, lv1, lv2 = mean[:6], mean[6:], log_var[:6], log_var[6:]
    delta = kl_by_hand(m1, lv1, m2, lv2)
    shared = delta < 0.5 * (delta.max(axis=1, keepdims=True) + delta.min(axis=1, keepdims=True))
    avg_m, avg_lv = 0.5 * (m1 + m2), np.log(0.5 * np.exp(lv1) + 0.5 * np.exp(lv2))
    new_mean = np.concatenate([np.where(shared, avg_m, m1), np.where(shared, avg_m, m2)])
    new_log_var = np.concatenate([np.where(shared, avg_lv, lv1), np.where(shared, avg_lv, lv2)])
    z = new_mean + np.exp(0.5 * new_log_var) * noise
    with torch.no_grad():
        logits = model.decoder(torch.from_numpy(z).float()).double().numpy()
    target = pairs.flatten(0, 1).double().numpy()
    per_pixel = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    per_image = per_pixel.reshape(12, -1).sum(axis=1)
    reconstruction = 0.5 * (per_image[:6].mean() + per_image[6:].mean())
    kl_rows = (0.5 * (new_mean**2 + np.exp(new_log_var) - new_log_var - 1)).sum(axis=1)
    kl = 0.5 * (kl_rows[:6].mean() + kl_rows[6:].mean())
    assert terms["shared_dimensions"].item() == pytest.approx(shared.sum(axis=1).mean())
    assert terms["reconstruction_loss"].item() == pytest.approx(reconstruction, rel=1e-5)
    assert terms["kl_loss"].item() == pytest.approx(kl, rel=1e-4)
    assert total.item() == pytest.approx(reconstruction + 4.0 * kl, rel=1e-5)


def test_k_is_passed_to_the_weak_pair_sampler():
    assert AdaGVAE((64, 64, 1), k=-1).sample_options == {"k": -1}
    assert AdaGVAE((64, 64, 1), k=3).sample_options == {"k": 3}
    assert AdaGVAE.sample_kind == "weak_pairs"
