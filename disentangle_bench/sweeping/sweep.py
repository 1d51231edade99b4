"""``bench sweep``: expand a study, run every run once (skip finished, retry failed), aggregate.

Output layout (``OUT`` is ``--out``, by default ``bench_runs/<study.name>``)::

    OUT/sweep.json                   the study's name and its grid (a different study is refused)
    OUT/study.gin                    the parsed study config of the latest invocation
    OUT/runs/<run_id>/config.gin     the run's own gin config (what the worker parses)
    OUT/runs/<run_id>/run.json ...   exactly what ``bench run`` writes for that run
    OUT/runs/<run_id>/worker.log     the worker's output, every attempt
    OUT/runs/<run_id>/attempts.jsonl one line per attempt: executor, status, seconds
    OUT/status.json                  every run of the grid: finished / failed / pending
    OUT/results.csv, results.parquet, aggregate.json, results.md
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from disentangle_bench.pipeline.config import parse_gin
from disentangle_bench.pipeline.record import RUN_RECORD_FILE, load_run_record
from disentangle_bench.registry import Registry
from disentangle_bench.sweeping.aggregate import write_tables
from disentangle_bench.sweeping.executors import EXECUTORS, make_executor
from disentangle_bench.sweeping.study import Study, SweepRun, expand, study
from disentangle_bench.sweeping.worker import RUN_CONFIG_FILE
from disentangle_bench.util.errors import BenchError, ConfigError, RunDirectoryError
from disentangle_bench.util.files import atomic_write_json, atomic_write_text
from disentangle_bench.util.progress import Progress, format_duration

MARKER_FILE = "sweep.json"
MARKER_FORMAT = 1

#: Measured training speed, steps/s at batch 64 on the 2-core CPU of
#: benchmarks/results/train_check-20261130-031854-cpu.md (dsprites_small, torch threads 1).
#: The cost estimate scales them by 64 / batch size; other devices: pass --steps-per-second.
CPU_STEPS_PER_SECOND = {
    "beta_vae": 7.5,
    "annealed_vae": 7.4,
    "factor_vae": 5.3,
    "beta_tc_vae": 9.3,
    "dip_vae_i": 7.4,
    "dip_vae_ii": 7.8,
    "ae": 7.9,
    "slow_vae": 3.8,
    "ada_gvae": 2.5,
    "pcl": 6.8,
}


class SweepFailedError(BenchError):
    """Some runs of a study failed every attempt (the others are finished and aggregated)."""


@dataclass
class SweepOutcome:
    study: Study
    out_dir: Path
    runs: list[SweepRun]
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)


def load_study(
    gin_files: Sequence[str | Path], bindings: Sequence[str], registry: Registry
) -> tuple[Study, list[SweepRun], str]:
    import gin

    import disentangle_bench.pipeline.experiment  # noqa: F401 - registers the configurables a study binds
    import disentangle_bench.pipeline.training  # noqa: F401

    for path in gin_files:  # a study's `include 'x.gin'` is resolved next to the study file
        gin.add_config_file_search_path(str(Path(path).resolve().parent))
    config_text = parse_gin(gin_files, bindings)
    try:
        spec = study()
    except BenchError as error:  # drop gin's "In call to configurable" line
        raise ConfigError(str(error).splitlines()[0]) from None
    except (ValueError, TypeError) as error:
        raise ConfigError(f"study: {str(error).splitlines()[0]}") from None
    return spec, expand(spec, registry), config_text


def estimate_seconds(runs: Sequence[SweepRun], steps_per_second: float | None) -> float | None:
    """Training time of all runs on one device (evaluation not included)."""
    total = 0.0
    for run in runs:
        rate = steps_per_second
        if rate is None:
            rate = CPU_STEPS_PER_SECOND.get(run.model)
            if rate is None:
                return None
            batch = int(run.bindings.get("train.batch_size", "64"))
            rate *= 64 / batch
        total += run.steps / rate
    return total


def describe_cost(
    runs: Sequence[SweepRun], steps_per_second: float | None, workers: int = 1
) -> str:
    steps = sum(run.steps for run in runs)
    text = f"{len(runs)} runs, {steps:,} training steps"
    seconds = estimate_seconds(runs, steps_per_second)
    basis = (
        f"{steps_per_second:g} steps/s per device"
        if steps_per_second
        else "the measured 2-core CPU speed (benchmarks/results/train_check-*-cpu.md)"
    )
    if seconds is None:
        return text + "; time unknown (pass --steps-per-second)"
    return (
        f"{text}; about {format_duration(seconds)} of training at {basis}, "
        f"{format_duration(seconds / max(1, workers))} on {workers} parallel workers"
    )


def run_sweep(
    gin_files: Sequence[str | Path],
    bindings: Sequence[str] = (),
    *,
    out_dir: str | Path | None = None,
    executor: str = "local",
    jobs: int | None = None,
    retries: int = 1,
    dry_run: bool = False,
    ray_address: str | None = None,
    device: str = "auto",
    steps_per_second: float | None = None,
    registry: Registry | None = None,
    stream: TextIO | None = None,
    poll_seconds: float = 5.0,
) -> SweepOutcome:
    """Run a study; every bad input fails before any run starts."""
    stream = stream if stream is not None else sys.stdout
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer, got {jobs}")
    if retries < 0:
        raise ConfigError(f"--retries must be zero or more, got {retries}")
    registry = registry if registry is not None else Registry()
    spec, runs, config_text = load_study(gin_files, bindings, registry)
    out = Path(out_dir) if out_dir is not None else Path("bench_runs") / spec.name
    outcome = SweepOutcome(spec, out, runs)

    if dry_run:
        for run in runs:
            print(f"{run.run_id}  steps={run.steps}  {_format_point(run)}", file=stream)
        print(f"study {spec.name}: {describe_cost(runs, steps_per_second, jobs or 1)}", file=stream)
        return outcome

    _check_output_dir(out, spec, runs)
    _preflight(runs, registry)
    pending = [run for run in runs if not (out / "runs" / run.run_id / RUN_RECORD_FILE).exists()]
    outcome.skipped = [run.run_id for run in runs if run not in pending]
    engine = make_executor(executor, jobs=jobs, device=device, ray_address=ray_address)
    try:
        _claim(out, spec, runs, config_text)
        print(
            f"study {spec.name}: {len(runs)} runs, {len(outcome.skipped)} finished earlier, "
            f"{len(pending)} to run ({engine.describe()}); "
            f"{describe_cost(pending, steps_per_second, engine.capacity)}",
            file=stream,
            flush=True,
        )
        _schedule(pending, out, engine, retries, outcome, stream, poll_seconds)
    finally:
        engine.close()
    _finish(out, spec, runs, outcome, stream)
    return outcome


def _format_point(run: SweepRun) -> str:
    return " ".join(f"{k}={v!r}" for k, v in sorted(run.hyperparameters.items()))


def _check_output_dir(out: Path, spec: Study, runs: list[SweepRun]) -> None:
    marker = out / MARKER_FILE
    if marker.exists():
        try:
            name = json.loads(marker.read_text(encoding="utf-8"))["study"]
        except (OSError, ValueError, KeyError) as error:
            raise RunDirectoryError(
                f"{marker} is unreadable ({error}); choose another --out"
            ) from None
        if name != spec.name:
            raise RunDirectoryError(
                f"{out} holds study {name!r}, not {spec.name!r}; choose another --out"
            )
    elif out.exists() and any(out.iterdir()):
        raise RunDirectoryError(f"{out} exists and is not a study directory; choose another --out")
    for run in runs:
        path = out / "runs" / run.run_id / RUN_CONFIG_FILE
        if path.exists() and path.read_text(encoding="utf-8") != run.config_text:
            raise RunDirectoryError(
                f"{path} was written by a different study config; choose another --out"
            )


def _preflight(runs: list[SweepRun], registry: Registry) -> None:
    """Parse and build each distinct configuration once (seeds aside) before any run starts."""
    from disentangle_bench.pipeline.experiment import build_experiment
    from disentangle_bench.pipeline.running import preflight as preflight_experiment

    seen = set()
    try:
        for run in runs:
            if run.group in seen:
                continue
            seen.add(run.group)
            parse_gin([], [run.config_text])
            spec = build_experiment()
            spec.validate(registry)
            try:
                preflight_experiment(spec, registry)
            except BenchError as error:
                raise type(error)(f"run {run.run_id}: {error}") from error
    finally:
        import gin

        gin.clear_config()


def _claim(out: Path, spec: Study, runs: list[SweepRun], config_text: str) -> None:
    atomic_write_json(
        out / MARKER_FILE,
        {"format_version": MARKER_FORMAT, "study": spec.name, "runs": [r.run_id for r in runs]},
    )
    atomic_write_text(out / "study.gin", config_text)
    for run in runs:
        path = out / "runs" / run.run_id / RUN_CONFIG_FILE
        if not path.exists():
            atomic_write_text(path, run.config_text)


def _schedule(
    pending: list[SweepRun],
    out: Path,
    engine: Any,
    retries: int,
    outcome: SweepOutcome,
    stream: TextIO,
    poll_seconds: float,
) -> None:
    queue = deque(pending)
    running: dict[Any, tuple[SweepRun, int, float]] = {}
    total = len(outcome.runs)
    progress = Progress(
        total, "sweep", unit="runs", start=len(outcome.skipped), interval=60.0, stream=stream
    )

    def report(force: bool) -> None:
        finished = len(outcome.skipped) + len(outcome.finished)
        progress.update(
            finished + len(outcome.failed),
            f"done {finished}, failed {len(outcome.failed)}, running {len(running)}, "
            f"queued {len(queue)}",
            force=force,
        )

    while queue or running:
        while queue and len(running) < engine.capacity:
            run = queue.popleft()
            attempt = outcome.attempts.get(run.run_id, 0) + 1
            outcome.attempts[run.run_id] = attempt
            handle = engine.start(out / "runs" / run.run_id, attempt)
            running[handle] = (run, attempt, time.monotonic())
        for finished in engine.wait(poll_seconds):
            run, attempt, started = running.pop(finished.handle)
            run_dir = out / "runs" / run.run_id
            ok = finished.exit_code == 0 and (run_dir / RUN_RECORD_FILE).exists()
            _log_attempt(run_dir, engine.name, attempt, ok, finished.detail, started)
            if ok:
                outcome.finished.append(run.run_id)
                print(f"  finished {run.run_id}", file=stream, flush=True)
            elif attempt <= retries:
                queue.append(run)
                print(
                    f"  attempt {attempt} of {run.run_id} failed ({finished.detail}); retrying",
                    file=stream,
                    flush=True,
                )
            else:
                outcome.failed.append(run.run_id)
                print(
                    f"  FAILED {run.run_id} after {attempt} attempts ({finished.detail}); "
                    f"see {run_dir / 'worker.log'}",
                    file=stream,
                    flush=True,
                )
            report(force=True)
        report(force=False)


def _log_attempt(
    run_dir: Path, executor: str, attempt: int, ok: bool, detail: str, started: float
) -> None:
    line = {
        "attempt": attempt,
        "executor": executor,
        "status": "finished" if ok else "failed",
        "detail": detail,
        "seconds": round(time.monotonic() - started, 3),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with open(run_dir / "attempts.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def _finish(
    out: Path, spec: Study, runs: list[SweepRun], outcome: SweepOutcome, stream: TextIO
) -> None:
    from disentangle_bench.pipeline.summary import ResultsTable

    records: dict[str, dict[str, Any]] = {}
    status = {}
    for run in runs:
        path = out / "runs" / run.run_id / RUN_RECORD_FILE
        if path.exists():
            records[run.run_id] = load_run_record(path)
            status[run.run_id] = "finished"
        else:
            status[run.run_id] = "failed" if run.run_id in outcome.failed else "pending"
    atomic_write_json(out / "status.json", status)
    written = write_tables(out, spec.name, records)
    if records:
        table = ResultsTable.from_records(list(records.values()))
        markdown = table.to_markdown(title=spec.name)
        atomic_write_text(out / "results.md", markdown)
        print("\n" + markdown, file=stream)
    print(
        f"study {spec.name}: {len(records)} of {len(runs)} runs finished, "
        f"{len(outcome.failed)} failed; tables: {', '.join(str(p) for p in written)}",
        file=stream,
        flush=True,
    )
    if outcome.failed:
        raise SweepFailedError(
            f"{len(outcome.failed)} of {len(runs)} runs failed every attempt "
            f"(first: {outcome.failed[0]}); see their worker.log, rerun to retry them"
        )
