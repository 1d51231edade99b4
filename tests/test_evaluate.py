"""``bench evaluate``: re-score a run, an experiment or a TorchScript encoder, keeping earlier
results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from disentangle_bench.cli import main
from disentangle_bench.pipeline.evaluation import run_dataset, run_model
from disentangle_bench.registry import Registry

TINY = Path(__file__).parent / "configs" / "tiny.gin"
ORIGINAL = "dsprites_small-original-beta_vae-seed0"
NOISE = "dsprites_small-noise-beta_vae-seed0"
# The run scores mig with tiny.gin's mig.num_train = 300 and evaluation seed 0.
SAME_AS_RUN = ["--bind", "mig.num_train = 300"]
# torch 2.13 deprecates TorchScript; encoders saved with it are what one test scores.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("experiment") / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert main(["run", "--gin", str(TINY), "--out", str(out), "--device", "cpu"]) == 0
    return out


@pytest.fixture
def copy(experiment, tmp_path) -> Path:
    target = tmp_path / "tiny"
    shutil.copytree(experiment, target)
    return target


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _evaluations(path: Path) -> list[dict]:
    return json.loads(path.read_text())["evaluations"]


def test_rescoring_a_run_reproduces_its_score_and_keeps_history(copy, capsys):
    run_dir = copy / "runs" / ORIGINAL
    recorded = _record(run_dir)["metrics"]["mig"]["discrete_mig"]
    assert main(["evaluate", str(run_dir), "--metric", "mig", *SAME_AS_RUN]) == 0
    path = run_dir / "evaluations" / "mig.json"
    (first,) = _evaluations(path)
    assert first["scores"] == {"discrete_mig": recorded}
    assert first["random_seed"] == 0 and first["parameters"]["num_train"] == 300
    assert first["fast_variant_of"] is None
    assert first["source"]["run_id"] == ORIGINAL
    assert first["dataset"]["fingerprint"] == _record(run_dir)["dataset"]["fingerprint"]
    assert "mig.num_train = 300" in first["operative_gin"]
    assert {"numpy", "scikit-learn", "torch"} <= set(first["versions"])
    assert "mig: discrete_mig=" in capsys.readouterr().out

    assert main(["evaluate", str(run_dir), "--metric", "mig", "--seed", "1", *SAME_AS_RUN]) == 0
    history = _evaluations(path)
    assert len(history) == 2 and history[0] == first
    assert history[1]["random_seed"] == 1
    assert history[1]["scores"]["discrete_mig"] != recorded


def test_disentanglement_lib_metric_gin_file_works_unchanged(copy, tmp_path):
    config = tmp_path / "mig.gin"
    config.write_text(
        "evaluation.evaluation_fn = @mig\n"
        'dataset.name="auto"\n'
        "evaluation.random_seed = 0\n"
        "mig.num_train=300\n"
        "discretizer.discretizer_fn = @histogram_discretizer\n"
        "discretizer.num_bins = 20\n"
    )
    run_dir = copy / "runs" / NOISE
    assert main(["evaluate", str(run_dir), "--gin", str(config)]) == 0
    (evaluation,) = _evaluations(run_dir / "evaluations" / "mig.json")
    assert (
        evaluation["scores"]["discrete_mig"] == _record(run_dir)["metrics"]["mig"]["discrete_mig"]
    )


def test_experiment_directory_and_fast_variant(copy):
    bindings = ["--bind", "dci_fast.num_train = 100", "--bind", "dci_fast.num_test = 50"]
    assert main(["evaluate", str(copy), "--metric", "dci_fast", *bindings]) == 0
    for run_id in (ORIGINAL, NOISE):
        (evaluation,) = _evaluations(copy / "runs" / run_id / "evaluations" / "dci_fast.json")
        assert evaluation["fast_variant_of"] == "dci"
        assert set(evaluation["scores"]) == {
            "disentanglement",
            "completeness",
            "informativeness_train",
            "informativeness_test",
        }


def test_decoder_diagnostic_on_a_run(copy):
    run_dir = copy / "runs" / ORIGINAL
    bindings = [
        "--bind",
        "jacobian_orthogonality.num_train = 100",
        "--bind",
        "jacobian_orthogonality.num_points = 5",
        "--bind",
        "jacobian_orthogonality.active_variance_threshold = 0.0",
    ]
    assert main(["evaluate", str(run_dir), "--metric", "jacobian_orthogonality", *bindings]) == 0
    (evaluation,) = _evaluations(run_dir / "evaluations" / "jacobian_orthogonality.json")
    assert evaluation["scores"]["num_active_dims"] == 3.0
    assert 0.0 <= evaluation["scores"]["distance_to_orthogonality"] <= 6**0.5


def test_principal_alignment_on_a_run(copy):
    run_dir = copy / "runs" / NOISE
    bindings = [
        "--bind",
        "principal_alignment.num_points = 8",
        "--bind",
        "principal_alignment.active_variance_threshold = 0.0",
    ]
    assert main(["evaluate", str(run_dir), "--metric", "principal_alignment", *bindings]) == 0
    (evaluation,) = _evaluations(run_dir / "evaluations" / "principal_alignment.json")
    scores = evaluation["scores"]
    assert scores["num_active_dims"] == 3.0
    # Four ordered factors are stepped (scale, orientation, x, y; shape is categorical).
    for key in ("principal_alignment", "factor_alignment"):
        assert 0.25 <= scores[key] <= 1.0
    assert scores["gram_eigenvalue_ratio_median"] >= 1.0


class _Encoder(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode(x)


def test_torchscript_encoder(copy, tmp_path, capsys):
    run_dir = copy / "runs" / ORIGINAL
    registry = Registry()
    record = _record(run_dir)
    model = run_model(record, run_dir, run_dataset(record, registry), registry, "cpu").eval()
    path = tmp_path / "encoder.pt"
    with torch.no_grad():
        traced = torch.jit.trace(_Encoder(model), torch.rand(2, 1, 64, 64))
    torch.jit.save(traced, str(path))

    assert main(["evaluate", str(path), "--metric", "mig", *SAME_AS_RUN]) == 2
    assert "needs --dataset" in capsys.readouterr().err
    command = ["evaluate", str(path), "--dataset", "dsprites_small", "--metric", "mig"]
    assert main([*command, *SAME_AS_RUN]) == 0
    (evaluation,) = _evaluations(tmp_path / "encoder.evaluations" / "mig.json")
    assert evaluation["source"]["kind"] == "torchscript"
    assert evaluation["scores"]["discrete_mig"] == pytest.approx(
        record["metrics"]["mig"]["discrete_mig"], abs=1e-9
    )
    # The diagnostic needs a decoder, which an encoder file does not have: one clear line.
    assert main([*command[:-1], "jacobian_orthogonality"]) == 2
    assert "needs the model's decoder" in capsys.readouterr().err


def test_errors_are_one_line_and_nothing_is_lost(copy, tmp_path, capsys):
    run_dir = copy / "runs" / ORIGINAL
    cases = [
        (["evaluate", str(run_dir), "--metric", "mgi"], "did you mean 'mig'"),
        (["evaluate", str(run_dir)], "no metric to evaluate"),
        (["evaluate", str(tmp_path / "nothing"), "--metric", "mig"], "does not exist"),
        (["evaluate", str(tmp_path), "--metric", "mig"], "holds no run"),
        (["evaluate", str(run_dir), "--metric", "mig", "--bind", "mig.num_train = 0"], "mig"),
        (["evaluate", str(run_dir), "--metric", "mig", "--bind", "mig.bins = 3"], "gin"),
        (["evaluate", str(run_dir), "--metric", "mig", "--dataset", "dsprites"], "TorchScript"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)

    evaluations = run_dir / "evaluations"
    evaluations.mkdir()
    (evaluations / "mig.json").write_text("{broken")
    assert main(["evaluate", str(run_dir), "--metric", "mig"]) == 2
    assert "not an evaluation file" in capsys.readouterr().err
    assert (evaluations / "mig.json").read_text() == "{broken"

    record = _record(run_dir)
    record["dataset"]["fingerprint"] = "0" * 64
    (run_dir / "run.json").write_text(json.dumps(record))
    assert main(["evaluate", str(run_dir), "--metric", "irs"]) == 2
    assert "no longer has the content" in capsys.readouterr().err

    (copy / "runs" / NOISE / "checkpoint.pt").write_bytes(b"garbage")
    assert main(["evaluate", str(copy / "runs" / NOISE), "--metric", "mig"]) == 2
    assert "cannot load the model" in capsys.readouterr().err
