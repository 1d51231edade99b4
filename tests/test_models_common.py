"""Every built-in model: registration, gradients, steps, a trainer run, bad input, MLP variant."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch

from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.models.plugin import BUILTIN
from disentangle_bench.pipeline.training import (
    CHECKPOINT_FILE,
    LOSS_LOG_FILE,
    RECONSTRUCTIONS_FILE,
    TRAVERSALS_FILE,
    TrainingConfig,
    configure_optimizers,
    optimization_step,
    to_model_input,
    train,
)
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError

CPU = torch.device("cpu")
MODELS = {cls.name: cls for cls in BUILTIN}
NAMES = sorted(MODELS)


def bars_dataset():
    """16 binary 64x64 images: a vertical bar at one of 4 x positions, a horizontal one at 4 y."""
    images = np.zeros((16, 64, 64, 1), dtype=np.uint8)
    for x in range(4):
        for y in range(4):
            image = images[4 * x + y]
            image[:, 8 + 12 * x : 14 + 12 * x] = 1
            image[8 + 12 * y : 14 + 12 * y, :] = 1
    return ArrayGroundTruthData(images, ["x", "y"], (4, 4), binary=True)


def batch_for(model, data, size, seed=0):
    sampler = make_sampler(model, data)
    return to_model_input(sampler(size, np.random.RandomState(seed)), CPU)


def loss_at(model, batch, seed=123):
    torch.manual_seed(seed)  # the same reparametrisation noise / shuffles each time
    with torch.no_grad():
        return model.loss(batch, 0)[1]["loss"].item()


def config(**overrides):
    values = dict(steps=4, batch_size=8, learning_rate=1e-3, checkpoint_every=2, log_every=2)
    values.update(overrides)
    return TrainingConfig(**values)


def test_every_method_is_registered_under_its_gin_name():
    registry = Registry(autoload=False)
    assert set(NAMES) <= set(registry.names("models"))
    assert set(NAMES) == {
        "beta_vae",
        "annealed_vae",
        "factor_vae",
        "beta_tc_vae",
        "dip_vae_i",
        "dip_vae_ii",
        "ae",
        "slow_vae",
        "ada_gvae",
        "pcl",
    }
    import gin

    gin.parse_config("factor_vae.gamma = 35\nfactor_vae.num_latent = 5")
    model = registry.build("models", "factor_vae", observation_shape=(64, 64, 1))
    assert model.gamma == 35.0 and model.num_latent == 5


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient_and_a_few_steps_lower_the_loss(name):
    torch.manual_seed(0)
    model = MODELS[name]((64, 64, 1), num_latent=3)
    batch = batch_for(model, bars_dataset(), 16 if model.sample_kind == "single" else 8)
    optimizers = configure_optimizers(model, config())
    before = loss_at(model, batch)
    optimization_step(model, batch, 0, optimizers)
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name
    for step in range(1, 15):
        optimization_step(model, batch, step, optimizers)
    assert loss_at(model, batch) < before


def read_png_size(path):
    payload = path.read_bytes()
    assert payload.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(payload[16:20], "big"), int.from_bytes(payload[20:24], "big")
    assert zlib.decompress(payload[payload.index(b"IDAT") + 4 : payload.index(b"IEND") - 8])
    return width, height


@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_cpu_training_run_through_the_trainer(name, tmp_path):
    from disentangle_bench.pipeline.training import save_figures

    torch.manual_seed(0)
    model = MODELS[name]((64, 64, 1), num_latent=2)
    data = bars_dataset()
    result = train(model, data, config(), run_dir=tmp_path, seed=0, device=CPU)
    assert result.steps == 4
    lines = [json.loads(line) for line in (tmp_path / LOSS_LOG_FILE).read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4]
    _, terms = model.loss(batch_for(model, data, 4), 0)
    assert set(lines[-1]) == {"step", *terms}  # every term the model reports is logged
    checkpoint = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    expected = ["discriminator", "vae"] if name == "factor_vae" else ["model"]
    assert sorted(checkpoint["optimizers"]) == expected
    written = save_figures(model, data, tmp_path, CPU)
    if name == "pcl":  # no decoder: nothing to draw
        assert written == []
    else:
        assert [p.name for p in written] == [RECONSTRUCTIONS_FILE, TRAVERSALS_FILE]
        assert read_png_size(tmp_path / RECONSTRUCTIONS_FILE) == (8 * 66 + 2, 2 * 66 + 2)
        assert read_png_size(tmp_path / TRAVERSALS_FILE) == (8 * 66 + 2, 2 * 66 + 2)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("beta_vae", {"beta": -1.0}, "beta must be non-negative"),
        ("beta_vae", {"num_latent": 0}, "num_latent must be a positive integer"),
        ("annealed_vae", {"c_max": -5.0}, "c_max must be non-negative"),
        ("annealed_vae", {"iteration_threshold": 0}, "iteration_threshold"),
        ("factor_vae", {"gamma": -35.0}, "gamma must be non-negative"),
        ("factor_vae", {"discriminator_beta1": 1.5}, "discriminator_beta1"),
        ("beta_tc_vae", {"beta": -6.0}, "beta must be non-negative"),
        ("dip_vae_i", {"lambda_od": -1.0}, "lambda_od must be non-negative"),
        ("dip_vae_ii", {"lambda_d_factor": -1.0}, "lambda_d_factor"),
        ("ae", {"num_latent": 0}, "num_latent"),
        ("slow_vae", {"rate_prior": 0.0}, "rate_prior must be positive"),
        ("slow_vae", {"gamma": -10.0}, "gamma must be non-negative"),
        ("slow_vae", {"transition_rate": -1.0}, "transition_rate must be positive"),
        ("ada_gvae", {"k": 0}, "k must be a positive number of factors or -1"),
        ("pcl", {"transition_rate": 0.0}, "transition_rate must be positive"),
        ("beta_vae", {"architecture": "resnet"}, "architecture must be one of"),
        ("beta_vae", {"reconstruction": "poisson"}, "reconstruction must be one of"),
    ],
)
def test_out_of_range_hyperparameters_raise_value_error(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MODELS[name]((64, 64, 1), **kwargs)


def test_the_registry_reports_a_bad_hyperparameter_in_one_line():
    import gin

    registry = Registry(autoload=False)
    gin.parse_config("factor_vae.gamma = -1")
    with pytest.raises(ConfigError, match=r"^model 'factor_vae': gamma must be non-negative"):
        registry.build("models", "factor_vae", observation_shape=(64, 64, 1))


def test_conv_architecture_needs_64_pixel_images():
    for name in NAMES:
        with pytest.raises(ValueError, match="64x64"):
            MODELS[name]((1, 1, 12))


@pytest.mark.parametrize("shape", [(1, 1, 12), (12, 1, 1), (3, 2, 2)])
@pytest.mark.parametrize("name", NAMES)
def test_mlp_variant_takes_vector_observations_of_any_shape(name, shape):
    torch.manual_seed(0)
    kwargs = {"architecture": "mlp", "num_latent": 3}
    if name != "pcl":
        kwargs["reconstruction"] = "gaussian"
    model = MODELS[name](shape, **kwargs)
    height, width, channels = shape
    x = 3.0 * torch.randn(5, channels, height, width)  # real-valued, outside [0, 1]
    batch = torch.stack([x, x + 0.1]) if model.sample_kind != "single" else x
    total, terms = model.loss(batch, 0)
    assert torch.isfinite(total) and all(torch.isfinite(v) for v in terms.values())
    assert model.encode(x).shape == (5, 3)
    if hasattr(model, "reconstruct"):
        assert model.reconstruct(x).shape == x.shape
