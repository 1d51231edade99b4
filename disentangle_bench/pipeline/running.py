"""``bench run``: parse the config, train and evaluate every run, write results, resume.

Output layout (``OUT`` is ``--out``, by default ``bench_runs/<experiment.name>``)::

    OUT/.bench.lock                 held by the one bench run writing OUT (its pid and host)
    OUT/config.gin                  the parsed config; a rerun with another config is refused
    OUT/runs/<run_id>/run.json      the record of a finished run (skipped on a rerun)
    OUT/runs/<run_id>/checkpoint.pt the latest checkpoint (an interrupted run resumes from it)
    OUT/runs/<run_id>/losses.jsonl  every loss term every ``train.log_every`` steps
    OUT/runs/<run_id>/reconstructions.png, traversals.png
    OUT/runs/<run_id>/operative_config.gin
    OUT/runs/<run_id>/worker.log    the run's output, when it ran on a worker (``--jobs``)
    OUT/results.md, OUT/results.json  the robustness table over all runs

The record's schema and its builder are :mod:`disentangle_bench.pipeline.record`. ``bench run``
also builds ``OUT/leaderboard/`` from the runs (when there are perturbed twins), through the
``after_results`` hook, while it still holds ``OUT``.

Before anything is written or trained, every value is checked (:func:`check_configuration`: each
gin binding's type and range, every plugin built once) and every plugin's contract is tried on a
first batch (:func:`check_first_batch`): each dataset's factors and observations (shape, float32,
finite, in [0, 1]), the model's loss and ``encode`` (finite scalars, an (N, D) code), and each
metric on a tiny sample of the untrained model's codes (a dict of finite floats). A failure is
one line naming the binding, or the plugin and its distribution.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import gin
import numpy as np
import torch

from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.metrics.utils import metric_progress
from disentangle_bench.pipeline.config import (
    SEED_MAX,
    check_annotated_bindings,
    check_rules,
    effective_parameters,
    parse_gin,
    require_int,
    require_number,
)
from disentangle_bench.pipeline.experiment import Experiment, RunSpec, build_experiment
from disentangle_bench.pipeline.parallel import choose_jobs, run_in_workers
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
from disentangle_bench.pipeline.representation import TorchRepresentation, model_representation
from disentangle_bench.pipeline.summary import ResultsTable
from disentangle_bench.pipeline.training import (
    MIXED_PRECISION,
    RECONSTRUCTIONS_FILE,
    TRAVERSALS_FILE,
    TrainingConfig,
    compute_losses,
    configure_optimizers,
    draw_noise,
    save_figures,
    to_model_input,
    train,
)
from disentangle_bench.registry import Registry
from disentangle_bench.registry.contract import (
    KINDS,
    check_codes,
    check_factors,
    check_grid,
    check_losses,
    check_observations,
    check_scores,
)
from disentangle_bench.registry.manager import Entry
from disentangle_bench.util.device import describe_device, resolve_device
from disentangle_bench.util.errors import BenchError, ConfigError, PluginError, RunDirectoryError
from disentangle_bench.util.files import atomic_write_json, atomic_write_text
from disentangle_bench.util.gin_errors import first_line, without_gin_context
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
    jobs: int | str | None = None,
) -> ExperimentOutcome:
    """Run every run the config describes; finished runs are reused, interrupted ones resumed.

    ``jobs`` (default: the config's ``experiment.jobs``, 1 unless set): worker processes on CPU
    (:mod:`disentangle_bench.pipeline.parallel`; ``'auto'``: one per core, at most one per run);
    1 runs them here, one after another. Parallel runs use the plugins every worker loads
    itself (the installed ones), not ``registry``.

    ``OUT`` has one writer: another process writing it makes this call fail with
    :class:`~disentangle_bench.util.lock.LockHeldError`, or wait for it when ``wait``.
    ``after_results`` runs once the results are written, while this process still holds ``OUT``
    (``bench run`` builds the runs' leaderboard there).
    """
    stream = stream if stream is not None else sys.stdout
    registry = registry if registry is not None else Registry()
    config_text = parse_gin(gin_files, bindings)
    spec = build_experiment()
    spec.validate(registry)
    training = check_configuration(spec, registry)
    torch_device = resolve_device(device)
    runs = spec.runs()
    workers = choose_jobs(spec.jobs if jobs is None else jobs, len(runs), torch_device)
    out = Path(out_dir) if out_dir is not None else Path("bench_runs") / spec.name
    _check_output_dir(out, config_text, overwrite)  # refused before anything is written
    check_first_batch(spec, registry, training)
    with lock_run_directory(out, wait=wait, stream=stream):
        _claim_output_dir(out, config_text, overwrite)

        if workers > 1:
            records = run_in_workers(runs, out, out / CONFIG_FILE, workers, stream)
        else:
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


def _positive(name: str, value: Any) -> int:
    return require_int(name, value, minimum=1)


def _mixed_precision(name: str, value: Any) -> None:
    if value is not None and value not in MIXED_PRECISION:
        raise ConfigError(f"{name} must be None, 'bf16' or 'fp16', got {value!r}")


#: The runner's own configurables: each bound value's type and range.
RUNNER_RULES: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "train": {
        "steps": _positive,
        "batch_size": _positive,
        "checkpoint_every": _positive,
        "log_every": _positive,
        "learning_rate": lambda name, value: require_number(name, value, above=0),
        "beta1": lambda name, value: require_number(name, value, at_least=0, below=1),
        "beta2": lambda name, value: require_number(name, value, at_least=0, below=1),
        "epsilon": lambda name, value: require_number(name, value, above=0),
        "mixed_precision": _mixed_precision,
    },
    "discretizer": {"num_bins": _positive},
    "histogram_discretizer": {"num_bins": _positive},
    "evaluation": {
        "random_seed": lambda name, value: (
            None if value is None else require_int(name, value, minimum=0, maximum=SEED_MAX)
        )
    },
}
#: Sample-size parameters of a metric, capped for the metric's first try on a tiny sample (a
#: list of sizes, such as the downstream task's, becomes its smallest).
PROBE_SIZES = {
    "num_train": 32,
    "num_test": 32,
    "num_eval": 32,
    "num_points": 32,
    "num_samples": 32,
    "num_variance_estimate": 32,
    "batch_size": 8,
}
#: The most images of the model's first batch (the configured train.batch_size if smaller).
FIRST_BATCH = 32


def check_bindings(registry: Registry) -> None:
    """Every bound value's type (and, for the runner's own configurables, range): one
    :class:`ConfigError` line naming the binding."""
    for selector, rules in RUNNER_RULES.items():
        check_rules(selector, rules)
    for entry in registry.entries():
        check_annotated_bindings(
            f"{entry.kind}.{entry.name}",
            entry.factory,
            KINDS[entry.kind].runtime_arguments,
            name=entry.name,
        )


def checked_training_config() -> TrainingConfig:
    """``train``'s bindings, checked (:data:`RUNNER_RULES`), as a :class:`TrainingConfig`."""
    check_rules("train", RUNNER_RULES["train"])
    try:
        return TrainingConfig()
    except BenchError as error:
        raise without_gin_context(error) from None
    except (TypeError, ValueError) as error:
        raise ConfigError(first_line(error)) from None


def check_configuration(spec: Experiment, registry: Registry) -> TrainingConfig:
    """Every binding checked and every configured object built once, so that a bad value fails
    before any work; returns the training configuration."""
    check_bindings(registry)
    training = checked_training_config()
    for name in spec.metrics:
        registry.build("metrics", name)
    for name in spec.perturbations:
        registry.build("perturbations", name)
    for name in spec.datasets:  # cheap: datasets render or load lazily
        data = registry.build("datasets", name)
        model = registry.build("models", spec.model, observation_shape=data.observation_shape)
        make_sampler(model, data)  # e.g. a pair model on a dataset that cannot make its pairs
    return training


def preflight(spec: Experiment, registry: Registry) -> None:
    """:func:`check_configuration` then :func:`check_first_batch` (what ``bench run`` and
    ``bench sweep`` do before any run starts)."""
    check_first_batch(spec, registry, check_configuration(spec, registry))


def check_first_batch(spec: Experiment, registry: Registry, training: TrainingConfig) -> None:
    """Each plugin's contract on a first batch, on the CPU, before any training: every
    dataset's first samples, the untrained model's loss and codes on a batch of it, and every
    metric on a tiny sample of those codes (:data:`PROBE_SIZES`)."""
    model_entry = registry.get("models", spec.model)
    for name in spec.datasets:
        data = registry.build("datasets", name)
        check_dataset_sample(registry.get("datasets", name), name, data)
        model = registry.build("models", spec.model, observation_shape=data.observation_shape)
        _check_model_batch(model_entry, model, data, training)
        represent = model_representation(model, torch.device("cpu"))
        for metric_name in spec.metrics:
            _probe_metric(registry, metric_name, name, data, represent, spec.evaluation_seed)


def check_dataset_sample(entry: Entry, name: str, data: Any, num: int = 8) -> None:
    """A dataset's grid, then ``num`` factors and their observations: shape, dtype, range."""
    random_state = np.random.RandomState(0)
    try:
        sizes = check_grid(entry.origin, name, data)
        factors = check_factors(
            entry.origin, name, data.sample_factors(num, random_state), num, sizes
        )
        observations = data.sample_observations_from_factors(factors, random_state)
    except BenchError:
        raise
    except Exception as error:
        raise PluginError(
            f"{entry.origin}: dataset {name!r} failed on a first sample: "
            f"{type(error).__name__}: {first_line(error)}"
        ) from error
    value_range = getattr(data, "value_range", (0.0, 1.0))
    check_observations(
        entry.origin, name, observations, num, tuple(data.observation_shape), value_range
    )


def _check_model_batch(
    entry: Entry, model: torch.nn.Module, data: Any, training: TrainingConfig
) -> None:
    """The untrained model's losses and codes on a first batch: finite scalars and (N, D)."""
    sampler = make_sampler(model, data)  # a ConfigError (wrong data for the model) stays one
    num = min(training.batch_size, FIRST_BATCH)
    observations = sampler(num, np.random.RandomState(0))
    batch = to_model_input(observations, torch.device("cpu"))
    images = batch if batch.dim() == 4 else batch[0]  # pairs: (2, N, C, H, W)
    try:
        optimizers = configure_optimizers(model, training)
        model.train()
        losses, terms = compute_losses(model, batch, 0, list(optimizers), draw_noise(model, batch))
        check_losses(entry.origin, entry.name, losses, terms, num)
        model.eval()
        with torch.no_grad():
            codes = model.encode(images)
        check_codes(entry.origin, entry.name, codes, len(images))
    except PluginError as error:
        text = str(error)
        prefixed = text if text.startswith(entry.origin) else f"{entry.origin}: {text}"
        raise PluginError(prefixed) from None
    except BenchError:
        raise
    except Exception as error:
        raise PluginError(
            f"{entry.origin}: model {entry.name!r} failed on a first batch of {num} before "
            f"training: {type(error).__name__}: {first_line(error)}"
        ) from error


def _probe_metric(
    registry: Registry,
    name: str,
    dataset: str,
    data: Any,
    represent: TorchRepresentation,
    seed: int,
) -> None:
    """The metric on a tiny sample (its sample sizes capped by :data:`PROBE_SIZES`): it must
    return a dict of finite floats."""
    entry = registry.get("metrics", name)
    configured = effective_parameters(entry.factory, f"metrics.{name}")
    tiny: dict[str, Any] = {}
    for parameter, cap in PROBE_SIZES.items():
        value = configured.get(parameter)
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            tiny[parameter] = cap
        elif isinstance(value, list) and value and all(_is_size(v) for v in value):
            tiny[parameter] = [min(min(value), cap)]
    sizes = ", ".join(f"{k}={v}" for k, v in tiny.items())
    where = f"on a first sample of {dataset} ({sizes})" if sizes else f"on {dataset}"
    metric = registry.build("metrics", name, **tiny)
    try:
        with warnings.catch_warnings():  # a tiny sample of untrained codes: warnings expected
            warnings.simplefilter("ignore")
            values = metric(data, represent, np.random.RandomState(seed))
    except BenchError as error:
        raise without_gin_context(error) from None
    except Exception as error:
        raise PluginError(
            f"{entry.origin}: metric {name!r} failed {where} with the untrained model, before "
            f"training: {type(error).__name__}: {first_line(error)}"
        ) from error
    scores = check_scores(entry.origin, name, values, allow_nan=True)
    undefined = sorted(key for key, value in scores.items() if math.isnan(value))
    if undefined:
        print(
            f"  note: metric {name!r} leaves {', '.join(undefined)} undefined (NaN) on the "
            "untrained model; the trained model's scores must be finite numbers",
            file=sys.stderr,
            flush=True,
        )


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    if run.perturbation is not None:  # the twin's first samples, before its training
        check_dataset_sample(
            registry.get("perturbations", run.perturbation), f"{run.dataset}+{run.condition}", data
        )
    dataset = built.record(registry)
    data_seconds = time.perf_counter() - started

    model_entry = registry.get("models", run.model)
    torch.manual_seed(run.seed)
    model = registry.build("models", run.model, observation_shape=tuple(data.observation_shape))
    training_config = checked_training_config()
    result = train(
        model,
        data,
        training_config,
        run_dir=run_dir,
        seed=run.seed,
        device=device,
        label=f"  train {run.run_id}",
    )
    written = save_figures(model, data, run_dir, device, seed=run.seed)
    _say_missing_figures(run.model, model, written)

    represent = model_representation(model, device)
    scores: dict[str, dict[str, float]] = {}
    metric_parameters: dict[str, dict[str, Any]] = {}
    evaluation_seconds: dict[str, float] = {}
    for metric_name in run.metrics:
        metric_started = time.perf_counter()
        metric = registry.build("metrics", metric_name)
        origin = registry.get("metrics", metric_name).origin
        try:
            with metric_progress(f"  {metric_name}"):
                values = metric(data, represent, np.random.RandomState(run.evaluation_seed))
        except BenchError as error:
            raise without_gin_context(error) from None
        except Exception as error:  # one line naming the plugin, not a traceback
            raise PluginError(
                f"{origin}: metric {metric_name!r} failed on {run.run_id}: "
                f"{type(error).__name__}: {first_line(error)}"
            ) from error
        scores[metric_name] = check_scores(origin, metric_name, values)
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


def _say_missing_figures(name: str, model: torch.nn.Module, written: list[Path]) -> None:
    """One line when a figure is not written because the model lacks the optional method."""
    missing = [
        (figure, method)
        for figure, method in ((RECONSTRUCTIONS_FILE, "reconstruct"), (TRAVERSALS_FILE, "decode"))
        if not any(path.name == figure for path in written) and not hasattr(model, method)
    ]
    if missing:
        files = " and ".join(figure for figure, _ in missing)
        methods = " or ".join(f"{method}()" for _, method in missing)
        print(
            f"  {files} not written: model {name!r} has no {methods} (optional methods of the "
            "model contract)",
            file=sys.stderr,
            flush=True,
        )


def _format_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{key}={value:.4f}" for key, value in scores.items())
