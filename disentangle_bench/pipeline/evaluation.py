"""``bench evaluate``: score an existing run or a TorchScript encoder with any metrics.

A target is one of

- a run directory written by ``bench run`` (``runs/<run_id>/`` with ``run.json`` and
  ``checkpoint.pt``): the dataset is rebuilt from the record (base dataset, its parameters, the
  perturbation and its parameters) and must have the recorded content fingerprint; the model is
  rebuilt from the recorded name and hyperparameters through the registry and loaded from the
  checkpoint's ``"model"`` state dict;
- an experiment directory (``OUT`` of ``bench run``): every run under ``OUT/runs/``;
- a TorchScript file (``torch.jit.save`` of an encoder taking float32 images in [0, 1]): then a
  dataset (and optionally a perturbation) must be named.

Metric hyperparameters of a run come from the run's operative config (the bindings it was
scored with, ``operative_config.gin``), then ``--gin`` files and ``--bind`` bindings on top;
with ``metric_defaults`` (``--metric-defaults``) from the metrics' defaults and the gin files and
bindings only. Which one was used is printed and recorded (``settings``). A TorchScript encoder
has no run: its metrics take their defaults, ``--gin`` and ``--bind``. disentanglement_lib's
metric gin files work unchanged: ``evaluation.evaluation_fn = @dci`` names the metric (added to
``--metric``), ``evaluation.random_seed`` is the seed (``--seed`` overrides it),
``dataset.name`` is ignored (the dataset is the run's).

Results go to ``<run dir>/evaluations/<metric>.json`` (``<file stem>.evaluations/<metric>.json``
beside a TorchScript file, or ``<--out>/<metric>.json``); each file holds a list of evaluations,
the newest last, so earlier results are kept. Each evaluation records the scores, the metric's
effective hyperparameters, the seed, the dataset fingerprint, whether the metric is a fast
variant, the operative gin config, versions, device and wall time.
"""

from __future__ import annotations

import difflib
import json
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import gin
import numpy as np

from disentangle_bench.metrics import FAST_VARIANTS
from disentangle_bench.metrics.utils import metric_progress
from disentangle_bench.pipeline.config import effective_parameters, one_line, parse_gin
from disentangle_bench.pipeline.record import (
    RUN_RECORD_FILE,
    RunRecord,
    build_dataset,
    load_run_record,
    versions,
)
from disentangle_bench.pipeline.representation import (
    DEFAULT_BATCH_SIZE,
    TorchRepresentation,
    load_torchscript,
)
from disentangle_bench.pipeline.training import CHECKPOINT_FILE, load_checkpoint_file
from disentangle_bench.registry import Registry
from disentangle_bench.registry.contract import KINDS, check_scores
from disentangle_bench.util.device import describe_device, resolve_device
from disentangle_bench.util.errors import (
    BenchError,
    ConfigError,
    DataError,
    PluginError,
    UnknownPluginError,
)
from disentangle_bench.util.files import atomic_write_json
from disentangle_bench.util.gin_errors import first_line, without_gin_context

EVALUATIONS_DIR = "evaluations"
EVALUATION_FORMAT = 1
#: Configurables of disentanglement_lib's evaluation gin files that have no meaning here.
IGNORED_CONFIGURABLES = ("dataset",)
#: Where a run's metric settings come from (the ``settings.source`` of an evaluation record).
FROM_RUN = "run operative config"
FROM_DEFAULTS = "metric defaults"


class EvaluationError(BenchError):
    """A target that cannot be evaluated, or a metric that fails on it."""


@gin.configurable("evaluation")
def evaluation_settings(
    evaluation_fn: Any = None, random_seed: int | None = None, name: str = ""
) -> tuple[Any, int | None, str]:
    """disentanglement_lib's ``evaluation`` configurable, read by ``bench evaluate`` so that its
    metric gin files (``evaluation.evaluation_fn = @dci``, ``evaluation.random_seed = 0``) work
    unchanged. ``name`` is accepted and unused."""
    return evaluation_fn, random_seed, name


@dataclass
class Target:
    """One thing to score: a run (model + its dataset) or a TorchScript encoder."""

    kind: str  # "run" or "torchscript"
    path: Path
    out_dir: Path  # the directory that receives <metric>.json
    label: str
    record: RunRecord | None = None


def parse_evaluation_gin(
    files: Sequence[str | Path], bindings: Sequence[str], *, base: str | None = None
) -> str:
    """:func:`~disentangle_bench.pipeline.config.parse_gin` with disentanglement_lib's
    ``dataset.*`` bindings skipped; ``base`` (a run's operative config) is parsed first."""
    return parse_gin(files, bindings, skip_unknown=IGNORED_CONFIGURABLES, base=base)


def check_metric_names(names: Sequence[str], registry: Registry) -> None:
    """Each name a registered metric; an unknown one is one line with the closest names (also
    for a result key such as ``discrete_mig`` or a different case), else every metric."""
    known = registry.names("metrics")
    for name in names:
        if name in known:
            continue
        lowered = name.lower()
        close = [k for k in known if k == lowered]  # another case: that one only
        if not close:
            close = [k for k in known if k in lowered or lowered in k]  # a result key
            close += [
                k
                for k in difflib.get_close_matches(lowered, known, n=3, cutoff=0.5)
                if k not in close
            ]
        if close:
            options = " or ".join(repr(k) for k in close[:3])
            raise UnknownPluginError(f"unknown metric {name!r}; did you mean {options}?")
        raise UnknownPluginError(f"unknown metric {name!r}; installed metrics: {', '.join(known)}")


def metrics_to_run(metrics: Sequence[str], registry: Registry) -> tuple[list[str], int | None]:
    """``metrics`` plus the gin ``evaluation.evaluation_fn`` one, each known; and the gin seed."""
    evaluation_fn, random_seed, _ = evaluation_settings()
    names = list(metrics)
    if evaluation_fn is not None:
        name = getattr(evaluation_fn, "name", None)
        if not isinstance(name, str):
            raise ConfigError(f"evaluation.evaluation_fn must name a metric, got {evaluation_fn!r}")
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError(
            "no metric to evaluate: pass --metric NAME (or a gin file that sets "
            "evaluation.evaluation_fn)"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"a metric is named twice: {names}")
    check_metric_names(names, registry)
    return names, random_seed


def find_targets(path: str | Path, *, out_dir: str | Path | None = None) -> list[Target]:
    """The runs (or the TorchScript file) that ``path`` names."""
    path = Path(path)
    if path.is_dir():
        if (path / RUN_RECORD_FILE).is_file():
            run_dirs = [path]
        else:
            run_dirs = sorted(p.parent for p in path.glob(f"runs/*/{RUN_RECORD_FILE}"))
            if not run_dirs:
                raise EvaluationError(
                    f"{path} holds no run: expected a run directory with {RUN_RECORD_FILE} or an "
                    f"experiment directory with runs/*/{RUN_RECORD_FILE}"
                )
        if out_dir is not None and len(run_dirs) > 1:
            raise EvaluationError("--out needs a single run, not an experiment directory")
        targets = []
        for run_dir in run_dirs:
            record = load_run_record(run_dir / RUN_RECORD_FILE)
            destination = Path(out_dir) if out_dir is not None else run_dir / EVALUATIONS_DIR
            label = record["run_id"]
            targets.append(Target("run", run_dir, destination, label, record))
        return targets
    if path.is_file():
        destination = (
            Path(out_dir)
            if out_dir is not None
            else path.with_name(f"{path.stem}.{EVALUATIONS_DIR}")
        )
        return [Target("torchscript", path, destination, path.name)]
    raise EvaluationError(f"{path} does not exist")


def _build(kind: str, name: str, factory: Any, parameters: dict[str, Any], **runtime: Any) -> Any:
    try:
        return factory(**parameters, **runtime)
    except (TypeError, ValueError) as error:
        raise EvaluationError(
            f"cannot rebuild {kind} {name!r} with the recorded parameters {parameters}: {error}"
        ) from error


def run_dataset(record: RunRecord, registry: Registry) -> Any:
    """The recorded dataset (perturbed if it was), rebuilt with the recorded parameters and
    checked against the recorded fingerprint."""
    dataset = record["dataset"]
    base, perturbation = dataset["base"], dataset["perturbation"]
    try:
        data = build_dataset(
            registry,
            base,
            perturbation["name"] if perturbation else None,
            parameters=dataset["parameters"],
            perturbation_parameters=perturbation["parameters"] if perturbation else None,
        ).data
    except ConfigError as error:
        raise EvaluationError(
            f"cannot rebuild dataset {dataset['name']!r} with the recorded parameters: {error}"
        ) from error
    recorded = dataset["fingerprint"]
    if data.fingerprint != recorded:
        raise DataError(
            f"dataset {dataset['name']!r} no longer has the content the run was trained "
            f"on (fingerprint {data.fingerprint[:12]} != recorded {recorded[:12]}); its renderer "
            "or files changed"
        )
    return data


def run_model(record: RunRecord, run_dir: Path, data: Any, registry: Registry, device):
    """The recorded model rebuilt through the registry, with the checkpoint's weights."""
    name = record["model"]["name"]
    parameters = {
        key: value
        for key, value in record["model"]["hyperparameters"].items()
        if key not in KINDS["models"].runtime_arguments
    }
    model = _build(
        "model",
        name,
        registry.get("models", name).factory,
        parameters,
        observation_shape=tuple(data.observation_shape),
    )
    checkpoint = run_dir / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint} is missing: the run's weights cannot be loaded")
    if not zipfile.is_zipfile(checkpoint):  # torch.save writes a zip archive
        raise DataError(
            f"cannot load the model from {checkpoint}: not a checkpoint (no torch.save archive)"
        )
    try:  # weights_only: tensors and plain values, nothing that could run code
        payload = load_checkpoint_file(checkpoint, device)
    except BenchError as error:
        raise DataError(f"cannot load the model from {checkpoint}: {error}") from None
    try:
        model.load_state_dict(payload["model"])
    except Exception as error:  # wrong architecture, missing key
        raise DataError(f"cannot load the model from {checkpoint}: {one_line(error)}") from error
    return model.to(device)


def _load_history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        history = payload["evaluations"]
        if not isinstance(history, list):
            raise TypeError("'evaluations' is not a list")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EvaluationError(
            f"{path} exists but is not an evaluation file ({error}); move it away to keep it"
        ) from error
    return history


def evaluate(
    target: str | Path,
    metrics: Sequence[str] = (),
    *,
    gin_files: Sequence[str | Path] = (),
    bindings: Sequence[str] = (),
    dataset: str | None = None,
    perturbation: str | None = None,
    seed: int | None = None,
    device: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    input_layout: str = "NCHW",
    out_dir: str | Path | None = None,
    registry: Registry | None = None,
    stream: TextIO | None = None,
    metric_defaults: bool = False,
) -> list[dict[str, Any]]:
    """Score ``target`` with ``metrics``; write and return one evaluation record per metric
    and target. See the module docstring for targets, configuration and output (a run's
    metrics take its operative config unless ``metric_defaults``)."""
    stream = stream if stream is not None else sys.stdout
    registry = registry if registry is not None else Registry()
    parse_evaluation_gin(gin_files, bindings)
    names, gin_seed = metrics_to_run(metrics, registry)
    for name in names:  # bad hyperparameters fail before any work
        registry.build("metrics", name)
    torch_device = resolve_device(device)
    targets = find_targets(target, out_dir=out_dir)
    for item in targets:  # each run's settings, checked before any work
        _configure_metrics(item, gin_files, bindings, names, registry, metric_defaults)
    if targets[0].kind == "torchscript" and dataset is None:
        raise ConfigError("a TorchScript encoder needs --dataset NAME (the data to score it on)")
    if targets[0].kind == "run" and (dataset is not None or perturbation is not None):
        raise ConfigError(
            "--dataset and --perturbation are for TorchScript files; a run is "
            "scored on its own dataset"
        )
    for item in targets:  # an unreadable earlier result stops everything before any work
        for name in names:
            _load_history(item.out_dir / f"{name}.json")
    records = []
    for item in targets:
        print(f"evaluating {item.label}", file=stream, flush=True)
        settings = _configure_metrics(item, gin_files, bindings, names, registry, metric_defaults)
        print(f"  metric settings: {_describe_settings(settings)}", file=stream, flush=True)
        if item.kind == "run":
            assert item.record is not None
            data = run_dataset(item.record, registry)
            model = run_model(item.record, item.path, data, registry, torch_device)
            represent = TorchRepresentation(model, torch_device, batch_size, method="encode")
            default_seed = item.record["evaluation_seed"]
            source = {
                "kind": "run",
                "path": str(item.path),
                "run_id": item.label,
                "dataset": item.record["dataset"]["name"],
            }
        else:
            built = build_dataset(registry, dataset, perturbation)
            data = built.data
            module = load_torchscript(item.path, torch_device)
            represent = TorchRepresentation(
                module, torch_device, batch_size, input_layout=input_layout
            )
            default_seed = 0
            source = {
                "kind": "torchscript",
                "path": str(item.path),
                "input_layout": input_layout,
                "dataset": built.name,
            }
        random_seed = (
            seed if seed is not None else gin_seed if gin_seed is not None else default_seed
        )
        for name in names:
            record = _evaluate_one(
                name, data, represent, int(random_seed), item, source, registry, stream
            )
            record["settings"] = settings
            _append_history(item.out_dir / f"{name}.json", name, record, stream)
            records.append(record)
    return records


def _configure_metrics(
    target: Target,
    gin_files: Sequence[str | Path],
    bindings: Sequence[str],
    names: Sequence[str],
    registry: Registry,
    metric_defaults: bool,
) -> dict[str, Any]:
    """Parse the metric settings for ``target`` (a run's operative config first, unless
    ``metric_defaults``), build each metric once to check them; return what was used."""
    base = None
    source = FROM_DEFAULTS
    if target.kind == "run" and not metric_defaults:
        assert target.record is not None
        base = target.record["config"]["operative_gin"]
        source = FROM_RUN
    parse_evaluation_gin(gin_files, bindings, base=base)
    for name in names:
        registry.build("metrics", name)
    return {
        "source": source,
        "run": str(target.path) if base is not None else None,
        "gin_files": [str(path) for path in gin_files],
        "bindings": list(bindings),
    }


def _describe_settings(settings: dict[str, Any]) -> str:
    extra = []
    if settings["gin_files"]:
        extra.append("--gin " + " ".join(settings["gin_files"]))
    if settings["bindings"]:
        extra.append(" ".join(f"--bind {b!r}" for b in settings["bindings"]))
    on_top = f", then {' and '.join(extra)}" if extra else ""
    if settings["source"] == FROM_RUN:
        return (
            f"the run's operative config (the bindings it was scored with){on_top}; "
            "--metric-defaults ignores it"
        )
    return f"the metrics' defaults{on_top}"


def _evaluate_one(
    name: str,
    data: Any,
    represent: TorchRepresentation,
    random_seed: int,
    target: Target,
    source: dict[str, Any],
    registry: Registry,
    stream: TextIO,
) -> dict[str, Any]:
    started = time.perf_counter()
    entry = registry.get("metrics", name)
    metric = registry.build("metrics", name)
    print(f"  {name}: scoring with seed {random_seed} ...", file=stream, flush=True)
    try:
        with metric_progress(f"  {name}", stream=stream):
            values = metric(data, represent, np.random.RandomState(random_seed))
    except BenchError as error:
        raise without_gin_context(error) from None
    except ValueError as error:
        raise EvaluationError(f"metric {name!r} on {target.label}: {one_line(error)}") from error
    except Exception as error:  # a plugin's own failure: one line naming it
        raise PluginError(
            f"{entry.origin}: metric {name!r} failed on {target.label}: "
            f"{type(error).__name__}: {first_line(error)}"
        ) from error
    scores = check_scores(entry.origin, name, values)
    record = {
        "format_version": EVALUATION_FORMAT,
        "metric": name,
        "scores": scores,
        "fast_variant_of": FAST_VARIANTS.get(name),
        "parameters": effective_parameters(
            registry.get("metrics", name).factory, f"metrics.{name}"
        ),
        "random_seed": random_seed,
        "source": source,
        "dataset": {
            "name": source.get("dataset"),
            "fingerprint": data.fingerprint,
            "factor_names": list(data.factor_names),
            "factors_num_values": [int(s) for s in data.factors_num_values],
        },
        "operative_gin": gin.operative_config_str(),
        "versions": versions(),
        "device": describe_device(represent.device),
        "wall_seconds": time.perf_counter() - started,
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    shown = ", ".join(f"{key}={value:.4f}" for key, value in scores.items())
    print(f"  {name}: {shown}", file=stream, flush=True)
    return record


def _append_history(path: Path, name: str, record: dict[str, Any], stream: TextIO) -> None:
    history = _load_history(path)
    atomic_write_json(path, {"metric": name, "evaluations": [*history, record]})
    print(f"  written to {path}", file=stream, flush=True)
