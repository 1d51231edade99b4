"""``bench run``: parse the config, train and evaluate every run, write results, resume.

Output layout (``OUT`` is ``--out``, by default ``bench_runs/<experiment.name>``)::

    OUT/.bench.lock                 held by the one bench run writing OUT (its pid and host)
    OUT/config.gin                  the parsed config; a rerun with another config is refused
    OUT/runs/<run_id>/run.json      the record of a finished run (skipped on a rerun)
    OUT/runs/<run_id>/checkpoint.pt the latest checkpoint (an interrupted run resumes from it)
    OUT/runs/<run_id>/losses.jsonl  every loss term every ``train.log_every`` steps
    OUT/runs/<run_id>/reconstructions.png, traversals.png
    OUT/runs/<run_id>/operative_config.gin
    OUT/results.md, OUT/results.json  the robustness table over all runs

The record's schema and its builder are :mod:`disentangle_bench.pipeline.record`. ``bench run``
also builds ``OUT/leaderboard/`` from the runs (when there are perturbed twins), through the
``after_results`` hook, while it still holds ``OUT``.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import gin
import numpy as np
import torch

from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.pipeline.config import effective_parameters, parse_gin
from disentangle_bench.pipeline.experiment import Experiment, RunSpec, experiment
from disentangle_bench.pipeline.record import (
    RUN_RECORD_FILE,
    ModelRecord,
    RunRecord,
    RunRecordError,
    TrainingRecord,
    WallSeconds,
    build_dataset,
    build_run_record,
    load_run_record,
)
from disentangle_bench.pipeline.representation import model_representation
from disentangle_bench.pipeline.summary import ResultsTable
from disentangle_bench.pipeline.training import TrainingConfig, save_figures, train
from disentangle_bench.registry import Registry
from disentangle_bench.registry.contract import KINDS
from disentangle_bench.util.device import describe_device, resolve_device
from disentangle_bench.util.errors import ConfigError, PluginError, RunDirectoryError
from disentangle_bench.util.files import atomic_write_json, atomic_write_text
from disentangle_bench.util.gin_errors import first_line
from disentangle_bench.util.lock import RUN_LOCK_FILE, Holder, exclusive_lock

CONFIG_FILE = "config.gin"


@dataclass
class ExperimentOutcome:
    experiment: Experiment
    out_dir: Path
    records: list[RunRecord]
    table: ResultsTable


#: Called with OUT, the experiment and the output stream once the results are written.
AfterResults = Callable[[Path, Experiment, TextIO], Any]


def run_experiment(
    gin_files: Sequence[str | Path],
    bindings: Sequence[str] = (),
    *,
    out_dir: str | Path | None = None,
    device: str = "auto",
    overwrite: bool = False,
    registry: Registry | None = None,
    stream: TextIO | None = None,
    wait: bool = False,
    after_results: AfterResults | None = None,
) -> ExperimentOutcome:
    """Run every run the config describes; finished runs are reused, interrupted ones resumed.

    ``OUT`` has one writer: another process writing it makes this call fail with
    :class:`~disentangle_bench.util.lock.LockHeldError`, or wait for it when ``wait``.
    ``after_results`` runs once the results are written, while this process still holds ``OUT``
    (``bench run`` builds the runs' leaderboard there).
    """
    stream = stream if stream is not None else sys.stdout
    registry = registry if registry is not None else Registry()
    config_text = parse_gin(gin_files, bindings)
    spec = experiment()
    spec.validate(registry)
    preflight(spec, registry)
    torch_device = resolve_device(device)
    out = Path(out_dir) if out_dir is not None else Path("bench_runs") / spec.name
    _check_output_dir(out, config_text, overwrite)  # refused before anything is written
    with lock_run_directory(out, wait=wait, stream=stream):
        _claim_output_dir(out, config_text, overwrite)

        runs = spec.runs()
        records = []
        for number, run in enumerate(runs, start=1):
            print(f"[{number}/{len(runs)}] {run.run_id}", file=stream, flush=True)
            records.append(execute_run(run, registry, out / "runs" / run.run_id, torch_device))
        table = ResultsTable.from_records(records)
        atomic_write_text(out / "results.md", table.to_markdown(title=spec.name))
        atomic_write_json(out / "results.json", table.to_json())
        print("\n" + table.to_markdown(title=spec.name), file=stream, flush=True)
        print(f"results written to {out}", file=stream, flush=True)
        if after_results is not None:
            after_results(out, spec, stream)
    return ExperimentOutcome(spec, out, records, table)


def preflight(spec: Experiment, registry: Registry) -> None:
    """Build every configured object once so bad hyperparameters fail before any work."""
    try:
        TrainingConfig()
    except ValueError as error:
        raise ConfigError(first_line(error)) from error
    for name in spec.metrics:
        registry.build("metrics", name)
    for name in spec.perturbations:
        registry.build("perturbations", name)
    for name in spec.datasets:  # cheap: datasets render or load lazily
        data = registry.build("datasets", name)
        model = registry.build("models", spec.model, observation_shape=data.observation_shape)
        make_sampler(model, data)  # e.g. a pair model on a dataset that cannot make its pairs


def lock_run_directory(
    out: Path, *, wait: bool = False, stream: TextIO | None = None
) -> AbstractContextManager[Path]:
    """Hold ``OUT/.bench.lock`` (:func:`disentangle_bench.util.lock.exclusive_lock`): one
    ``bench run`` writes ``OUT`` at a time; a lock left by a killed run is taken over."""
    stream = stream if stream is not None else sys.stdout

    def announce(holder: Holder | None) -> None:
        by = holder.describe() if holder is not None else "another process"
        print(f"waiting for {by} to finish with {out} ...", file=stream, flush=True)

    return exclusive_lock(
        out / RUN_LOCK_FILE,
        what=f"run directory {out}",
        wait=wait,
        on_wait=announce,
        hint="wait for it to finish, or pass --wait to start when it does",
    )


def _check_output_dir(out: Path, config_text: str, overwrite: bool) -> None:
    """Raise what :func:`_claim_output_dir` would refuse, without writing anything."""
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"--out {out} is a file, not a directory; choose another --out")
    config_path = out / CONFIG_FILE
    if config_path.exists():
        if overwrite or config_path.read_text(encoding="utf-8") == config_text:
            return
        raise RunDirectoryError(
            f"{out} holds runs of a different config ({config_path} differs); "
            "choose another --out or pass --overwrite to replace them"
        )
    if out.is_dir() and not overwrite and any(p.name != RUN_LOCK_FILE for p in out.iterdir()):
        raise RunDirectoryError(
            f"{out} exists and is not a bench run directory; choose another --out or pass "
            "--overwrite"
        )


def _claim_output_dir(out: Path, config_text: str, overwrite: bool) -> None:
    """Refuse a directory that holds another config's runs, unless ``overwrite``."""
    _check_output_dir(out, config_text, overwrite)  # again, now that this process holds OUT
    config_path = out / CONFIG_FILE
    if config_path.exists():
        if config_path.read_text(encoding="utf-8") == config_text:
            return
        for stale in ("runs", "results.md", "results.json", "leaderboard"):
            path = out / stale
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    atomic_write_text(config_path, config_text)


def execute_run(run: RunSpec, registry: Registry, run_dir: Path, device: torch.device) -> RunRecord:
    """Train, evaluate and record one run; return its record (reused if already finished)."""
    record_path = run_dir / RUN_RECORD_FILE
    if record_path.exists():
        print(f"  finished earlier; reusing {record_path}", file=sys.stderr, flush=True)
        try:
            return load_run_record(record_path)
        except RunRecordError as error:
            raise RunRecordError(f"{error}; delete it to rerun") from error
    started = time.perf_counter()

    built = build_dataset(registry, run.dataset, run.perturbation)
    data = built.data
    dataset = built.record(registry)
    data_seconds = time.perf_counter() - started

    model_entry = registry.get("models", run.model)
    torch.manual_seed(run.seed)
    model = registry.build("models", run.model, observation_shape=tuple(data.observation_shape))
    training_config = TrainingConfig()
    result = train(
        model,
        data,
        training_config,
        run_dir=run_dir,
        seed=run.seed,
        device=device,
        label=f"  train {run.run_id}",
    )
    save_figures(model, data, run_dir, device, seed=run.seed)

    represent = model_representation(model, device)
    scores: dict[str, dict[str, float]] = {}
    metric_parameters: dict[str, dict[str, Any]] = {}
    evaluation_seconds: dict[str, float] = {}
    for metric_name in run.metrics:
        metric_started = time.perf_counter()
        metric = registry.build("metrics", metric_name)
        values = metric(data, represent, np.random.RandomState(run.evaluation_seed))
        scores[metric_name] = _check_scores(metric_name, values, registry)
        metric_parameters[metric_name] = effective_parameters(
            registry.get("metrics", metric_name).factory, f"metrics.{metric_name}"
        )
        evaluation_seconds[metric_name] = time.perf_counter() - metric_started
        print(f"  {metric_name}: {_format_scores(scores[metric_name])}", file=sys.stderr)

    operative = gin.operative_config_str()
    atomic_write_text(run_dir / "operative_config.gin", operative)
    record = build_run_record(
        run_id=run.run_id,
        seed=run.seed,
        evaluation_seed=run.evaluation_seed,
        dataset=dataset,
        model=ModelRecord(
            name=run.model,
            plugin=model_entry.plugin,
            distribution=model_entry.distribution,
            hyperparameters=effective_parameters(
                model_entry.factory, f"models.{run.model}", KINDS["models"].runtime_arguments
            ),
            num_parameters=sum(p.numel() for p in model.parameters()),
        ),
        training=TrainingRecord(
            **training_config.as_dict(),
            steps_completed=result.steps,
            resumed_from_step=result.resumed_from,
            final_losses=result.final_losses,
        ),
        metrics=scores,
        metric_parameters=metric_parameters,
        operative_gin=operative,
        device=describe_device(device),
        wall_seconds=WallSeconds(
            data=data_seconds,
            train=result.train_seconds,
            evaluation=evaluation_seconds,
            total_this_session=time.perf_counter() - started,
        ),
    )
    atomic_write_json(record_path, record)
    return record


def _check_scores(name: str, values: Any, registry: Registry) -> dict[str, float]:
    entry = registry.get("metrics", name)
    if not isinstance(values, dict) or not values:
        raise PluginError(f"{entry.origin}: metric {name!r} returned {values!r}, not a dict")
    try:
        return {str(key): float(value) for key, value in values.items()}
    except (TypeError, ValueError) as error:
        raise PluginError(
            f"{entry.origin}: metric {name!r} returned a non-number: {error}"
        ) from None


def _format_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{key}={value:.4f}" for key, value in scores.items())
