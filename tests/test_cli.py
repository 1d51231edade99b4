"""The ``bench`` command line: plugin listing, runs, resume, and every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from disentangle_bench.cli import main

TINY = str(Path(__file__).parent / "configs" / "tiny.gin")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_plugins_list_shows_every_kind_with_its_origin(capsys):
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["KIND", "NAME", "PLUGIN", "MODULE", "DISTRIBUTION"]
    for kind, name in [
        ("datasets", "dsprites_small"),
        ("perturbations", "noise"),
        ("models", "beta_vae"),
        ("metrics", "mig"),
    ]:
        assert any(
            line.split()[:2] == [kind, name] and line.split()[2].startswith("disentangle_bench.")
            for line in out.splitlines()
        )


def test_plugins_list_json(capsys):
    assert main(["plugins", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    mig = next(e for e in entries if e["name"] == "mig")
    assert mig["kind"] == "metrics" and mig["plugin"] == "disentangle_bench.metrics.plugin"
    assert mig["module"] == "disentangle_bench.metrics.mig"
    assert mig["distribution"].startswith("disentangle-bench ")


def test_run_writes_records_checkpoints_and_the_table(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--gin", TINY, "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "| dsprites_small | beta_vae | mig.discrete_mig |" in printed

    run_dirs = sorted(p.name for p in (out / "runs").iterdir())
    assert run_dirs == [
        "dsprites_small-noise-beta_vae-seed0",
        "dsprites_small-original-beta_vae-seed0",
    ]
    record = json.loads((out / "runs" / run_dirs[0] / "run.json").read_text())
    assert record["status"] == "complete" and record["seed"] == 0
    assert record["dataset"]["name"] == "dsprites_small+noise"
    assert record["dataset"]["perturbation"]["parameters"] == {"eps": 0.1, "seed": 0}
    assert len(record["dataset"]["fingerprint"]) == 64
    assert record["model"]["name"] == "beta_vae"
    assert record["model"]["hyperparameters"] == {
        "beta": 4.0,
        "num_latent": 3,
        "architecture": "conv",
        "reconstruction": "bernoulli",
    }
    assert record["training"]["steps_completed"] == 12
    assert 0.0 <= record["metrics"]["mig"]["discrete_mig"] <= 1.0
    assert record["metric_parameters"]["mig"] == {"num_train": 300, "batch_size": 16}
    assert set(record["versions"]) >= {"torch", "numpy", "scikit-learn", "disentangle_bench"}
    assert record["device"] == "cpu"
    assert record["wall_seconds"]["train"] > 0
    assert "beta_vae.beta = 4.0" in record["config"]["operative_gin"]
    assert (out / "runs" / run_dirs[0] / "checkpoint.pt").exists()
    assert "noise.eps = 0.1" in (out / "runs" / run_dirs[0] / "operative_config.gin").read_text()
    original = json.loads((out / "runs" / run_dirs[1] / "run.json").read_text())
    assert original["dataset"]["fingerprint"] != record["dataset"]["fingerprint"]
    table = json.loads((out / "results.json").read_text())
    assert table["conditions"] == ["original", "noise"]
    assert table["rows"][0]["noise"]["values"] == [record["metrics"]["mig"]["discrete_mig"]]
    assert "mig.discrete_mig" in (out / "results.md").read_text()

    # A second invocation reuses the finished runs instead of training again.
    before = snapshot(out / "runs")
    assert main(["run", "--gin", TINY, "--out", str(out), "--device", "cpu"]) == 0
    assert snapshot(out / "runs") == before


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench: error: ")
    return err[0]


def test_unknown_plugin_name_suggests_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["run", "--gin", TINY, "--bind", "experiment.model = 'beta_vea'", "--out", str(out)]
    )
    assert code == 2
    assert "did you mean 'beta_vae'" in error_line(capsys)
    assert not out.exists()


def test_malformed_gin_file_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.gin"
    bad.write_text(
        "experiment.model = 'beta_vae'\nexperiment.datasets = ['dsprites_small'\ntrain.steps = 3\n"
    )
    assert main(["run", "--gin", str(bad), "--out", str(tmp_path / "out")]) == 2
    line = error_line(capsys)
    assert str(bad) in line and "line 3" in line


def test_unknown_binding_is_reported(tmp_path, capsys):
    assert (
        main(["run", "--gin", TINY, "--bind", "train.stepz = 3", "--out", str(tmp_path / "out")])
        == 2
    )
    assert "doesn't have a parameter named 'stepz'" in error_line(capsys)


def test_missing_gin_file(tmp_path, capsys):
    assert main(["run", "--gin", str(tmp_path / "nope.gin")]) == 2
    assert "gin file not found" in error_line(capsys)


def test_out_of_range_hyperparameter_fails_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--gin", TINY, "--bind", "beta_vae.beta = -2.0", "--out", str(out)]) == 2
    assert "beta must be non-negative" in error_line(capsys)
    assert not out.exists()


def test_output_of_a_different_config_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--gin", TINY, "--out", str(out)]) == 0
    before = snapshot(out)
    capsys.readouterr()
    code = main(["run", "--gin", TINY, "--bind", "beta_vae.beta = 2.0", "--out", str(out)])
    assert code == 2
    assert "holds runs of a different config" in error_line(capsys)
    assert snapshot(out) == before
    assert (
        main(
            [
                "run",
                "--gin",
                TINY,
                "--bind",
                "beta_vae.beta = 2.0",
                "--out",
                str(out),
                "--overwrite",
            ]
        )
        == 0
    )
    record = json.loads(
        (out / "runs" / "dsprites_small-original-beta_vae-seed0" / "run.json").read_text()
    )
    assert record["model"]["hyperparameters"]["beta"] == 2.0


def test_foreign_directory_is_not_used(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["run", "--gin", TINY, "--out", str(tmp_path)]) == 2
    assert "not a bench run directory" in error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_cuda_requested_without_cuda(tmp_path, capsys):
    assert main(["run", "--gin", TINY, "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    assert "CUDA is not available" in error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_console_script_resumes_an_interrupted_run(tmp_path):
    """Interrupt ``bench run`` with SIGINT after its first checkpoint, rerun, compare."""
    bindings = [
        "--bind",
        "train.steps = 60",
        "--bind",
        "train.checkpoint_every = 10",
        "--bind",
        "experiment.perturbations = []",
    ]
    command = [
        sys.executable,
        "-m",
        "disentangle_bench.cli",
        "run",
        "--gin",
        TINY,
        "--device",
        "cpu",
        *bindings,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    interrupted = tmp_path / "interrupted"
    run_dir = interrupted / "runs" / "dsprites_small-original-beta_vae-seed0"
    process = subprocess.Popen(
        [*command, "--out", str(interrupted)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before it could be interrupted")
    assert process.returncode == 130, err
    assert "rerun the same command to resume" in err
    assert not (run_dir / "run.json").exists()

    resumed = subprocess.run(
        [*command, "--out", str(interrupted)], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert 10 <= record["training"]["resumed_from_step"] < 60

    straight = tmp_path / "straight"
    subprocess.run(
        [*command, "--out", str(straight)], env=env, check=True, capture_output=True, timeout=300
    )
    reference = json.loads((straight / "runs" / run_dir.name / "run.json").read_text())
    assert record["training"]["final_losses"] == reference["training"]["final_losses"]
    assert record["metrics"] == reference["metrics"]
