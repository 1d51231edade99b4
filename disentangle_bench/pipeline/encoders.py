"""Any PyTorch encoder, scored on every registered dataset it fits and on their twins.

An *encoder* is a TorchScript file (``torch.jit.save`` of a module from float32 images in [0, 1]
to (N, D) codes) or a ``module:callable`` entry point: an importable ``torch.nn.Module`` instance,
or a callable that returns one when called without arguments. Either way it is the user's own
code: loading a TorchScript file or importing a module runs what its author wrote.

The input layout is NCHW unless the caller says NHWC or the file says so itself (the
representation files of :func:`disentangle_bench.pipeline.dlib_compat.export_mean_representation`
do). The *plan* is every registered dataset that

- is not itself a registered twin (twins are scored as a perturbation of their base),
- can be built (a loader without its files is skipped, with the reason),
- has at most ``max_configurations`` factor configurations (0: no limit; the default keeps the
  suite to the small datasets, so that it runs in a minute on a CPU),
- the encoder *fits*: a probe batch of two observations encodes to a (2, D) array,

each with its twins under ``perturbations`` (default: the structural ``oblique`` and the control
``noise``, with their gin-bound parameters). Naming datasets restricts the plan to them, whatever
their size. Every condition is scored with the same metrics and the same seed.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gin
import numpy as np
import torch

from disentangle_bench.metrics import FAST_VARIANTS
from disentangle_bench.pipeline.config import effective_parameters
from disentangle_bench.pipeline.dlib_compat import read_representation_metadata
from disentangle_bench.pipeline.experiment import ORIGINAL
from disentangle_bench.pipeline.record import dataset_record
from disentangle_bench.pipeline.representation import (
    DEFAULT_BATCH_SIZE,
    TorchRepresentation,
    load_torchscript,
)
from disentangle_bench.registry import Registry
from disentangle_bench.registry.contract import check_scores
from disentangle_bench.util.device import describe_device
from disentangle_bench.util.errors import BenchError, ConfigError, DataError, PluginError
from disentangle_bench.util.files import atomic_write_json

DEFAULT_PERTURBATIONS = ("oblique", "noise")
DEFAULT_MAX_CONFIGURATIONS = 10_000
#: The module whose dataset factories are the registered twins of the built-in datasets.
TWIN_MODULE = "disentangle_bench.perturbations.twins"
EVALUATION_FORMAT = 1
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class EncoderError(BenchError):
    """An encoder that cannot be loaded or scored."""


@dataclass
class Encoder:
    """A loaded encoder and where it came from."""

    module: torch.nn.Module
    name: str  # plugin-style name for records (lower-case, [a-z0-9_])
    source: dict[str, Any]  # kind, path or entry point, sha256 of a file, input layout
    metadata: dict[str, Any] | None = None  # a representation file's own description

    @property
    def input_layout(self) -> str:
        return str(self.source["input_layout"])


def is_entry_point(target: str | Path) -> bool:
    """``package.module:attribute`` that is not an existing path."""
    text = str(target)
    return bool(_ENTRY_POINT.match(text)) and not Path(text).exists()


def _record_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    return name if name and name[0].isalpha() else f"encoder_{name}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_encoder(
    target: str | Path, device: torch.device | str = "cpu", input_layout: str | None = None
) -> Encoder:
    """Load a TorchScript file or a ``module:callable`` entry point (see the module docstring).

    ``input_layout`` None: the file's own description, else NCHW.
    """
    if input_layout not in (None, "NCHW", "NHWC"):
        raise ConfigError(f"input layout must be NCHW or NHWC, got {input_layout!r}")
    if is_entry_point(target):
        module = _import_entry_point(str(target))
        layout = input_layout or "NCHW"
        source = {"kind": "entry_point", "entry_point": str(target), "input_layout": layout}
        return Encoder(module.to(device), _record_name(str(target)), source)
    path = Path(target)
    if not path.is_file():
        raise EncoderError(
            f"{path} is neither a TorchScript file nor a 'module:callable' entry point"
        )
    metadata = read_representation_metadata(path)
    layout = input_layout or (metadata or {}).get("input_layout") or "NCHW"
    module = load_torchscript(path, device)
    source = {
        "kind": "torchscript",
        "path": str(path),
        "sha256": file_sha256(path),
        "input_layout": layout,
    }
    return Encoder(module, _record_name(path.stem), source, metadata)


def _import_entry_point(target: str) -> torch.nn.Module:
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as error:  # the user's module: any failure is theirs to see in one line
        raise EncoderError(
            f"cannot import {module_name!r} for {target}: {type(error).__name__}: {error}"
        ) from error
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise EncoderError(f"{module_name!r} has no attribute {attribute!r} ({target})")
        obj = getattr(obj, part)
    if not isinstance(obj, torch.nn.Module):
        if not callable(obj):
            raise EncoderError(f"{target} is neither a torch.nn.Module nor a callable")
        try:
            obj = obj()
        except Exception as error:
            raise EncoderError(
                f"{target}() raised {type(error).__name__}: {error} (it is called without "
                "arguments and must return a torch.nn.Module)"
            ) from error
        if not isinstance(obj, torch.nn.Module):
            raise EncoderError(f"{target}() returned {type(obj).__name__}, not a torch.nn.Module")
    return obj


def representation_of(
    encoder: Encoder, device: torch.device | str, batch_size: int = DEFAULT_BATCH_SIZE
) -> TorchRepresentation:
    """The encoder as a representation function (``forward``; NCHW or NHWC input)."""
    return TorchRepresentation(
        encoder.module,
        torch.device(device),
        batch_size,
        method="forward",
        input_layout=encoder.input_layout,
    )


# -- what to score on ----------------------------------------------------------------------------


@dataclass
class Condition:
    """One dataset the encoder is scored on: a base dataset or one of its twins."""

    base: str
    condition: str  # "original" or the perturbation's name
    data: Any = field(repr=False)
    record: dict[str, Any] = field(repr=False)  # the dataset record of bench run's run.json

    @property
    def name(self) -> str:
        return str(self.record["name"])


@dataclass
class Plan:
    groups: list[list[Condition]]  # per base dataset: the original first, then its twins
    skipped: list[str]  # "<name>: <reason>", for what was not scored

    @property
    def conditions(self) -> list[Condition]:
        return [condition for group in self.groups for condition in group]


def shape_problem(expected: Sequence[int] | None, data: Any) -> str | None:
    """Why an encoder made for observations of shape ``expected`` cannot take ``data``."""
    if expected is None or tuple(expected) == tuple(data.observation_shape):
        return None
    return f"made for observations of shape {tuple(expected)}, not {data.observation_shape}"


def fit_problem(represent: Callable[[np.ndarray], np.ndarray], data: Any) -> str | None:
    """Why ``represent`` cannot encode ``data`` (a probe of two observations), or None."""
    random_state = np.random.RandomState(0)
    try:
        observations = data.sample_observations_from_factors(
            data.sample_factors(2, random_state), random_state
        )
        codes = np.asarray(represent(observations))
    except Exception as error:  # a shape mismatch inside the user's encoder, most often
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        # TorchScript puts its own stack first and the original error on the last line.
        return f"{type(error).__name__}: {lines[-1] if lines else ''}".strip()
    if codes.ndim != 2 or codes.shape[0] != 2:
        return f"two observations gave codes of shape {codes.shape}, not (2, D)"
    if not np.all(np.isfinite(codes)):
        return "the codes of two observations are not finite"
    return None


def _build_twin(registry: Registry, base: str, data: Any, perturbation: str) -> Condition:
    perturb = registry.build("perturbations", perturbation)
    twin = perturb.apply(data)
    return Condition(
        base, perturbation, twin, dataset_record(registry, base, twin, perturbation, perturb)
    )


def plan_conditions(
    registry: Registry,
    represent: Callable[[np.ndarray], np.ndarray],
    *,
    datasets: Sequence[str] | None = None,
    perturbations: Sequence[str] = DEFAULT_PERTURBATIONS,
    max_configurations: int = DEFAULT_MAX_CONFIGURATIONS,
    observation_shape: Sequence[int] | None = None,
) -> Plan:
    """The datasets and twins to score ``represent`` on (see the module docstring);
    ``observation_shape``, when known (a representation file records it), rules out datasets of
    another shape without running the encoder."""
    metadata_shape = observation_shape
    if max_configurations < 0:
        raise ConfigError(f"max_configurations must be 0 or positive, got {max_configurations}")
    for name in perturbations:
        registry.get("perturbations", name)  # unknown names fail first, with "did you mean"
    named = list(datasets) if datasets else None
    for name in named or ():
        registry.get("datasets", name)
    groups: list[list[Condition]] = []
    skipped: list[str] = []
    for name in named or registry.names("datasets"):
        entry = registry.get("datasets", name)
        if named is None and getattr(entry.factory, "__module__", "") == TWIN_MODULE:
            continue  # a registered twin: scored as its base's perturbation
        try:
            data = registry.build("datasets", name)
        except BenchError as error:
            if named is not None:
                raise
            skipped.append(f"{name}: not available ({error})")
            continue
        if named is None and max_configurations and data.num_configurations > max_configurations:
            skipped.append(
                f"{name}: {data.num_configurations:,} configurations, more than "
                f"{max_configurations:,} (name it, or raise the limit)"
            )
            continue
        problem = shape_problem(metadata_shape, data) or fit_problem(represent, data)
        if problem is not None:
            if named is not None:
                raise EncoderError(f"the encoder does not fit {name!r}: {problem}")
            skipped.append(f"{name}: does not fit ({problem})")
            continue
        group = [Condition(name, ORIGINAL, data, dataset_record(registry, name, data))]
        for perturbation in perturbations:
            try:
                group.append(_build_twin(registry, name, data, perturbation))
            except (BenchError, ValueError) as error:
                skipped.append(f"{name}+{perturbation}: cannot be built ({error})")
        groups.append(group)
    return Plan(groups, skipped)


def single_condition(
    registry: Registry, dataset: str, perturbation: str | None = None
) -> Condition:
    """One named dataset, perturbed by ``perturbation`` when given."""
    data = registry.build("datasets", dataset)
    if perturbation is None:
        return Condition(dataset, ORIGINAL, data, dataset_record(registry, dataset, data))
    return _build_twin(registry, dataset, data, perturbation)


# -- scoring -------------------------------------------------------------------------------------


@dataclass
class Scored:
    """One metric on one condition."""

    metric: str
    scores: dict[str, float]
    parameters: dict[str, Any]
    random_seed: int
    seconds: float


def score_condition(
    registry: Registry,
    represent: Callable[[np.ndarray], np.ndarray],
    condition: Condition,
    metrics: Sequence[str],
    random_seed: int,
    stream: TextIO | None = None,
) -> list[Scored]:
    """Every metric on ``condition``, each with a fresh ``np.random.RandomState(random_seed)``."""
    stream = stream if stream is not None else sys.stdout
    results = []
    for name in metrics:
        started = time.perf_counter()
        metric = registry.build("metrics", name)
        try:
            values = metric(condition.data, represent, np.random.RandomState(random_seed))
        except ValueError as error:
            text = str(error).strip().splitlines()
            raise EncoderError(
                f"metric {name!r} on {condition.name}: {text[0] if text else error!r}"
            ) from error
        try:  # the same check as bench run's: finite real numbers only, NaN refused
            scores = check_scores(registry.get("metrics", name).origin, name, values)
        except PluginError as error:
            raise EncoderError(f"on {condition.name}: {error}") from None
        seconds = time.perf_counter() - started
        parameters = effective_parameters(registry.get("metrics", name).factory, f"metrics.{name}")
        results.append(Scored(name, scores, parameters, int(random_seed), seconds))
        shown = ", ".join(f"{key}={value:.4f}" for key, value in scores.items())
        print(f"  {condition.name} {name}: {shown}", file=stream, flush=True)
    return results


def evaluation_record(
    scored: Scored,
    condition: Condition,
    source: dict[str, Any],
    device: torch.device,
    versions: dict[str, str],
    name: str = "",
) -> dict[str, Any]:
    """An evaluation record in ``bench evaluate``'s format (``<metric>.json``)."""
    from datetime import datetime, timezone

    return {
        "format_version": EVALUATION_FORMAT,
        "metric": scored.metric,
        "name": name or scored.metric,
        "scores": scored.scores,
        "fast_variant_of": FAST_VARIANTS.get(scored.metric),
        "parameters": scored.parameters,
        "random_seed": scored.random_seed,
        "source": {**source, "dataset": condition.name},
        "dataset": {
            "name": condition.name,
            "fingerprint": condition.record["fingerprint"],
            "factor_names": condition.record["factor_names"],
            "factors_num_values": condition.record["factors_num_values"],
        },
        "operative_gin": gin.operative_config_str(),
        "versions": versions,
        "device": describe_device(device),
        "wall_seconds": scored.seconds,
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def append_evaluation(path: Path, record: dict[str, Any]) -> None:
    """Add ``record`` to the evaluation file ``path`` (earlier evaluations are kept)."""
    history: list[Any] = []
    if path.exists():
        try:
            history = json.loads(path.read_text(encoding="utf-8"))["evaluations"]
            if not isinstance(history, list):
                raise TypeError("'evaluations' is not a list")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(
                f"{path} exists but is not an evaluation file ({error}); move it away to keep it"
            ) from error
    atomic_write_json(path, {"metric": record["metric"], "evaluations": [*history, record]})
