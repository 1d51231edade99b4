"""Every value a user or a plugin supplies is checked before any work: gin bindings by type and
range, each plugin's contract on a first batch, scores that are finite numbers only. Each
failure is one line naming the binding, or the plugin and its distribution, and exit status 2.
"""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from disentangle_bench import hookimpl
from disentangle_bench.cli import main
from disentangle_bench.data.ground_truth import GroundTruthData, content_fingerprint
from disentangle_bench.pipeline import running
from disentangle_bench.pipeline.config import (
    check_annotated_bindings,
    parse_gin,
    require_int,
    require_number,
)
from disentangle_bench.registry import Registry
from disentangle_bench.registry.contract import check_observations, check_scores
from disentangle_bench.util.errors import ConfigError, PluginError

TINY = str(Path(__file__).parent / "configs" / "tiny.gin")
ORIGIN = "plugin 'hardening_plugins' (distribution (not installed))"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench: error: ")
    return err[0][len("bench: error: ") :]


# -- gin bindings ---------------------------------------------------------------------------

BAD_BINDINGS = [
    ("experiment.evaluation_seed = -1", "experiment.evaluation_seed must be an integer from 0"),
    ("experiment.evaluation_seed = 'abc'", "experiment.evaluation_seed must be an integer"),
    ("experiment.seeds = [4294967296]", "experiment.seeds must be an integer from 0 to 4294967295"),
    (
        "experiment.seeds = [True]",
        "experiment.seeds must be an integer from 0 to 4294967295, got True",
    ),
    ("experiment.seeds = []", "experiment.seeds is empty"),
    ("experiment.seeds = [1, 1]", "experiment.seeds has duplicates"),
    ("experiment.datasets = ['dsprites_small', 'dsprites_small']", "experiment.datasets has dup"),
    ("experiment.name = '../../x'", "experiment.name '../../x' must be a simple file name"),
    ("experiment.name = '" + "a" * 300 + "'", "experiment.name is 300 characters long"),
    ("discretizer.num_bins = 0", "discretizer.num_bins must be a positive integer, got 0"),
    ("train.batch_size = 2.5", "train.batch_size must be a positive integer, got 2.5"),
    ("train.steps = 'abc'", "train.steps must be a positive integer, got 'abc'"),
    ("train.learning_rate = 1e999", "train.learning_rate must be a finite number > 0, got inf"),
    ("train.learning_rate = 0", "train.learning_rate must be a finite number > 0"),
    ("train.beta1 = 1.0", "train.beta1 must be a finite number >= 0 and < 1, got 1.0"),
    ("train.mixed_precision = 'fp8'", "train.mixed_precision must be None, 'bf16' or 'fp16'"),
    ("mig.num_train = 2.5", "mig.num_train must be an integer, got 2.5"),
    ("beta_vae.beta = True", "beta_vae.beta must be a finite number, got True"),
    ("beta_vae.architecture = 3", "beta_vae.architecture must be a string, got 3"),
]


@pytest.mark.parametrize(("binding", "message"), BAD_BINDINGS)
def test_a_bad_binding_is_one_line_naming_it_before_anything_is_written(
    tmp_path, capsys, monkeypatch, binding, message
):
    monkeypatch.setattr(running, "train", _never_called)
    out = tmp_path / "out"
    assert main(["run", "--gin", TINY, "--bind", binding, "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert message in line
    assert "In call to configurable" not in line
    assert not out.exists()


def _never_called(*args, **kwargs):
    raise AssertionError("training started")


def test_a_missing_include_names_the_including_file(tmp_path, capsys):
    config = tmp_path / "study.gin"
    config.write_text(f"include '{tmp_path / 'nothing_here.gin'}'\n")
    assert main(["run", "--gin", str(config), "--out", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys)
    assert f"{config} includes '{tmp_path / 'nothing_here.gin'}', which does not exist" in line


def test_an_include_found_on_a_later_search_path_logs_nothing(tmp_path, caplog):
    """gin logs 'ERROR:root:Path not found' for every search path that lacks an include."""
    import logging

    import gin

    caplog.set_level(logging.INFO)
    (tmp_path / "base.gin").write_text("train.steps = 7\n")
    (tmp_path / "top.gin").write_text("include 'base.gin'\n")
    gin.add_config_file_search_path(str(tmp_path))
    try:
        parse_gin([tmp_path / "top.gin"])
    finally:
        gin.config._LOCATION_PREFIXES.remove(str(tmp_path))
    assert gin.get_bindings("train") == {"steps": 7}
    assert not [record for record in caplog.records if "Path not found" in record.getMessage()]


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("mine")
    assert main(["run", "--gin", TINY, "--out", str(path)]) == 2
    assert one_error_line(capsys) == (
        f"--out {path} is a file, not a directory; choose another --out"
    )
    assert path.read_text() == "mine"


def test_value_checks():
    assert require_int("x", np.int64(3), minimum=1) == 3
    for bad in (True, 2.0, "2", None, 0):
        with pytest.raises(ConfigError, match="x must be a positive integer"):
            require_int("x", bad, minimum=1)
    assert require_number("y", 3, above=0) == 3.0
    for bad in (math.inf, math.nan, -1.0, 0.0, False, "1"):
        with pytest.raises(ConfigError, match="y must be a finite number > 0"):
            require_number("y", bad, above=0)


def test_annotated_bindings_check_scalars_and_leave_the_rest_to_the_plugin():
    import gin

    def factory(
        count: int = 1,
        rate: float = 0.5,
        label: str | None = None,
        flag: bool = False,
        sizes: tuple[int, ...] = (1,),
        anything=None,
    ):
        return None

    gin.external_configurable(factory, name="annotated_factory", module="tests")
    for binding, message in [
        ("count = 1.5", "annotated_factory.count must be an integer, got 1.5"),
        ("rate = 'fast'", "annotated_factory.rate must be a finite number, got 'fast'"),
        ("rate = -1e999", "annotated_factory.rate must be a finite number, got -inf"),
        ("label = 3", "annotated_factory.label must be a string or None, got 3"),
        ("flag = 1", "annotated_factory.flag must be True or False, got 1"),
    ]:
        gin.clear_config()
        gin.parse_config(f"tests.annotated_factory.{binding}")
        with pytest.raises(ConfigError) as refused:
            check_annotated_bindings("tests.annotated_factory", factory, name="annotated_factory")
        assert str(refused.value) == message
    gin.clear_config()
    gin.parse_config(
        "tests.annotated_factory.count = 2\n"
        "tests.annotated_factory.rate = 3\n"  # an int is a fine float
        "tests.annotated_factory.label = None\n"
        "tests.annotated_factory.sizes = 4\n"  # not a scalar annotation: the plugin decides
        "tests.annotated_factory.anything = [1, 'a']\n"
    )
    check_annotated_bindings("tests.annotated_factory", factory)


# -- plugin contracts on a first batch ---------------------------------------------------------


class Grid(GroundTruthData):
    """A 4 x 4 grid of 8x8 grey images; ``fault`` breaks one part of the contract."""

    name = "grid4"

    def __init__(self, fault: str = "") -> None:
        self.fault = fault

    factor_names = ("a", "b")
    factors_num_values = (4, 4)
    observation_shape = (8, 8, 1)

    def _images(self, factors):
        a, b = factors[:, 0], factors[:, 1]
        base = (np.arange(64).reshape(1, 8, 8, 1) % 4 == a[:, None, None, None]) * 0.5
        return (base + 0.1 * b[:, None, None, None]).astype(np.float32)

    @property
    def fingerprint(self) -> str:
        factors = self.factors_of(np.arange(self.num_configurations))
        return content_fingerprint(np.round(self._images(factors) * 255).astype(np.uint8), (4, 4))

    def sample_observations_from_factors(self, factors, random_state):
        images = self._images(np.asarray(factors))
        if self.fault == "uint8_range":
            return (images * 255).astype(np.float64)
        if self.fault == "shape":
            return images[:, :4]
        if self.fault == "nan":
            images[0, 0, 0, 0] = np.nan
        return images


class BrokenEncoder(torch.nn.Module):
    """A tiny VAE-like model; ``fault`` breaks its encode or its loss."""

    name = "broken_model"

    def __init__(self, observation_shape=(8, 8, 1), fault: str = "") -> None:
        super().__init__()
        self.fault = fault
        size = int(np.prod(observation_shape))
        self.encoder = torch.nn.Linear(size, 2)
        self.decoder = torch.nn.Linear(2, size)

    def encode(self, x):
        code = self.encoder(x.flatten(1))
        if self.fault == "encode_shape":
            return code[:, :, None]
        if self.fault == "encode_raises":
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        return code

    def loss(self, x, step):
        error = ((self.decoder(self.encoder(x.flatten(1))) - x.flatten(1)) ** 2).mean()
        if self.fault == "loss_nan":
            error = error * float("nan")
        if self.fault == "loss_vector":
            return error.expand(3), {"error": error}
        return error, {"error": error.detach()}


class Constant:
    """A metric returning ``value`` (or raising)."""

    name = "constant_metric"

    def __init__(self, value="0.5", num_train: int = 10000) -> None:
        self.value = value
        self.num_train = num_train
        self.calls: list[int] = []

    def __call__(self, ground_truth_data, representation_function, random_state):
        CALLS.append(self.num_train)
        if self.value == "raise":
            raise KeyError("factor_index")
        if self.value == "raise_in_full" and self.num_train > 32:
            raise IndexError("index 40 is out of bounds")
        if self.value == "nan":
            return {"score": float("nan")}
        if self.value == "inf":
            return {"score": np.float32(np.inf)}
        if self.value == "text":
            return {"score": "0.5"}
        if self.value == "list":
            return [0.5]
        return {"score": np.float64(0.5)}


CALLS: list[int] = []


def plugins():
    return types.SimpleNamespace(
        __name__="hardening_plugins",
        register_datasets=hookimpl(lambda: [Grid]),
        register_models=hookimpl(lambda: [BrokenEncoder]),
        register_metrics=hookimpl(lambda: [Constant]),
    )


def write_config(tmp_path: Path, *extra: str) -> Path:
    config = tmp_path / "plugins.gin"
    config.write_text(
        "\n".join(
            [
                "experiment.name = 'plugins'",
                "experiment.model = 'broken_model'",
                "experiment.datasets = ['grid4']",
                "experiment.metrics = ['constant_metric']",
                "train.steps = 3",
                "train.batch_size = 8",
                "train.checkpoint_every = 3",
                "train.log_every = 1",
                *extra,
            ]
        )
        + "\n"
    )
    return config


def run(tmp_path, *extra):
    registry = Registry(plugins=[plugins()])
    return running.run_experiment(
        [write_config(tmp_path, *extra)], out_dir=tmp_path / "out", registry=registry
    )


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        (
            "grid4.fault = 'uint8_range'",
            "dataset 'grid4': sample_observations_from_factors returned dtype float64, not "
            "float32 (8, 8, 8, 1) in [0, 1]",
        ),
        (
            "grid4.fault = 'shape'",
            "dataset 'grid4': sample_observations_from_factors returned shape (8, 4, 8, 1), not",
        ),
        ("grid4.fault = 'nan'", "returned NaN or infinite values"),
        (
            "broken_model.fault = 'encode_shape'",
            "model 'broken_model': encode(x) on a first batch of 8 returned shape (8, 2, 1), "
            "not (8, D)",
        ),
        (
            "broken_model.fault = 'encode_raises'",
            "model 'broken_model' failed on a first batch of 8 before training: RuntimeError: "
            "mat1 and mat2",
        ),
        (
            "broken_model.fault = 'loss_nan'",
            "model 'broken_model' on a first batch of 8: loss(x, step)[0] is nan, not finite",
        ),
        (
            "broken_model.fault = 'loss_vector'",
            "loss(x, step)[0] is shape (3,), not a scalar tensor",
        ),
        (
            "constant_metric.value = 'raise'",
            "metric 'constant_metric' failed on a first sample of grid4 (num_train=32) with the "
            "untrained model, before training: KeyError: 'factor_index'",
        ),
        ("constant_metric.value = 'text'", "metric 'constant_metric' returned score='0.5', not a"),
        ("constant_metric.value = 'inf'", "returned score=inf, not a finite number"),
        ("constant_metric.value = 'list'", "returned [0.5], not a non-empty dict of scores"),
    ],
)
def test_a_broken_plugin_is_named_before_any_training(tmp_path, monkeypatch, binding, message):
    monkeypatch.setattr(running, "train", _never_called)
    with pytest.raises(PluginError) as refused:
        run(tmp_path, binding)
    text = str(refused.value)
    assert text.startswith(ORIGIN + ": ")
    assert message in text
    assert "\n" not in text
    assert not (tmp_path / "out").exists()


def test_the_metric_is_tried_on_a_tiny_sample_before_training_then_scored_in_full(tmp_path):
    CALLS.clear()
    outcome = run(tmp_path, "constant_metric.num_train = 500")
    assert CALLS == [32, 500]  # the first try capped at 32 points, the evaluation in full
    assert outcome.records[0]["metrics"]["constant_metric"] == {"score": 0.5}


def test_a_nan_score_is_refused_after_the_run_and_never_written(tmp_path, capsys):
    with pytest.raises(PluginError) as refused:
        run(tmp_path, "constant_metric.value = 'nan'")
    assert str(refused.value) == (
        f"{ORIGIN}: metric 'constant_metric' returned score=nan, not a finite number"
    )
    # the untrained model may leave a score undefined: said, not refused, before training
    assert "leaves score undefined (NaN) on the untrained model" in capsys.readouterr().err
    out = tmp_path / "out"
    assert not (out / "results.json").exists()
    assert not list(out.glob("runs/*/run.json"))


def test_a_metric_failing_only_in_full_is_one_line_naming_it(tmp_path):
    with pytest.raises(PluginError) as refused:
        run(tmp_path, "constant_metric.value = 'raise_in_full'")
    assert str(refused.value) == (
        f"{ORIGIN}: metric 'constant_metric' failed on grid4-original-broken_model-seed0: "
        "IndexError: index 40 is out of bounds"
    )


def test_check_scores_takes_numbers_only():
    assert check_scores("o", "m", {"a": np.float32(0.25), "b": 1, "c": torch.tensor(0.5)}) == {
        "a": 0.25,
        "b": 1.0,
        "c": 0.5,
    }
    assert check_scores("o", "m", {"a": np.array(0.75)}) == {"a": 0.75}
    for values, message in [
        ({}, "returned {}, not a non-empty dict"),
        ({"a": True}, "a=True, not a number"),
        ({"a": "1"}, "a='1', not a number"),
        ({"a": None}, "a=None, not a number"),
        ({"a": math.nan}, "a=nan, not a finite number"),
        ({"a": -math.inf}, "a=-inf, not a finite number"),
        ({1: 0.5}, "the key 1, not a string"),
    ]:
        with pytest.raises(PluginError, match=message):
            check_scores("o", "m", values)
    assert math.isnan(check_scores("o", "m", {"a": math.nan}, allow_nan=True)["a"])


def test_observations_in_0_255_are_refused_even_as_float32():
    images = np.full((2, 4, 4, 1), 255.0, np.float32)
    with pytest.raises(PluginError, match="values from 255 to 255, not float32"):
        check_observations("o", "d", images, 2, (4, 4, 1))
    check_observations("o", "d", images, 2, (4, 4, 1), value_range=None)  # not images


def test_results_json_of_a_run_holds_no_bare_nan(tmp_path):
    outcome = run(tmp_path)
    text = (outcome.out_dir / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=_refuse)


def _refuse(name):
    raise AssertionError(f"{name} in results.json")


class NanMetric:
    """A metric whose score is undefined."""

    name = "nan_metric"

    def __call__(self, ground_truth_data, representation_function, random_state):
        return {"score": np.float64("nan")}


def test_encoder_scoring_refuses_a_nan_score_before_anything_is_written():
    from disentangle_bench.pipeline.encoders import Condition, EncoderError, score_condition

    namespace = types.SimpleNamespace(
        __name__="nan_plugins",
        register_datasets=hookimpl(lambda: [Grid]),
        register_metrics=hookimpl(lambda: [NanMetric]),
    )
    registry = Registry(plugins=[namespace])
    condition = Condition("grid4", "original", Grid(), {"name": "grid4"})
    with pytest.raises(EncoderError) as caught:
        score_condition(
            registry, lambda x: x.reshape(len(x), -1)[:, :2], condition, ["nan_metric"], 0
        )
    message = str(caught.value)
    assert message == (
        "on grid4: plugin 'nan_plugins' (distribution (not installed)): metric 'nan_metric' "
        "returned score=nan, not a finite number"
    )
