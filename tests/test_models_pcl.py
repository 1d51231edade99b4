"""PCL: the logistic loss by hand, and a classifier that beats chance on real vs permuted pairs."""

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
        torch.manual_seed(123)
        permutation = torch.randperm(6).numpy()
        previous = model.encoder(pairs[0]).double().numpy()
        current = model.encoder(pairs[1]).double().numpy()
        a, b, c, d = (
            p.double().numpy()
            for p in (model.weight_current, model.weight_previous, model.bias, model.offset)
        )

    def r(y_t, y_prev):
        return -np.abs(a * y_t + b * y_prev + c).sum(axis=1) + (y_t**2).sum(axis=1) + d

    real, fake = r(current, previous), r(current, previous[permutation])
    # Logistic loss: -log sigmoid(real) for real pairs, -log(1 - sigmoid(fake)) for permuted.
    loss = 0.5 * (np.logaddexp(0, -real).mean() + np.logaddexp(0, fake).mean())
    accuracy = 0.5 * ((real > 0).mean() + (fake <= 0).mean())
    assert total.item() == pytest.approx(loss, rel=1e-5)
    assert terms["accuracy"].item() == pytest.approx(accuracy)
    assert torch.equal(model.encode(pairs[0]), model.encoder(pairs[0]))


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
