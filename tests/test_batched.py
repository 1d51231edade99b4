"""The batched trainer: K models at once equal K separate runs of the single-model trainer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from disentangle_bench.data.ground_truth import ArrayGroundTruthData
from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.pipeline.batched import (
    BatchedModels,
    build_seeded_models,
    noise_generators,
    sample_batches,
    train_batched,
)
from disentangle_bench.pipeline.training import LOSS_LOG_FILE, TrainingConfig, train
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import PluginError

CPU = torch.device("cpu")
SEEDS = [3, 0, 7]
#: float32: after FLOAT32_STEPS steps at learning rate 1e-3 every parameter of a batched model is
#: within FLOAT32_TOLERANCE of the separate run's (a tenth of one Adam step; docs/models.md).
FLOAT32_STEPS = 30
FLOAT32_TOLERANCE = 1e-4


def bars(size=16):
    """16 binary images: a vertical bar at one of 4 x positions and a horizontal one at 4 y."""
    images = np.zeros((16, size, size, 1), dtype=np.uint8)
    width = size // 8
    for x in range(4):
        for y in range(4):
            images[4 * x + y, :, (2 * x + 1) * width : (2 * x + 2) * width] = 1
            images[4 * x + y, (2 * y + 1) * width : (2 * y + 2) * width, :] = 1
    return ArrayGroundTruthData(images, ["x", "y"], (4, 4), binary=True)


def config(**overrides):
    values = dict(steps=3, batch_size=8, learning_rate=1e-3, checkpoint_every=1, log_every=1)
    values.update(overrides)
    return TrainingConfig(**values)


def separate_model(registry, name, hyperparameters, shape, seed, dtype):
    """The model `bench run` builds for this seed (torch.manual_seed, then the factory)."""
    torch.manual_seed(seed)
    factory = registry.get("models", name).factory
    model = factory(observation_shape=shape, **hyperparameters)
    return model if dtype is None else model.to(dtype)


def max_difference(a, b):
    return max(
        (x - y).abs().max().item()
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


STEP_CASES = [
    ("beta_vae", {"architecture": "mlp", "num_latent": 3, "beta": 4.0}, 16),
    ("ae", {"architecture": "mlp", "num_latent": 3}, 16),
    ("pcl", {"architecture": "mlp", "num_latent": 3}, 16),
    ("beta_tc_vae", {"architecture": "mlp", "num_latent": 3, "beta": 6.0}, 16),
    ("factor_vae", {"architecture": "mlp", "num_latent": 3, "gamma": 35.0}, 16),
    ("slow_vae", {"architecture": "mlp", "num_latent": 3}, 16),
    ("ada_gvae", {"architecture": "mlp", "num_latent": 3, "beta": 2.0}, 16),
    ("dip_vae_ii", {"architecture": "mlp", "num_latent": 3}, 16),
    ("beta_vae", {"architecture": "conv", "num_latent": 3, "beta": 4.0}, 64),
]


@pytest.mark.parametrize(
    ("name", "hyperparameters", "size"),
    STEP_CASES,
    ids=[f"{name}-{h['architecture']}" for name, h, _ in STEP_CASES],
)
def test_batched_models_follow_separate_runs_step_for_step_in_float64(
    tmp_path, name, hyperparameters, size
):
    registry = Registry(autoload=False)
    data = bars(size)
    shape = tuple(data.observation_shape)
    seeds = SEEDS[:2] if size == 64 else SEEDS
    steps = 2 if size == 64 else 3
    settings = dict(batch_size=4 if size == 64 else 8)
    factory = registry.get("models", name).factory
    models, states = build_seeded_models(factory, hyperparameters, shape, seeds)
    models = [model.double() for model in models]
    batched = BatchedModels(models, config(**settings), CPU, noise_generators(seeds, states, CPU))
    samplers = [make_sampler(model, data) for model in models]
    random_states = [np.random.RandomState(seed) for seed in seeds]
    separate = {}
    for step in range(steps):
        batch = sample_batches(samplers, random_states, 8 if size < 64 else 4, CPU, torch.float64)
        batched.step(batch, step)
        trained = batched.unstack()
        for seed, model in zip(seeds, trained, strict=True):
            if seed not in separate:  # built right before its first step, as `bench run` does
                separate[seed] = separate_model(
                    registry, name, hyperparameters, shape, seed, torch.float64
                )
            reference = separate[seed]
            # The single-model trainer, one more step each time (it resumes from its checkpoint).
            train(
                reference,
                data,
                config(steps=step + 1, **settings),
                run_dir=tmp_path / str(seed),
                seed=seed,
                device=CPU,
            )
            assert max_difference(model, reference) < 1e-10, (seed, step)
            assert all(p.dtype == torch.float64 for p in model.parameters())


def test_a_batched_run_in_float32_matches_separate_runs_within_the_documented_tolerance(tmp_path):
    registry = Registry(autoload=False)
    data = bars()
    hyperparameters = {"architecture": "mlp", "num_latent": 3, "beta": 4.0}
    settings = config(steps=FLOAT32_STEPS, log_every=10, checkpoint_every=FLOAT32_STEPS)
    logged = []
    models = train_batched(
        "beta_vae",
        hyperparameters,
        data,
        SEEDS,
        settings,
        CPU,
        progress=False,
        registry=registry,
        on_log=lambda step, terms: logged.append((step, terms)),
    )
    assert [step for step, _ in logged] == [10, 20, 30]
    observations = torch.from_numpy(data.images.astype(np.float32)).movedim(-1, 1)
    for k, (seed, model) in enumerate(zip(SEEDS, models, strict=True)):
        reference = separate_model(
            registry, "beta_vae", hyperparameters, (16, 16, 1), seed, torch.float32
        )
        train(reference, data, settings, run_dir=tmp_path / str(seed), seed=seed, device=CPU)
        assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
        assert max_difference(model, reference) < FLOAT32_TOLERANCE
        with torch.no_grad():
            codes, expected = model.encode(observations), reference.encode(observations)
        assert torch.allclose(codes, expected, rtol=1e-3, atol=1e-4)
        lines = (tmp_path / str(seed) / LOSS_LOG_FILE).read_text().splitlines()
        for line, (_, terms) in zip(lines, logged, strict=True):
            record = json.loads(line)
            assert set(record) == {"step", *terms}
            assert terms["loss"][k] == pytest.approx(record["loss"], rel=1e-4)


def test_models_start_as_bench_run_builds_them_and_the_global_generator_is_untouched():
    registry = Registry(autoload=False)
    factory = registry.get("models", "pcl").factory
    torch.manual_seed(123)
    before = torch.get_rng_state()
    models, states = build_seeded_models(factory, {"architecture": "mlp"}, (8, 8, 1), [5, 9])
    assert torch.equal(torch.get_rng_state(), before)
    for seed, model, state in zip([5, 9], models, states, strict=True):
        reference = separate_model(registry, "pcl", {"architecture": "mlp"}, (8, 8, 1), seed, None)
        assert max_difference(model, reference) == 0.0
        assert torch.equal(state, torch.get_rng_state())  # noise starts where the run's does
    assert max_difference(models[0], models[1]) > 0.1


def test_each_model_gets_its_own_seeds_batches():
    data = bars()
    registry = Registry(autoload=False)
    model = registry.get("models", "pcl").factory(observation_shape=(16, 16, 1), architecture="mlp")
    samplers = [make_sampler(model, data)] * 2
    random_states = [np.random.RandomState(seed) for seed in (4, 8)]
    first = sample_batches(samplers, random_states, 5, CPU, torch.float32)
    assert first.shape == (2, 2, 5, 1, 16, 16)  # K, pair, N, C, H, W
    for k, seed in enumerate((4, 8)):
        expected = make_sampler(model, data)(5, np.random.RandomState(seed))
        assert torch.equal(first[k], torch.from_numpy(expected).movedim(-1, -3))


def test_a_model_that_draws_its_own_noise_cannot_be_batched():
    class OwnNoise(torch.nn.Module):
        name = "own_noise"

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(3))

        def loss(self, x, step):
            total = (self.weight * torch.randn(3)).sum()
            return total, {"loss": total}

    with pytest.raises(PluginError, match="draws its own noise inside its loss"):
        BatchedModels([OwnNoise(), OwnNoise()], config(), CPU, [torch.Generator()] * 2)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_batched_models_close_to_float32(precision):
    data = bars()
    runs = {}
    for mode in (None, precision):
        logged = []
        models = train_batched(
            "beta_vae",
            {"architecture": "mlp", "num_latent": 3},
            data,
            [0, 1],
            config(steps=2, mixed_precision=mode),
            CPU,
            progress=False,
            registry=Registry(autoload=False),
            on_log=lambda step, terms, logged=logged: logged.append(terms["loss"]),
        )
        runs[mode] = logged
    for model in models:
        assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())
    assert np.allclose(runs[precision], runs[None], rtol=0.02)


def test_the_speed_benchmark_compares_equal_designs(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import batched_speed

    argv = ["--quick", "--rounds", "1", "--cases", "beta_vae", "--results", str(tmp_path)]
    assert batched_speed.main(argv) == 0
    (result,) = tmp_path.glob("batched_speed-*-quick.json")
    payload = json.loads(result.read_text())
    designs = [(row["case"], row["design"]) for row in payload["rows"]]
    assert designs == [
        (case, design)
        for case in ("beta_vae mlp 8x8", "beta_vae conv 64x64")
        for design in ("sequential", "torch.func", "grouped layers")
    ]
    # The hand-written grouped network computes the models' own losses.
    assert all(error < 1e-6 for error in payload["grouped_loss_check"].values())
    assert "| beta_vae mlp 8x8 | grouped layers | 10 |" in result.with_suffix(".md").read_text()
