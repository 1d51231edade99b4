"""``bench run --jobs N``: an experiment's runs on CPU worker processes, the same records as one
after another."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from disentangle_bench.cli.main import main
from disentangle_bench.pipeline import parallel
from disentangle_bench.pipeline.parallel import WORKER_LOG_FILE, choose_jobs
from disentangle_bench.pipeline.running import run_experiment
from disentangle_bench.util.errors import ConfigError

TINY = str(Path(__file__).parent / "configs" / "tiny.gin")
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_is_one_worker_per_core_and_run_on_cpu_and_one_on_an_accelerator(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    assert choose_jobs("auto", 6, CPU) == 2
    assert choose_jobs("auto", 1, CPU) == 1
    assert choose_jobs(None, 6, CPU) == 2
    assert choose_jobs("auto", 6, CUDA) == 1
    assert choose_jobs(3, 6, CPU) == 3 and choose_jobs(1, 6, CUDA) == 1


@pytest.mark.parametrize("jobs", [0, -1, True, "two", 1.5])
def test_a_bad_jobs_value_is_refused(jobs):
    with pytest.raises(ConfigError, match="--jobs must be a positive integer or 'auto'"):
        choose_jobs(jobs, 4, CPU)


def test_several_workers_are_refused_on_an_accelerator():
    with pytest.raises(ConfigError, match="use --jobs 1"):
        choose_jobs(2, 4, CUDA)


def test_the_config_can_ask_for_workers_and_is_checked(tmp_path):
    out = tmp_path / "out"
    code = main(["run", "--gin", TINY, "--bind", "experiment.jobs = 0", "--out", str(out)])
    assert code == 2 and not out.exists()  # refused before anything is written


def records(out: Path) -> dict[str, dict]:
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted((out / "runs").glob("*/run.json"))
    }


def test_workers_give_the_records_of_a_sequential_run(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "PROGRESS_SECONDS", 0.2)
    stream = io.StringIO()
    parallel_out, sequential_out = tmp_path / "parallel", tmp_path / "sequential"
    outcome = run_experiment([TINY], out_dir=parallel_out, device="cpu", jobs=2, stream=stream)
    run_experiment([TINY], out_dir=sequential_out, device="cpu", jobs=1, stream=io.StringIO())
    text = stream.getvalue()
    assert "2 runs on 2 worker processes" in text and "[2/2] " in text
    assert "  0 of 2 runs finished (" in text  # progress while the workers start and train
    assert text.index("[1/2] ") < text.index("[2/2] ")
    got, expected = records(parallel_out), records(sequential_out)
    assert sorted(got) == sorted(expected) == sorted(r["run_id"] for r in outcome.records)
    for run_id, record in got.items():
        assert record["metrics"] == expected[run_id]["metrics"]
        assert record["training"]["final_losses"] == expected[run_id]["training"]["final_losses"]
        log = (parallel_out / "runs" / run_id / WORKER_LOG_FILE).read_text()
        assert "mig:" in log  # the worker's own output went to its log
    assert (parallel_out / "results.md").read_text() == (sequential_out / "results.md").read_text()


def test_a_failed_worker_run_is_reported_and_the_finished_ones_are_kept(tmp_path, capsys):
    out = tmp_path / "out"
    # the noise twin's eps is checked only when the twin is built, inside its worker
    assert main(["run", "--gin", TINY, "--out", str(out), "--jobs", "1"]) == 0
    noise_run = next((out / "runs").glob("*-noise-*"))
    (noise_run / "run.json").unlink()
    (noise_run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    code = main(["run", "--gin", TINY, "--out", str(out), "--jobs", "2"])
    captured = capsys.readouterr()
    assert code == 2
    assert f"run {noise_run.name} failed; its output: " in captured.err
    assert "not a checkpoint" in captured.err
    original_run = next((out / "runs").glob("*-original-*"))
    assert (original_run / "run.json").exists()  # finished earlier, reused, kept
