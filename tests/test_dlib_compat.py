"""disentanglement_lib users' files: its study's gin files accepted unchanged by bench evaluate,
results written in its layout and aggregate JSON (round trip), its representation format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from disentangle_bench.cli import main
from disentangle_bench.pipeline import dlib_results
from disentangle_bench.pipeline.dlib_compat import read_representation_metadata
from disentangle_bench.pipeline.evaluation import run_dataset, run_model
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import PluginError

ROOT = Path(__file__).resolve().parents[1]
TINY = Path(__file__).parent / "configs" / "tiny.gin"
ORIGINAL = "dsprites_small-original-beta_vae-seed0"
NOISE = "dsprites_small-noise-beta_vae-seed0"
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

# disentanglement_lib's unsupervised_study_v1 configs, binding for binding (metric_configs/*.gin
# and postprocess_configs/*.gin of its repository).
STUDY_METRIC_CONFIGS = {
    "beta_vae_sklearn": """evaluation.evaluation_fn = @beta_vae_sklearn
dataset.name="auto"
evaluation.random_seed = 0
beta_vae_sklearn.batch_size=64
beta_vae_sklearn.num_train=10000
beta_vae_sklearn.num_eval=5000
""",
    "dci": """evaluation.evaluation_fn = @dci
dataset.name="auto"
evaluation.random_seed = 0
dci.num_train=10000
dci.num_test=5000
""",
    "downstream_task_boosted_trees": """evaluation.evaluation_fn = @downstream_task
dataset.name="auto"
evaluation.random_seed = 0
downstream_task.num_train=[10, 100,1000,10000]
downstream_task.num_test=5000
predictor.predictor_fn = @gradient_boosting_classifier
""",
    "downstream_task_logistic_regression": """evaluation.evaluation_fn = @downstream_task
dataset.name="auto"
evaluation.random_seed = 0
downstream_task.num_train=[10, 100,1000,10000]
downstream_task.num_test=5000
predictor.predictor_fn = @logistic_regression_cv
""",
    "factor_vae_metric": """evaluation.evaluation_fn = @factor_vae_score
dataset.name="auto"
evaluation.random_seed = 0
factor_vae_score.num_variance_estimate=10000
factor_vae_score.num_train=10000
factor_vae_score.num_eval=5000
factor_vae_score.batch_size=64
prune_dims.threshold = 0.05
""",
    "mig": """evaluation.evaluation_fn = @mig
dataset.name="auto"
evaluation.random_seed = 0
mig.num_train=10000
discretizer.discretizer_fn = @histogram_discretizer
discretizer.num_bins = 20
""",
    "modularity_explicitness": """evaluation.evaluation_fn = @modularity_explicitness
dataset.name="auto"
evaluation.random_seed = 0
modularity_explicitness.num_train=10000
modularity_explicitness.num_test=5000
discretizer.discretizer_fn = @histogram_discretizer
discretizer.num_bins = 20
""",
    "sap_score": """evaluation.evaluation_fn = @sap_score
dataset.name="auto"
evaluation.random_seed = 0
sap_score.num_train=10000
sap_score.num_test=5000
sap_score.continuous_factors=False
""",
    "unsupervised": """evaluation.evaluation_fn = @unsupervised_metrics
dataset.name="auto"
evaluation.random_seed = 0
unsupervised_metrics.num_train=10000
discretizer.discretizer_fn = @histogram_discretizer
discretizer.num_bins = 20
""",
}
MEAN_GIN = """postprocess.postprocess_fn = @mean_representation
dataset.name="auto"
postprocess.random_seed = 0
"""
SAMPLED_GIN = """postprocess.postprocess_fn = @sampled_representation
dataset.name="auto"
postprocess.random_seed = 0
"""
# Sizes that keep each metric to a second or two on the tiny run (the files stay unchanged;
# bindings after them win, as in disentanglement_lib's own tests).
SMALL = {
    "beta_vae_sklearn": ["beta_vae_sklearn.num_train = 60", "beta_vae_sklearn.num_eval = 30"],
    "dci": ["dci.num_train = 100", "dci.num_test = 50"],
    "downstream_task_boosted_trees": [
        "downstream_task.num_train = [10, 40]",
        "downstream_task.num_test = 40",
    ],
    "downstream_task_logistic_regression": [
        "downstream_task.num_train = [10, 40]",
        "downstream_task.num_test = 40",
    ],
    "factor_vae_metric": [
        "factor_vae_score.num_variance_estimate = 500",
        "factor_vae_score.num_train = 60",
        "factor_vae_score.num_eval = 30",
    ],
    "mig": ["mig.num_train = 300"],
    "modularity_explicitness": [
        "modularity_explicitness.num_train = 200",
        "modularity_explicitness.num_test = 100",
    ],
    "sap_score": ["sap_score.num_train = 200", "sap_score.num_test = 100"],
    "unsupervised": ["unsupervised_metrics.num_train = 200"],
}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dlib") / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("DISENTANGLE_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        assert main(["run", "--gin", str(TINY), "--out", str(out), "--device", "cpu"]) == 0
    return out


@pytest.fixture
def copy(experiment, tmp_path) -> Path:
    target = tmp_path / "tiny"
    shutil.copytree(experiment, target)
    return target


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _file_bindings(text: str) -> dict[str, str]:
    """``key -> value text`` of a study file, as written (spaces around '=' optional)."""
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        found[key.strip()] = value.strip()
    return found


@pytest.mark.slow
def test_every_study_metric_config_is_accepted_unchanged(copy, tmp_path):
    run_dir = copy / "runs" / NOISE
    mean = _write(tmp_path / "mean.gin", MEAN_GIN)
    out = tmp_path / "output"
    for name, text in STUDY_METRIC_CONFIGS.items():
        config = _write(tmp_path / f"{name}.gin", text)
        binds = [arg for line in SMALL[name] for arg in ("--bind", line)]
        # as dlib_reproduce does: the metric's result directory is named after its config file
        binds += ["--bind", f"evaluation.name = '{name}'"]
        argv = ["evaluate", str(run_dir), "--gin", mean, "--gin", config, *binds]
        assert main([*argv, "--dlib-output", str(out), "--device", "cpu"]) == 0, name

        aggregate = json.loads(
            (
                out / NOISE / "metrics" / "mean" / name / "results/aggregate/evaluation.json"
            ).read_text()
        )
        metric = _file_bindings(text)["evaluation.evaluation_fn"].lstrip("@")
        assert aggregate["evaluation_config.evaluation.evaluation_fn"] == f"@{metric}"
        assert aggregate["evaluation_config.evaluation.name"] == f"'{name}'"
        assert aggregate["evaluation_config.dataset.name"] == "'dsprites_small+noise'"
        overridden = {line.split("=")[0].strip() for line in SMALL[name]}
        for key, value in _file_bindings(text).items():
            if key.startswith(f"{metric}.") and key not in overridden:
                # the study's value reached the metric (its text as gin writes it)
                assert aggregate[f"evaluation_config.{key}"].replace(" ", "") == value, key
        for key in ("discretizer.num_bins", "predictor.predictor_fn", "prune_dims.threshold"):
            if key in text:
                assert aggregate[f"evaluation_config.{key}"] == _file_bindings(text)[key], key
        scores = {k: v for k, v in aggregate.items() if k.startswith("evaluation_results.")}
        assert len(scores) >= 3 and all(
            np.isfinite(v) for k, v in scores.items() if "uuid" not in k
        )

    # MIG with the run's own num_train and seed reproduces the score the run recorded.
    mig = json.loads(
        (out / NOISE / "metrics/mean/mig/results/json/evaluation_results.json").read_text()
    )
    assert mig["discrete_mig"] == _record(run_dir)["metrics"]["mig"]["discrete_mig"]
    boosted = out / NOISE / "metrics/mean/downstream_task_boosted_trees/results/aggregate"
    logistic = out / NOISE / "metrics/mean/downstream_task_logistic_regression/results/aggregate"
    boosted_scores = json.loads((boosted / "evaluation.json").read_text())
    logistic_scores = json.loads((logistic / "evaluation.json").read_text())
    key = "evaluation_results.10:mean_test_accuracy"
    assert boosted_scores[key] != logistic_scores[key]  # the predictor binding took effect
    assert (
        boosted_scores["evaluation_config.predictor.predictor_fn"]
        == "@gradient_boosting_classifier"
    )


def test_sampled_representation_is_refused_in_one_line(copy, tmp_path, capsys):
    sampled = _write(tmp_path / "sampled.gin", SAMPLED_GIN)
    mig = _write(tmp_path / "mig.gin", STUDY_METRIC_CONFIGS["mig"])
    argv = ["evaluate", str(copy / "runs" / NOISE), "--gin", sampled, "--gin", mig]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "@sampled_representation is not supported" in err and err.count("\n") == 1
    assert not (copy / "runs" / NOISE / "evaluations").exists()


def test_plugins_cannot_take_disentanglement_lib_gin_names():
    from disentangle_bench import hookimpl

    def dataset():  # pragma: no cover - never built
        raise AssertionError

    dataset.name = "dataset"
    plugin = types.ModuleType("takes_dlib_names")
    plugin.register_datasets = hookimpl(lambda: [dataset])
    with pytest.raises(PluginError, match="disentangle-bench's own gin configurable 'dataset'"):
        Registry(plugins=[plugin])


def _pattern_files(root: Path) -> list[Path]:
    """disentanglement_lib's dlib_aggregate_results default glob, relative to root."""
    return sorted(root.glob("*/metrics/*/*/results/aggregate/evaluation.json"))


def test_layout_and_aggregate_json_round_trip(copy, tmp_path):
    mean = _write(tmp_path / "mean.gin", MEAN_GIN)
    mig = _write(tmp_path / "mig.gin", STUDY_METRIC_CONFIGS["mig"])
    out = tmp_path / "output"
    argv = ["evaluate", str(copy), "--gin", mean, "--gin", mig, "--bind", "mig.num_train = 300"]
    assert main([*argv, "--dlib-output", str(out), "--device", "cpu"]) == 0

    files = _pattern_files(out)
    assert [f.relative_to(out).parts[0] for f in files] == [NOISE, ORIGINAL]
    for run_id, path in zip([NOISE, ORIGINAL], files, strict=True):
        results = path.parents[1]
        record = _record(copy / "runs" / run_id)
        # Each step's aggregate is its json/ directory namespaced by file stem, and the last
        # one holds the whole pipeline (train, postprocess, evaluation).
        stems = sorted(p.stem for p in (results / "json").glob("*.json"))
        assert stems == [
            "evaluation_config",
            "evaluation_results",
            "postprocess_config",
            "postprocess_results",
            "train_config",
            "train_results",
        ]
        expected = {}
        for json_file in (results / "json").glob("*.json"):
            for key, value in json.loads(json_file.read_text()).items():
                expected[f"{json_file.stem}.{key}"] = value
        aggregate = json.loads(path.read_text())
        assert aggregate == expected
        # The config dicts are the gin files read as disentanglement_lib reads them.
        for step in ("train", "postprocess", "evaluation"):
            text = (results / "gin" / f"{step}.gin").read_text()
            config = json.loads((results / "json" / f"{step}_config.json").read_text())
            lines = [line for line in text.split("\n") if not line.startswith("#")]
            assert config == dict(line.split(" = ", 1) for line in lines if " = " in line)
        assert (
            aggregate["evaluation_results.discrete_mig"] == record["metrics"]["mig"]["discrete_mig"]
        )
        assert aggregate["train_config.model.name"] == "'beta_vae'"
        assert aggregate["train_config.model.model"] == "@vae()"
        assert aggregate["train_config.vae.beta"] == "4.0"
        assert aggregate["train_config.encoder.num_latent"] == "3"
        assert aggregate["train_config.model.random_seed"] == "0"
        assert aggregate["train_config.model.training_steps"] == "12"
        assert aggregate["train_config.dataset.name"] == repr(record["dataset"]["name"])
        assert aggregate["train_results.global_step"] == 12
        assert aggregate["train_results.loss"] == record["training"]["final_losses"]["loss"]
        assert aggregate["postprocess_config.postprocess.postprocess_fn"] == "@mean_representation"
        assert aggregate["evaluation_config.mig.num_train"] == "300"
        assert len({aggregate[f"{s}_results.uuid"] for s in ("train", "evaluation")}) == 2

    # The aggregate over all models, in pandas' column orientation, as its reader loads it.
    rows = dlib_results.load_aggregated_json_results(out / "results.json")
    assert [row["path"] for row in rows] == [str(f) for f in files]
    assert [{k: v for k, v in row.items() if k != "path"} for row in rows] == [
        json.loads(f.read_text()) for f in files
    ]
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_json(out / "results.json", orient="columns")
    # (pandas parses floats to about 15 digits unless precise_float=True)
    assert list(frame["evaluation_results.discrete_mig"]) == pytest.approx(
        [_record(copy / "runs" / r)["metrics"]["mig"]["discrete_mig"] for r in (NOISE, ORIGINAL)],
        rel=1e-13,
    )
    assert set(frame["train_config.dataset.name"]) == {"'dsprites_small'", "'dsprites_small+noise'"}

    # Exporting the recorded scores (no metric) writes the same numbers.
    exported = tmp_path / "exported"
    assert main(["evaluate", str(copy), "--dlib-output", str(exported), "--device", "cpu"]) == 0
    again = dlib_results.load_aggregated_json_results(exported / "results.json")
    assert [row["evaluation_results.discrete_mig"] for row in again] == [
        row["evaluation_results.discrete_mig"] for row in rows
    ]


def test_representation_file_is_the_mean_on_nhwc_input(copy, tmp_path):
    mean = _write(tmp_path / "mean.gin", MEAN_GIN)
    mig = _write(tmp_path / "mig.gin", STUDY_METRIC_CONFIGS["mig"])
    out = tmp_path / "output"
    run_dir = copy / "runs" / ORIGINAL
    argv = ["evaluate", str(run_dir), "--gin", mean, "--gin", mig, "--bind", "mig.num_train = 300"]
    assert main([*argv, "--dlib-output", str(out), "--device", "cpu"]) == 0
    path = out / ORIGINAL / "postprocessed" / "mean" / "representation.pt"

    metadata = read_representation_metadata(path)
    assert metadata["input_layout"] == "NHWC" and metadata["representation"] == "mean"
    assert metadata["observation_shape"] == [64, 64, 1]
    assert metadata["dataset"]["fingerprint"] == _record(run_dir)["dataset"]["fingerprint"]

    registry = Registry()
    record = _record(run_dir)
    data = run_dataset(record, registry)
    model = run_model(record, run_dir, data, registry, "cpu").eval()
    rng = np.random.RandomState(3)
    images = data.sample_observations_from_factors(data.sample_factors(20, rng), rng)
    module = torch.jit.load(str(path))
    with torch.no_grad():
        codes = module(torch.from_numpy(images)).numpy()  # float32 NHWC in [0, 1]
        means = model.encode(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    assert images.dtype == np.float32 and codes.shape == (20, 3)
    np.testing.assert_allclose(codes, means, rtol=1e-5, atol=1e-6)

    # dataset.name = "auto": the file names its own dataset; the score is the run's.
    scored = tmp_path / "scored"
    assert main(["evaluate", str(path), "--gin", mig, "--bind", "mig.num_train = 300",
                 "--out", str(scored), "--device", "cpu"]) == 0  # fmt: skip
    (evaluation,) = json.loads((scored / "mig.json").read_text())["evaluations"]
    assert evaluation["scores"] == record["metrics"]["mig"]
    assert evaluation["source"]["input_layout"] == "NHWC"
    # dataset.name other than "auto" names the data instead.
    named = tmp_path / "named"
    assert main(["evaluate", str(path), "--gin", mig, "--bind", "mig.num_train = 300",
                 "--bind", "dataset.name = 'dsprites_small'", "--perturbation", "noise",
                 "--out", str(named), "--device", "cpu"]) == 0  # fmt: skip
    (evaluation,) = json.loads((named / "mig.json").read_text())["evaluations"]
    assert evaluation["dataset"]["name"] == "dsprites_small+noise"
    assert evaluation["scores"] != record["metrics"]["mig"]


def _readme_block(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"### {heading}", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return block


@pytest.mark.slow
def test_readme_from_disentanglement_lib_example_runs(experiment, tmp_path):
    """The README's example, run as written on a copy of the tiny run as bench_runs/quickstart."""
    shutil.copytree(experiment, tmp_path / "bench_runs" / "quickstart")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    script = _readme_block("From disentanglement_lib")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = dlib_results.load_aggregated_json_results(tmp_path / "output" / "results.json")
    assert len(rows) == 2
    assert {row["train_config.model.name"] for row in rows} == {"'beta_vae'"}
    assert "evaluation_results.discrete_mig" in done.stdout
