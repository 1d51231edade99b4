"""An experiment's runs on several CPU worker processes (``bench run --jobs N``).

Small models use a CPU core poorly from one process: two one-thread runs side by side finish
sooner than the same two runs one after the other on two threads. :func:`run_in_workers` gives
each of ``jobs`` spawned processes ``cores // jobs`` threads and one run at a time. A worker
parses ``OUT/config.gin`` (gin is global state, hence a process per worker), builds the
experiment and calls :func:`~disentangle_bench.pipeline.running.execute_run` for its run: exactly
what a sequential ``bench run`` does, so a run's record and numbers do not depend on ``jobs``
(each run seeds its own random states; on the CPUs tested, one thread and two gave the same bits:
``tests/test_parallel_runs.py``). A worker's output (training progress, metric lines) goes to
``OUT/runs/<run_id>/worker.log``; this process prints one line per finished run, and a line every
:data:`PROGRESS_SECONDS` while none finishes. The first failure stops the runs not yet started
and is raised once the running ones have finished, so nothing finished is lost: a rerun reuses
every finished run and resumes the others from their checkpoints.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import TextIO

import torch

from disentangle_bench.pipeline.experiment import RunSpec
from disentangle_bench.pipeline.record import RUN_RECORD_FILE, RunRecord, load_run_record
from disentangle_bench.util.errors import ConfigError

WORKER_LOG_FILE = "worker.log"
#: Seconds between two progress lines while no run finishes.
PROGRESS_SECONDS = 30.0


def available_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def choose_jobs(jobs: int | str | None, num_runs: int, device: torch.device) -> int:
    """Worker processes for ``num_runs`` runs: ``jobs`` itself, or for ``'auto'``/None one per
    core on CPU (at most one per run) and 1 on an accelerator."""
    if jobs in (None, "auto"):
        return min(num_runs, available_cores()) if device.type == "cpu" else 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer or 'auto', got {jobs!r}")
    if jobs > 1 and device.type != "cpu":
        raise ConfigError(
            f"--jobs {jobs} runs several CPU workers; on {device.type} runs share one device, "
            "use --jobs 1 (or bench sweep, one worker per GPU)"
        )
    return jobs


def _run_in_worker(config_path: str, run_id: str, run_dir: str, threads: int) -> str:
    """The body of one worker task: execute run ``run_id`` of the config; return its record's
    path."""
    from disentangle_bench.pipeline.config import parse_gin
    from disentangle_bench.pipeline.experiment import build_experiment
    from disentangle_bench.pipeline.running import execute_run
    from disentangle_bench.registry import Registry

    torch.set_num_threads(threads)
    directory = Path(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with (
        open(directory / WORKER_LOG_FILE, "a", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        registry = Registry()  # loads the plugins, whose configurables the config binds
        parse_gin([config_path])
        (run,) = [r for r in build_experiment().runs() if r.run_id == run_id]
        execute_run(run, registry, directory, torch.device("cpu"))
    return str(directory / RUN_RECORD_FILE)


def run_in_workers(
    runs: Sequence[RunSpec], out: Path, config_path: Path, jobs: int, stream: TextIO
) -> list[RunRecord]:
    """Execute ``runs`` (their directories under ``out/runs``) on ``jobs`` CPU worker processes;
    return their records in the order of ``runs`` (module docstring)."""
    threads = max(1, available_cores() // jobs)
    print(
        f"{len(runs)} runs on {jobs} worker processes ({threads} thread"
        f"{'s' if threads > 1 else ''} each); each run's output: "
        f"{out / 'runs' / '<run_id>' / WORKER_LOG_FILE}",
        file=stream,
        flush=True,
    )
    context = multiprocessing.get_context("spawn")  # no forked copy of torch's thread pools
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future, RunSpec] = {}
        for run in runs:
            run_dir = str(out / "runs" / run.run_id)
            task = pool.submit(_run_in_worker, str(config_path), run.run_id, run_dir, threads)
            futures[task] = run
        records: dict[str, RunRecord] = {}
        pending, started = set(futures), time.monotonic()
        while pending:
            done, pending = wait(pending, timeout=PROGRESS_SECONDS, return_when=FIRST_COMPLETED)
            if not done:
                print(
                    f"  {len(records)} of {len(runs)} runs finished "
                    f"({time.monotonic() - started:.0f} s)",
                    file=stream,
                    flush=True,
                )
            for future in done:
                run = futures[future]
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    log = out / "runs" / run.run_id / WORKER_LOG_FILE
                    print(f"run {run.run_id} failed; its output: {log}", file=sys.stderr)
                    raise error
                records[run.run_id] = record = load_run_record(Path(future.result()))
                print(
                    f"[{len(records)}/{len(runs)}] {run.run_id}: {_scores(record)}",
                    file=stream,
                    flush=True,
                )
    return [records[run.run_id] for run in runs]


def _scores(record: RunRecord) -> str:
    parts = [
        f"{metric} {next(iter(values.values())):.4f}"
        for metric, values in record["metrics"].items()
        if values
    ]
    return ", ".join(parts) or "finished"
