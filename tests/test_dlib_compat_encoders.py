"""Any PyTorch encoder, one command: ``bench evaluate ENCODER --submit NAME`` scores it on every
registered dataset it fits and on their twins and writes a validated leaderboard submission."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from disentangle_bench.cli import main
from disentangle_bench.leaderboard import load_submission
from disentangle_bench.pipeline.encoders import load_encoder, plan_conditions, representation_of
from disentangle_bench.pipeline.representation import TorchRepresentation
from disentangle_bench.registry import Registry

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
SMALL = ["--metric", "mig", "--bind", "mig.num_train = 300"]
ENCODER_SOURCE = '''
import torch


class Moments(torch.nn.Module):
    """Three pixel moments of a 64x64 grey image: sum of x * column, x * row and x."""

    def __init__(self):
        super().__init__()
        grid = torch.arange(64, dtype=torch.float32) / 63
        weight = torch.stack(
            [grid.repeat(64), grid.repeat_interleave(64), torch.ones(64 * 64)]
        ) / 100.0
        self.linear = torch.nn.Linear(64 * 64, 3, bias=False)
        self.linear.weight.data.copy_(weight)

    def forward(self, x):
        return self.linear(x.flatten(1))


def build():
    return Moments()
'''


@pytest.fixture
def encoder_module(tmp_path, monkeypatch):
    """The encoder's module, importable as ``moments_encoder`` (an entry point)."""
    (tmp_path / "moments_encoder.py").write_text(ENCODER_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import moments_encoder

    return importlib.reload(moments_encoder)


@pytest.fixture
def encoder_file(encoder_module, tmp_path) -> Path:
    path = tmp_path / "moments.pt"
    torch.jit.save(torch.jit.script(encoder_module.build()), str(path))
    return path


def test_one_command_scores_every_fitting_dataset_and_twin_and_submits(
    encoder_file, encoder_module, tmp_path, capsys
):
    board = tmp_path / "board"
    argv = ["evaluate", str(encoder_file), "--submit", "Pixel moments", "--to", str(board)]
    assert main([*argv, *SMALL, "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    # Only 64x64x1 data fits the encoder's linear layer; large grids are left out by default.
    assert "skipped blob: does not fit" in err and "skipped shapes3d_small: does not fit" in err
    assert "skipped dsprites: 737,280 configurations, more than 10,000" in err
    assert "skipped dsprites_full: not available" in err

    path = board / "submissions" / "pixel-moments.json"
    submission = load_submission(path)
    assert submission["method"]["name"] == "Pixel moments"
    assert submission["method"]["plugin"] == "torchscript"
    runs = {run["dataset"]["name"]: run for run in submission["runs"]}
    assert set(runs) == {"dsprites_small", "dsprites_small+oblique", "dsprites_small+noise"}
    (config,) = submission["configs"]
    assert config["training"] == {"protocol": "fixed_encoder"}
    assert config["metric_parameters"]["mig"]["num_train"] == 300

    # Each score is the metric on that condition, seed 0, of the encoder itself.
    registry = Registry()
    represent = TorchRepresentation(encoder_module.build(), "cpu", method="forward")
    data = registry.build("datasets", "dsprites_small")
    import gin

    gin.parse_config("mig.num_train = 300")
    for name, twin in (
        ("dsprites_small", data),
        ("dsprites_small+noise", registry.build("perturbations", "noise").apply(data)),
    ):
        expected = registry.build("metrics", "mig")(twin, represent, np.random.RandomState(0))
        assert runs[name]["metrics"]["mig"]["discrete_mig"] == pytest.approx(
            expected["discrete_mig"], rel=1e-6
        )
        assert runs[name]["dataset"]["fingerprint"] == twin.fingerprint
    assert runs["dsprites_small"]["metrics"]["mig"]["discrete_mig"] > 0.05

    # The file passes the leaderboard's own checks (fingerprints included) and builds.
    assert main(["leaderboard", "validate", str(path)]) == 0
    assert main(["leaderboard", "build", "--dir", str(board), "--strict"]) == 0
    assert "Pixel moments" in (board / "README.md").read_text()
    # Per-condition evaluation files sit beside the encoder.
    evaluations = encoder_file.with_name("moments.evaluations")
    assert sorted(p.name for p in evaluations.iterdir()) == sorted(runs)

    # A second submission under the same name is refused unless --overwrite.
    assert main([*argv, *SMALL, "--device", "cpu", "--dataset", "dsprites_small"]) == 2
    assert "exists" in capsys.readouterr().err
    argv += ["--overwrite", "--dataset", "dsprites_small", "--perturbation", "noise"]
    assert main([*argv, *SMALL, "--device", "cpu"]) == 0
    names = {run["dataset"]["name"] for run in load_submission(path)["runs"]}
    assert names == {"dsprites_small", "dsprites_small+noise"}


def test_entry_point_gives_the_same_scores(encoder_file, encoder_module, tmp_path):
    file_board, entry_board = tmp_path / "a", tmp_path / "b"
    common = [*SMALL, "--device", "cpu", "--dataset", "dsprites_small"]
    assert main(["evaluate", str(encoder_file), "--submit", "file", "--to", str(file_board),
                 "--out", str(tmp_path / "e1"), *common]) == 0  # fmt: skip
    assert main(["evaluate", "moments_encoder:build", "--submit", "entry", "--to",
                 str(entry_board), "--out", str(tmp_path / "e2"), *common]) == 0  # fmt: skip
    by_file = load_submission(file_board / "submissions" / "file.json")
    by_entry = load_submission(entry_board / "submissions" / "entry.json")
    assert [r["metrics"] for r in by_file["runs"]] == [r["metrics"] for r in by_entry["runs"]]
    assert by_entry["method"]["plugin"] == "entry_point"
    assert by_entry["method"]["distribution"] == "entry point moments_encoder:build"
    # Without --submit an entry point is scored on the named dataset only.
    out = tmp_path / "single"
    argv = ["evaluate", "moments_encoder:Moments", "--dataset", "dsprites_small", "--out", str(out)]
    assert main([*argv, *SMALL, "--device", "cpu"]) == 0
    (evaluation,) = json.loads((out / "mig.json").read_text())["evaluations"]
    first = next(r for r in by_file["runs"] if r["dataset"]["condition"] == "original")
    assert evaluation["scores"] == first["metrics"]["mig"]
    assert evaluation["source"]["entry_point"] == "moments_encoder:Moments"


def test_encoder_results_in_disentanglement_libs_layout(encoder_file, tmp_path):
    out = tmp_path / "output"
    argv = ["evaluate", str(encoder_file), "--dataset", "dsprites_small", "--perturbation", "noise"]
    assert main([*argv, *SMALL, "--dlib-output", str(out), "--device", "cpu"]) == 0
    (aggregate,) = out.glob("*/metrics/*/*/results/aggregate/evaluation.json")
    assert aggregate.relative_to(out).parts[:4] == (
        "moments-dsprites_small-noise",
        "metrics",
        "mean",
        "mig",
    )
    values = json.loads(aggregate.read_text())
    assert values["train_config.dataset.name"] == "'dsprites_small+noise'"
    assert values["train_config.model.name"] == "'moments'"
    assert values["postprocess_config.postprocess.postprocess_fn"] == "@mean_representation"
    (evaluation,) = json.loads(
        (encoder_file.with_name("moments.evaluations") / "mig.json").read_text()
    )["evaluations"]
    assert values["evaluation_results.discrete_mig"] == evaluation["scores"]["discrete_mig"]


def test_plan_respects_names_limits_and_layout(encoder_file):
    registry = Registry()
    encoder = load_encoder(encoder_file)
    assert encoder.input_layout == "NCHW" and encoder.metadata is None
    represent = representation_of(encoder, "cpu")
    plan = plan_conditions(registry, represent, perturbations=["noise"], max_configurations=2000)
    assert plan.groups == []  # dsprites_small has 2,304 configurations
    assert any(line.startswith("dsprites_small: 2,304 configurations") for line in plan.skipped)
    plan = plan_conditions(registry, represent, datasets=["dsprites_small"], perturbations=[])
    assert [c.name for c in plan.conditions] == ["dsprites_small"]
    nhwc = load_encoder(encoder_file, input_layout="NHWC")
    plan = plan_conditions(registry, representation_of(nhwc, "cpu"), max_configurations=5000)
    # (N, 64, 64, 1) flattens as (N, 1, 64, 64) does; 32 x 32 blob fits neither layout.
    assert [group[0].base for group in plan.groups] == ["dsprites_small"]
    assert [c.condition for c in plan.groups[0]] == ["original", "oblique", "noise"]
    assert any(line.startswith("blob: does not fit") for line in plan.skipped)


def test_errors_are_one_line(encoder_file, tmp_path, capsys):
    run_dir = tmp_path / "not_a_run"
    run_dir.mkdir()
    cases = [
        (["evaluate", str(run_dir), "--submit", "x", *SMALL], "--submit scores an encoder"),
        (["evaluate", "no_such_module:build", "--submit", "x", *SMALL], "cannot import"),
        (["evaluate", "moments_encoder:nothing", "--submit", "x", *SMALL], "has no attribute"),
        (["evaluate", str(encoder_file), "--submit", "x", "--dataset", "blob", *SMALL], "fit"),
        (
            ["evaluate", str(encoder_file), "--submit", "x", "--perturbation", "nois", *SMALL],
            "did you mean 'noise'",
        ),  # fmt: skip
        (
            ["evaluate", str(encoder_file), "--submit", "x", "--max-configurations", "-1", *SMALL],
            "max_configurations",
        ),  # fmt: skip
        (["evaluate", str(encoder_file), "--max-configurations", "5", *SMALL], "for --submit"),
    ]
    for argv, message in cases:
        assert main([*argv, "--to", str(tmp_path / "board"), "--device", "cpu"]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "board").exists()
