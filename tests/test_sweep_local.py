"""The local executor: two CPU workers, a worker killed mid-run, resume, the aggregate table."""

from __future__ import annotations

import csv
import json
import threading
import time
from pathlib import Path

import pytest
import torch

from disentangle_bench.cli import main
from disentangle_bench.pipeline.record import RUN_RECORD_FILE
from disentangle_bench.pipeline.training import CHECKPOINT_FILE
from disentangle_bench.sweeping import executors

TINY_STUDY = str(Path(__file__).parent / "configs" / "sweep_tiny.gin")
TWO_RUNS = "study.perturbations = []"  # beta 1 and 4 on the original data


def records(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted((out / "runs").glob("*/run.json"))}


def attempts(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]


class WorkerKiller:
    """Kills (SIGKILL, from this process) the worker of every listed attempt as soon as its
    training has written a checkpoint: a worker lost mid-run. ``killed`` maps each run killed
    to the step of the checkpoint it left."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, attempts: tuple[int, ...] = (1,)):
        self.attempts = attempts
        self.killed: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        start = executors.start_worker

        def start_and_watch(run_dir, device, attempt, env):
            process = start(run_dir, device, attempt, env)
            if attempt in self.attempts:
                thread = threading.Thread(target=self._kill, args=(run_dir, process), daemon=True)
                thread.start()
                self._threads.append(thread)
            return process

        monkeypatch.setattr(executors, "start_worker", start_and_watch)

    def _kill(self, run_dir: Path, process) -> None:
        checkpoint = run_dir / CHECKPOINT_FILE
        deadline = time.monotonic() + 600  # a loaded machine starts workers slowly
        while time.monotonic() < deadline and process.poll() is None:
            if checkpoint.exists():
                process.kill()
                process.wait()
                step = torch.load(checkpoint, weights_only=True)["step"]
                self.killed[run_dir.name] = step
                return
            time.sleep(0.005)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(5)


def test_two_workers_retry_a_killed_run_resume_and_aggregate(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    killer = WorkerKiller(monkeypatch)  # the first attempt of each run dies mid-training
    argv = ["sweep", "--gin", TINY_STUDY, "--bind", TWO_RUNS, "--out", str(out), "--jobs", "2"]
    argv += ["--device", "cpu", "--retries", "1"]
    assert main(argv) == 0
    killer.join()
    printed = capsys.readouterr().out
    assert "local: 2 CPU workers" in printed
    assert printed.count("failed (signal 9); retrying") == 2
    assert "done 2, failed 0, running 0, queued 0" in printed

    run_dirs = sorted((out / "runs").iterdir())
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        tries = attempts(run_dir)
        assert [t["status"] for t in tries] == ["failed", "finished"]
        assert tries[0]["detail"] == "signal 9"
        record = json.loads((run_dir / RUN_RECORD_FILE).read_text())
        # the second attempt resumed from the checkpoint the killed one wrote
        assert killer.killed[run_dir.name] in (5, 10, 12)  # checkpoint_every = 5, 12 steps
        assert record["training"]["resumed_from_step"] == killer.killed[run_dir.name]
        assert record["training"]["steps_completed"] == 12
        assert "train.steps = 12" in (run_dir / "config.gin").read_text()
    betas = {
        json.loads((d / RUN_RECORD_FILE).read_text())["model"]["hyperparameters"]["beta"]
        for d in run_dirs
    }
    assert betas == {1.0, 4.0}

    # one row per run and score key, matching each run record
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["run_id"], r["metric"], r["key"]) for r in rows] == [
        (d.name, "mig", "discrete_mig") for d in run_dirs
    ]
    for row in rows:
        record = json.loads((out / "runs" / row["run_id"] / RUN_RECORD_FILE).read_text())
        assert float(row["value"]) == record["metrics"]["mig"]["discrete_mig"]
        assert (
            json.loads(row["hyperparameters"])["beta"] == record["model"]["hyperparameters"]["beta"]
        )
    aggregate = json.loads((out / "aggregate.json").read_text())
    assert len(aggregate) == 2
    for entry in aggregate:
        record = json.loads((out / "runs" / entry["study.run_id"] / RUN_RECORD_FILE).read_text())
        assert entry["evaluation_results.discrete_mig"] == record["metrics"]["mig"]["discrete_mig"]
        assert entry["train_config.beta_vae.beta"] == record["model"]["hyperparameters"]["beta"]
        assert entry["train_config.model.random_seed"] == 0
        assert entry["evaluation_config.mig.num_train"] == 300
    import pandas as pd

    frame = pd.read_parquet(out / "results.parquet")
    assert list(frame["run_id"]) == [r["run_id"] for r in rows]
    assert json.loads((out / "status.json").read_text()) == {d.name: "finished" for d in run_dirs}

    # a rerun (nothing killed) trains nothing and rewrites no record
    killer.attempts = ()
    before = records(out)
    assert main(argv) == 0
    assert "2 finished earlier, 0 to run" in capsys.readouterr().out
    assert records(out) == before


def test_a_run_that_fails_every_attempt_fails_alone(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    runs_dir = out / "runs"
    killer = WorkerKiller(monkeypatch)
    argv = [
        "sweep",
        "--gin",
        TINY_STUDY,
        "--bind",
        TWO_RUNS,
        "--bind",
        "study.models = {'beta_vae': {'beta': [1.0]}}",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--retries",
        "0",
    ]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "1 of 1 runs failed every attempt" in err[0]
    (run_dir,) = runs_dir.iterdir()
    assert not (run_dir / RUN_RECORD_FILE).exists()
    assert json.loads((out / "status.json").read_text()) == {run_dir.name: "failed"}
    killer.join()
    assert list(killer.killed) == [run_dir.name]
    # the rerun retries it (attempt numbers restart per invocation) and it finishes
    killer.attempts = ()
    assert main(argv) == 0
    assert [t["status"] for t in attempts(run_dir)] == ["failed", "finished"]
