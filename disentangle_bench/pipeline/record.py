"""The run record: ``OUT/runs/<run_id>/run.json``, what ``bench run`` writes for a finished run.

Its schema is :class:`RunRecord` (a ``TypedDict``; the nested parts are ``TypedDict`` too), built
by :func:`build_run_record` (``bench run``, sweeps, the tests) and read back by
:func:`load_run_record` (a rerun, ``bench evaluate``, ``bench submit``, a study's aggregate),
which checks every key and type the schema names. Keys beyond the schema are kept as they are.

Also here, each written once for everything that records or rebuilds what a run used: the
versions a record names (:func:`versions`), the dataset with its perturbation built from gin
(:func:`build_dataset`) or from a record (``parameters=`` / ``perturbation_parameters=``), and
the dataset part of a record (:func:`dataset_record`).
"""

from __future__ import annotations

import json
import platform
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict

from disentangle_bench.pipeline.config import effective_parameters
from disentangle_bench.pipeline.experiment import ORIGINAL
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import BenchError

RUN_RECORD_FILE = "run.json"
RUN_RECORD_FORMAT = 1
COMPLETE = "complete"


class RunRecordError(BenchError):
    """A run record that cannot be read, or that is not a finished run's."""


class PerturbationRecord(TypedDict):
    name: str
    plugin: str
    distribution: str
    parameters: dict[str, Any]


class DatasetRecord(TypedDict):
    name: str  # the base dataset's name, or "<base>+<perturbation>"
    base: str
    condition: str  # "original" or the perturbation's name
    plugin: str
    distribution: str
    parameters: dict[str, Any]
    perturbation: PerturbationRecord | None
    fingerprint: str
    factor_names: list[str]
    factors_num_values: list[int]


class ModelRecord(TypedDict):
    name: str
    plugin: str
    distribution: str
    hyperparameters: dict[str, Any]
    num_parameters: int


class TrainingRecord(TypedDict):
    """Every ``train.*`` setting (these two are read back), and what the training did."""

    steps: int
    batch_size: int
    steps_completed: int
    resumed_from_step: int
    final_losses: dict[str, float]


class ConfigRecord(TypedDict):
    operative_gin: str


class _WallSecondsOptional(TypedDict, total=False):
    total_this_session: float  # everything this run did in the invocation that finished it


class WallSeconds(_WallSecondsOptional):
    data: float
    train: float
    evaluation: dict[str, float]  # per metric


class RunRecord(TypedDict):
    format_version: int
    run_id: str
    status: str  # "complete": only finished runs have a record
    seed: int
    evaluation_seed: int
    dataset: DatasetRecord
    model: ModelRecord
    training: TrainingRecord
    metrics: dict[str, dict[str, float]]  # metric name -> result key -> score
    metric_parameters: dict[str, dict[str, Any]]
    config: ConfigRecord
    versions: dict[str, str]
    device: str
    wall_seconds: WallSeconds


def versions() -> dict[str, str]:
    """The versions a record names: this project, Python and the numeric libraries."""
    import numpy as np
    import sklearn
    import torch

    from disentangle_bench import __version__

    return {
        "disentangle_bench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "gin-config": metadata.version("gin-config"),
    }


def build_run_record(
    *,
    run_id: str,
    seed: int,
    evaluation_seed: int,
    dataset: DatasetRecord,
    model: ModelRecord,
    training: TrainingRecord,
    metrics: dict[str, dict[str, float]],
    metric_parameters: dict[str, dict[str, Any]],
    operative_gin: str,
    device: str,
    wall_seconds: WallSeconds,
    run_versions: dict[str, str] | None = None,
) -> RunRecord:
    """The record of a finished run (``run_versions``: default :func:`versions`), checked
    against :class:`RunRecord`."""
    record = RunRecord(
        format_version=RUN_RECORD_FORMAT,
        run_id=run_id,
        status=COMPLETE,
        seed=seed,
        evaluation_seed=evaluation_seed,
        dataset=dataset,
        model=model,
        training=training,
        metrics=metrics,
        metric_parameters=metric_parameters,
        config=ConfigRecord(operative_gin=operative_gin),
        versions=run_versions if run_versions is not None else versions(),
        device=device,
        wall_seconds=wall_seconds,
    )
    problems = record_problems(record)
    if problems:
        raise ValueError(f"run record {run_id!r}: {problems[0]}")
    return record


def load_run_record(path: Path, *, parse_int: Callable[[str], Any] | None = None) -> RunRecord:
    """The finished run record at ``path``; :class:`RunRecordError` names what is wrong."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"), parse_int=parse_int)
    except (OSError, ValueError) as error:
        raise RunRecordError(f"cannot read run record {path}: {error}") from error
    if not isinstance(record, dict) or record.get("status") != COMPLETE:
        raise RunRecordError(f"{path} is not a finished run record")
    problems = record_problems(record)
    if problems:
        raise RunRecordError(f"{path} is not a finished run record: {problems[0]}")
    return typing.cast(RunRecord, record)


def record_problems(record: Any) -> list[str]:
    """What keeps ``record`` from being a :class:`RunRecord`: missing keys, wrong types."""
    problems: list[str] = []
    _check(record, RunRecord, "", problems)
    if not problems and record["format_version"] != RUN_RECORD_FORMAT:
        problems.append(f"format_version {record['format_version']} (expected 1)")
    return problems


def _check(value: Any, expected: Any, where: str, problems: list[str]) -> None:
    name = where or "the record"
    origin = typing.get_origin(expected)
    if expected is Any:
        return
    if typing.is_typeddict(expected):
        if not isinstance(value, dict):
            problems.append(f"{name} is {type(value).__name__}, not an object")
            return
        for key, hint in typing.get_type_hints(expected).items():
            path = f"{where}.{key}" if where else key
            if key in value:
                _check(value[key], hint, path, problems)
            elif key in expected.__required_keys__:
                problems.append(f"{path!r} is missing")
    elif origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return
        (inner,) = [o for o in options if o is not type(None)]
        _check(value, inner, where, problems)
    elif origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{name} is {type(value).__name__}, not an object")
            return
        _, item = typing.get_args(expected)
        for key, entry in value.items():
            _check(entry, item, f"{where}.{key}", problems)
    elif origin is list:
        if not isinstance(value, list):
            problems.append(f"{name} is {type(value).__name__}, not a list")
            return
        (item,) = typing.get_args(expected)
        for index, entry in enumerate(value):
            _check(entry, item, f"{where}[{index}]", problems)
    else:
        accepted = (int, float) if expected is float else (expected,)
        if isinstance(value, bool) or not isinstance(value, accepted):
            problems.append(f"{name} is {type(value).__name__}, not {expected.__name__}")


def dataset_record(
    registry: Registry,
    base: str,
    data: Any,
    perturbation_name: str | None = None,
    perturbation: Any = None,
    *,
    parameters: dict[str, Any] | None = None,
) -> DatasetRecord:
    """The dataset part of a run record: ``base`` (from the registry, with its effective gin
    parameters, or ``parameters``), perturbed by ``perturbation`` (registered as
    ``perturbation_name``) into ``data``, whose content fingerprint it records."""
    entry = registry.get("datasets", base)
    perturbation_record = None
    if perturbation_name is not None:
        p_entry = registry.get("perturbations", perturbation_name)
        perturbation_record = PerturbationRecord(
            name=perturbation_name,
            plugin=p_entry.plugin,
            distribution=p_entry.distribution,
            parameters=(
                perturbation.parameters()
                if hasattr(perturbation, "parameters")
                else effective_parameters(p_entry.factory, f"perturbations.{perturbation_name}")
            ),
        )
    if parameters is None:
        parameters = effective_parameters(entry.factory, f"datasets.{base}")
    return DatasetRecord(
        name=display_name(base, perturbation_name),
        base=base,
        condition=perturbation_name or ORIGINAL,
        plugin=entry.plugin,
        distribution=entry.distribution,
        parameters=parameters,
        perturbation=perturbation_record,
        fingerprint=data.fingerprint,
        factor_names=list(data.factor_names),
        factors_num_values=[int(s) for s in data.factors_num_values],
    )


def display_name(base: str, perturbation: str | None = None) -> str:
    """``dsprites_small``, or ``dsprites_small+noise`` for its twin."""
    return base if perturbation is None else f"{base}+{perturbation}"


@dataclass
class BuiltDataset:
    """A registered dataset, perturbed if asked, as :func:`build_dataset` made it."""

    base: str
    parameters: dict[str, Any]  # the base dataset's effective hyperparameters
    data: Any  # perturbed when there is a perturbation
    perturbation_name: str | None = None
    perturbation: Any = None

    @property
    def name(self) -> str:
        return display_name(self.base, self.perturbation_name)

    def record(self, registry: Registry) -> DatasetRecord:
        """The dataset part of a run record (computes the content fingerprint)."""
        return dataset_record(
            registry,
            self.base,
            self.data,
            self.perturbation_name,
            self.perturbation,
            parameters=self.parameters,
        )


def build_dataset(
    registry: Registry,
    name: str,
    perturbation: str | None = None,
    *,
    parameters: dict[str, Any] | None = None,
    perturbation_parameters: dict[str, Any] | None = None,
) -> BuiltDataset:
    """The registered dataset ``name``, perturbed by the registered ``perturbation``.

    Hyperparameters come from gin, or, where given (to rebuild a recorded run), from
    ``parameters`` and ``perturbation_parameters``, which take precedence over gin's bindings.
    """
    data = registry.build("datasets", name, **(parameters or {}))
    effective = effective_parameters(registry.get("datasets", name).factory, f"datasets.{name}")
    effective.update(parameters or {})
    perturb = None
    if perturbation is not None:
        perturb = registry.build("perturbations", perturbation, **(perturbation_parameters or {}))
        data = perturb.apply(data)
    return BuiltDataset(name, effective, data, perturbation, perturb)
