"""PCL: the logistic loss by hand, negatives that are never real pairs, and a classifier that
beats chance on real vs permuted pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.models import PCL
from disentangle_bench.pipeline.training import (
    TrainingConfig,
    configure_optimizers,
    optimization_step,
    to_model_input,
)

CPU = torch.device("cpu")


def test_pcl_loss_by_hand():
    torch.manual_seed(0)
    model = PCL((64, 64, 1), num_latent=3)
    with torch.no_grad():  # move the regression away from its initial values
        for parameter in (model.weight_current, model.weight_previous, model.bias, model.offset):
            parameter.add_(0.3 * torch.randn(parameter.shape))
    generator = torch.Generator().manual_seed(1)
    pairs = (torch.rand(2, 6, 1, 64, 64, generator=generator) > 0.7).float()
    torch.manual_seed(123)
    with torch.no_grad():
        total, terms = model.loss(pairs, 0)
        torch.manual_seed(123)  # the negatives' draws: a permutation, then a shift in 1 .. 5
        order = torch.randperm(6).numpy()
        shift = int(torch.randint(1, 6, (1,)))
        previous = model.encoder(pairs[0]).double().numpy()
        current = model.encoder(pairs[1]).double().numpy()
        a, b, c, d = (
            p.double().numpy()
            for p in (model.weight_current, model.weight_previous, model.bias, model.offset)
        )

    def r(y_t, y_prev):
        return -np.abs(a * y_t + b * y_prev + c).sum(axis=1) + (y_t**2).sum(axis=1) + d

    rank = np.argsort(order)  # order[rank[i]] == i
    negatives = order[(rank + shift) % 6]
    assert sorted(negatives) == list(range(6)) and all(negatives != np.arange(6))
    real, fake = r(current, previous), r(current, previous[negatives])
    # Logistic loss: -log sigmoid(real) for real pairs, -log(1 - sigmoid(fake)) for permuted.
    loss = 0.5 * (np.logaddexp(0, -real).mean() + np.logaddexp(0, fake).mean())
    accuracy = 0.5 * ((real > 0).mean() + (fake <= 0).mean())
    assert total.item() == pytest.approx(loss, rel=1e-5)
    assert terms["accuracy"].item() == pytest.approx(accuracy)
    assert torch.equal(model.encode(pairs[0]), model.encoder(pairs[0]))


def test_negatives_are_a_derangement_uniform_over_the_other_pairs():
    from disentangle_bench.models.losses import derangement

    generator = torch.Generator().manual_seed(0)
    counts = np.zeros((5, 5))
    for _ in range(4000):
        sigma = derangement(5, device=CPU, generator=generator).numpy()
        assert sorted(sigma) == list(range(5))  # a permutation
        counts[np.arange(5), sigma] += 1
    assert np.all(np.diag(counts) == 0)  # no real pair among the negatives, ever
    # Each pair's negative is uniform over the 4 other pairs: 1000 expected per cell.
    off_diagonal = counts[~np.eye(5, dtype=bool)]
    assert off_diagonal.min() > 880 and off_diagonal.max() < 1120
    two = [derangement(2, device=CPU, generator=generator).tolist() for _ in range(5)]
    assert two == [[1, 0]] * 5


def test_pcl_needs_two_pairs_for_a_negative():
    from disentangle_bench.util.errors import ConfigError

    model = PCL((1, 1, 4), num_latent=2, architecture="mlp")
    with pytest.raises(ConfigError, match="at least 2 pairs per batch"):
        model.draw_noise(torch.zeros(2, 1, 4, 1, 1))


def test_pcl_noise_is_drawn_outside_the_loss_and_decides_the_negatives():
    torch.manual_seed(0)
    model = PCL((1, 1, 4), num_latent=2, architecture="mlp")
    pairs = torch.randn(2, 5, 4, 1, 1, generator=torch.Generator().manual_seed(1))
    shift = {"negatives": torch.tensor([1, 2, 3, 4, 0])}
    other = {"negatives": torch.tensor([4, 0, 1, 2, 3])}
    with torch.no_grad():
        torch.manual_seed(5)
        drawn = model.draw_noise(pairs)
        torch.manual_seed(5)
        inside = model.loss(pairs, 0)[0]
        assert torch.equal(model.loss(pairs, 0, drawn)[0], inside)
        assert model.loss(pairs, 0, shift)[0] != model.loss(pairs, 0, other)[0]


def nonlinear_vector_data():
    """x = tanh(A w) in R^8 for 3 factors of 10 values each: factors mixed nonlinearly."""
    sizes = (10, 10, 10)
    grid = np.stack(np.meshgrid(*(np.arange(s) for s in sizes), indexing="ij"), -1)
    values = grid.reshape(-1, 3) / 9.0 * 2.0 - 1.0
    mixing = np.random.RandomState(0).randn(3, 8)
    observations = np.tanh(values @ mixing).astype(np.float32).reshape(-1, 1, 1, 8)
    return ArrayGroundTruthData(observations, ["a", "b", "c"], sizes, binary=True)


def test_pcl_classifier_beats_chance_on_real_vs_permuted_pairs():
    data = nonlinear_vector_data()
    torch.manual_seed(0)
    model = PCL((1, 1, 8), num_latent=3, architecture="mlp")
    sampler = make_sampler(model, data)
    held_out = to_model_input(sampler(2000, np.random.RandomState(99)), CPU)

    def evaluate():
        torch.manual_seed(5)
        with torch.no_grad():
            _, terms = model.loss(held_out, 0)
        return terms["loss"].item(), terms["accuracy"].item()

    loss_before, _ = evaluate()
    optimizers = configure_optimizers(model, TrainingConfig(learning_rate=1e-3))
    random_state = np.random.RandomState(0)
    for step in range(250):
        batch = to_model_input(sampler(128, random_state), CPU)
        optimization_step(model, batch, step, optimizers)
    loss_after, accuracy = evaluate()
    assert accuracy > 0.68
    assert loss_after < min(loss_before, math.log(2)) - 0.1
