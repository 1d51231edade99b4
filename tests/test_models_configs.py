"""Every model config under gin_configs/models parses and builds valid models."""

from __future__ import annotations

from pathlib import Path

import gin
import pytest

import disentangle_bench.pipeline.experiment  # noqa: F401 - registers the `experiment` configurable
from disentangle_bench.pipeline.config import parse_gin
from disentangle_bench.registry import Registry

ROOT = Path(__file__).resolve().parent.parent / "gin_configs" / "models"
CONFIGS = sorted(ROOT.rglob("*.gin"))
SHAPES = {"dsprites": (64, 64, 1), "shapes3d": (64, 64, 3)}


def test_every_study_model_has_paper_configs_for_both_datasets():
    names = {path.stem for path in (ROOT / "paper").glob("*.gin")}
    models = ["ae", "beta_vae", "factor_vae", "beta_tc_vae", "slow_vae", "pcl", "ada_gvae"]
    assert names == {f"{m}_{d}" for m in models for d in SHAPES}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_parses_and_builds(path):
    registry = Registry(autoload=False)
    parse_gin([path])
    model = gin.query_parameter("experiment.model")
    shape = SHAPES.get(path.stem.rsplit("_", 1)[-1], (64, 64, 1))
    built = registry.build("models", model, observation_shape=shape)
    if path.parent.name == "paper":
        assert built.num_latent == (5 if shape == (64, 64, 1) else 6)
    else:
        sweep = gin.query_parameter("%SWEEP")
        assert gin.query_parameter("%SEEDS") == 50
        ((binding, values),) = sweep.items()
        assert binding.startswith(f"{model}.") and len(values) == 6
        for value in values:  # every grid point is a valid model
            with gin.unlock_config():
                gin.bind_parameter(binding, value)
            built = registry.build("models", model, observation_shape=shape)
            assert getattr(built, binding.split(".")[1]) == value and built.num_latent == 10


@pytest.mark.parametrize(
    ("path", "binding", "value"),
    [
        ("paper/beta_vae_dsprites.gin", "beta", 8.0),
        ("paper/beta_vae_shapes3d.gin", "beta", 32.0),
        ("paper/beta_tc_vae_dsprites.gin", "beta", 6.0),
        ("paper/beta_tc_vae_shapes3d.gin", "beta", 32.0),
        ("paper/factor_vae_dsprites.gin", "gamma", 35.0),
        ("paper/factor_vae_shapes3d.gin", "gamma", 7.0),
    ],
)
def test_paper_hyperparameters(path, binding, value):
    Registry(autoload=False)
    parse_gin([ROOT / path])
    model = gin.query_parameter("experiment.model")
    assert gin.query_parameter(f"{model}.{binding}") == value
