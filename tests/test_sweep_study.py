"""Study configs: grid expansion, stable run ids, dry runs of every shipped study, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from disentangle_bench.cli import main
from disentangle_bench.registry import Registry
from disentangle_bench.sweeping.sweep import load_study
from disentangle_bench.util.errors import ConfigError

ROOT = Path(__file__).parent.parent
TINY_STUDY = str(Path(__file__).parent / "configs" / "sweep_tiny.gin")
SHIPPED = sorted((ROOT / "gin_configs").glob("paper/*.gin")) + sorted(
    (ROOT / "gin_configs").glob("dlib/*.gin")
)


def expand(*bindings: str):
    return load_study([TINY_STUDY], bindings, Registry())[1]


def test_grid_is_the_cross_product_with_readable_ids():
    runs = expand(
        "study.models = {'beta_vae': {'beta': [1.0, 4.0], 'num_latent': [2, 3]}, 'ae': {}}",
        "study.seeds = 2",
    )
    # (4 beta_vae points + 1 ae) x 1 dataset x (original + noise) x 2 seeds
    assert len(runs) == 5 * 2 * 2
    assert len({r.run_id for r in runs}) == 20
    first = runs[0]
    assert first.run_id.startswith("dsprites_small-original-beta_vae-seed0-")
    assert len(first.run_id.rsplit("-", 1)[1]) == 10
    assert first.bindings["beta_vae.beta"] == "1.0" and first.bindings["beta_vae.num_latent"] == "2"
    # a model's bindings reach only its runs; a perturbation's only its twin
    ae = [r for r in runs if r.model == "ae"]
    assert all(not k.startswith("beta_vae.") for r in ae for k in r.bindings)
    assert all(("noise.eps" in r.bindings) == (r.condition == "noise") for r in runs)
    assert all(r.bindings["train.steps"] == "12" and r.steps == 12 for r in runs)


def test_ids_are_stable_when_grid_points_are_added_or_reordered():
    before = {r.run_id: r.config_text for r in expand()}
    after = {
        r.run_id: r.config_text
        for r in expand(
            "study.models = {'ae': {}, 'beta_vae': {'beta': [2.0, 4.0, 1.0]}}",
            "study.seeds = [1, 0]",
            "study.datasets = ['shapes3d_small', 'dsprites_small']",
            "study.perturbations = ['oblique', 'noise']",
        )
    }
    assert len(after) == 4 * 2 * 3 * 2
    assert set(before) < set(after)
    assert all(after[run_id] == text for run_id, text in before.items())


def test_a_changed_shared_binding_changes_the_ids():
    assert {r.run_id for r in expand()}.isdisjoint(
        {r.run_id for r in expand("mig.num_train = 301")}
    )


@pytest.mark.parametrize(
    "binding, message",
    [
        ("study.models = {'beta_vae': {'beta': []}}", "expands to zero runs"),
        ("study.models = {}", "expands to zero runs"),
        ("study.seeds = []", "expands to zero runs"),
        ("study.models = {'beta_vea': {}}", "did you mean 'beta_vae'"),
        ("study.models = {'beta_vae': {'betta': [1.0]}}", "bad binding 'beta_vae.betta'"),
        ("study.dataset_bindings = {'shapes3d': {'noise.eps': 0.1}}", "not in study.datasets"),
        ("study.seeds = [True]", "experiment.seeds must be an integer"),  # no gin context line
    ],
)
def test_bad_grids_are_one_clear_error(binding, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--gin", TINY_STUDY, "--bind", binding, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error: ") and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--executor", "slurm"], "unknown executor 'slurm'"),
        (["--executor", "ray", "--ray-address", "127.0.0.1:9"], "unreachable"),
        (["--jobs", "0"], "--jobs must be a positive integer"),
    ],
)
def test_bad_executor_options_fail_before_any_run(arguments, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--gin", TINY_STUDY, "--out", str(out), *arguments]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (out / "runs").exists()


def test_an_output_folder_of_another_study_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"study": "other", "runs": []}))
    assert main(["sweep", "--gin", TINY_STUDY, "--out", str(out)]) == 2
    assert "holds study 'other'" in capsys.readouterr().err
    # a run directory whose config differs from what this study writes for that id
    (out / "sweep.json").unlink()
    run = expand()[0]
    (out / "sweep.json").write_text(json.dumps({"study": "tiny_study", "runs": []}))
    (out / "runs" / run.run_id).mkdir(parents=True)
    (out / "runs" / run.run_id / "config.gin").write_text("beta_vae.beta = 9.0\n")
    assert main(["sweep", "--gin", TINY_STUDY, "--out", str(out)]) == 2
    assert "written by a different study config" in capsys.readouterr().err
    assert not (out / "runs" / run.run_id / "run.json").exists()


def test_dry_run_lists_runs_and_cost_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--gin", TINY_STUDY, "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("dsprites_small-original-beta_vae-seed0-")
    # 4 runs x 12 steps at 7.5 steps/s (batch 64) scaled by 64 / 16: 48 / 30 = 1.6 s
    assert "4 runs, 48 training steps; about 2s of training" in lines[-1]
    assert not out.exists()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_study_expands_in_a_dry_run(path, capsys):
    assert main(["sweep", "--gin", str(path), "--dry-run", "--steps-per-second", "20"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = out[-1]
    assert summary.startswith("study ")
    assert len(out) - 1 == int(summary.split(": ", 1)[1].split(" runs")[0])


def test_shipped_study_sizes():
    def count(name: str) -> int:
        return len(load_study([ROOT / "gin_configs" / name], [], Registry())[1])

    # 7 models x 2 datasets x (original, oblique, noise) x 10 seeds
    assert count("paper/study.gin") == 420
    # 6 models x 6 values x 50 seeds x 5 datasets (smallnorb, cars3d: no plugin yet)
    assert count("dlib/unsupervised_study_v1.gin") == 9_000


def test_paper_hyperparameters_reach_their_runs():
    runs = load_study([ROOT / "gin_configs" / "paper" / "study.gin"], [], Registry())[1]

    def binding(model: str, dataset: str, key: str, condition: str = "original") -> str:
        (value,) = {
            r.bindings.get(key)
            for r in runs
            if r.model == model and r.dataset == dataset and r.condition == condition
        }
        return value

    assert binding("beta_vae", "dsprites", "beta_vae.beta") == "8.0"
    assert binding("beta_vae", "shapes3d", "beta_vae.beta") == "32.0"
    assert binding("beta_tc_vae", "shapes3d", "beta_tc_vae.beta") == "32.0"
    assert binding("factor_vae", "dsprites", "factor_vae.gamma") == "35.0"
    assert binding("factor_vae", "shapes3d", "factor_vae.num_latent") == "6"
    assert binding("pcl", "shapes3d", "oblique.eps", "oblique") == "0.175"
    assert binding("ae", "dsprites", "noise.eps", "noise") == "0.1"
    assert {r.steps for r in runs} == {300_000}


def test_bad_key_in_grid_is_config_error():
    with pytest.raises(ConfigError):
        expand("study.models = {'beta_vae': {'nope.x': [1]}}")
