"""The Ray executor on a local CPU cluster, with the Ray worker of one run killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from disentangle_bench.cli import main
from disentangle_bench.sweeping.executors import RAY_TASK_PID_FILE

pytest.importorskip("ray", reason="the ray executor needs the `ray` extra: pip install '.[ray]'")

TINY_STUDY = str(Path(__file__).parent / "configs" / "sweep_tiny.gin")


@pytest.mark.slow
def test_ray_executor_retries_a_killed_worker_and_loses_nothing(tmp_path, capsys):
    out = tmp_path / "study"
    killed: list[str] = []

    def kill_first_task() -> None:
        # kill the Ray worker process running the first task to start, as soon as its
        # training has written a checkpoint (the worker's own child dies with it)
        deadline = time.monotonic() + 600  # a loaded machine starts Ray slowly
        while time.monotonic() < deadline and not killed:
            for pid_file in (out / "runs").glob(f"*/{RAY_TASK_PID_FILE}"):
                run_dir = pid_file.parent
                if not (run_dir / "checkpoint.pt").exists():
                    continue
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(run_dir.name)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_first_task, daemon=True)
    killer.start()
    argv = ["sweep", "--gin", TINY_STUDY, "--bind", "study.perturbations = []", "--out", str(out)]
    argv += ["--executor", "ray", "--jobs", "2", "--device", "cpu", "--retries", "2"]
    assert main(argv) == 0
    killer.join(1)
    printed = capsys.readouterr().out
    assert "ray: 2 concurrent tasks on CPUs" in printed
    assert len(killed) == 1, "the killer never saw a running task"

    run_dirs = sorted((out / "runs").iterdir())
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        tries = [json.loads(x) for x in (run_dir / "attempts.jsonl").read_text().splitlines()]
        record = json.loads((run_dir / "run.json").read_text())
        assert record["training"]["steps_completed"] == 12
        if run_dir.name == killed[0]:
            assert [t["status"] for t in tries] == ["failed", "finished"]
            assert "ray task lost" in tries[0]["detail"]
        else:
            assert [t["status"] for t in tries] == ["finished"]
    # one row per run in the table, no run lost or counted twice
    aggregate = json.loads((out / "aggregate.json").read_text())
    assert sorted(e["study.run_id"] for e in aggregate) == [d.name for d in run_dirs]
