"""The built-in Adam (``models.optimizers.adam``): on CPU, bit-identical to torch's per-parameter
loop, so results measured before the multi-tensor implementation stay reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentangle_bench.data.blob import Blob
from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.models.optimizers import adam
from disentangle_bench.pipeline.training import (
    TrainingConfig,
    configure_optimizers,
    optimization_step,
    to_model_input,
)
from disentangle_bench.registry import Registry

CPU = torch.device("cpu")
CONFIG = TrainingConfig(steps=1, learning_rate=1e-3)


def loop_twins(optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.optim.Optimizer]:
    """The same optimisers (parameters and hyperparameters) on torch's per-parameter loop."""
    twins = {}
    for name, optimizer in optimizers.items():
        (group,) = optimizer.param_groups
        twins[name] = torch.optim.Adam(
            group["params"], lr=group["lr"], betas=group["betas"], eps=group["eps"], foreach=False
        )
    return twins


def trained_parameters(name: str, loop: bool, steps: int = 25) -> list[torch.Tensor]:
    data = Blob()
    torch.manual_seed(0)
    model = (
        Registry()
        .get("models", name)
        .factory(observation_shape=data.observation_shape, num_latent=2, architecture="mlp")
    )
    optimizers = configure_optimizers(model, CONFIG)
    if loop:
        optimizers = loop_twins(optimizers)
    sampler, random_state = make_sampler(model, data), np.random.RandomState(0)
    for step in range(steps):
        batch = to_model_input(sampler(64, random_state), CPU)
        optimization_step(model, batch, step, optimizers)
    return [parameter.detach().clone() for parameter in model.parameters()]


def test_adam_is_multi_tensor_on_cpu():
    optimizer = adam([torch.nn.Parameter(torch.zeros(3))], 1e-3, (0.9, 0.999), 1e-8)
    (group,) = optimizer.param_groups
    assert group["foreach"] is True and not group["fused"]
    assert (group["lr"], group["betas"], group["eps"]) == (1e-3, (0.9, 0.999), 1e-8)


@pytest.mark.parametrize("name", ["beta_vae", "ae", "pcl", "factor_vae", "beta_tc_vae"])
def test_multi_tensor_adam_equals_the_loop_bit_for_bit(name):
    multi = trained_parameters(name, loop=False)
    looped = trained_parameters(name, loop=True)
    assert len(multi) == len(looped)
    for a, b in zip(multi, looped, strict=True):
        assert torch.equal(a, b)
    untrained = trained_parameters(name, loop=True, steps=0)  # training moved the parameters:
    assert any(not torch.equal(a, b) for a, b in zip(multi, untrained, strict=True))
