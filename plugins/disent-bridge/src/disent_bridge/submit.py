"""A disent-trained model scored with disentangle-bench's metrics, as a leaderboard submission.

:func:`score_and_submit` is the one call: it takes the trained framework(s), scores each on its
dataset (the base dataset, or one of its perturbed twins) with disentangle-bench's metrics
(disentanglement_lib's numbers, given the same seed) and writes one submission that has passed
every check of ``bench submit``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from disent_bridge._disent import disent_version

ORIGINAL = "original"


def _representation(model: Any, device: torch.device) -> Any:
    from disentangle_bench.pipeline.representation import TorchRepresentation

    if not callable(getattr(model, "encode", None)):
        raise TypeError(f"{type(model).__name__} has no encode(x); pass a disent framework")
    return TorchRepresentation(model, device, method="encode")


def method_record(model: Any) -> dict[str, Any]:
    """The method a submission names: a bridge model plugin, or any disent framework (its
    class, its config fields and its latent size)."""
    from disent_bridge.models import DisentModel

    if isinstance(model, DisentModel):
        framework, name = model.framework, model.name
    else:
        framework, name = model, f"disent_{type(model).__name__.lower()}"
    hyperparameters: dict[str, Any] = {"framework": type(framework).__name__}
    cfg = getattr(framework, "cfg", None)
    if dataclasses.is_dataclass(cfg):
        for key, value in dataclasses.asdict(cfg).items():
            hyperparameters[key] = value if _plain(value) else repr(value)
    inner = getattr(framework, "_model", None)
    if inner is not None and hasattr(inner, "z_size"):
        hyperparameters["z_size"] = int(inner.z_size)
        hyperparameters["encoder"] = type(getattr(inner, "_encoder", None)).__name__
        hyperparameters["decoder"] = type(getattr(inner, "_decoder", None)).__name__
    return {
        "name": name,
        "plugin": "disent",
        "distribution": f"disent {disent_version()}",
        "hyperparameters": hyperparameters,
    }


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def score_and_submit(
    models: Any,
    *,
    name: str,
    dataset: str,
    perturbations: Sequence[str] = ("oblique", "noise"),
    metrics: Sequence[str] = ("mig",),
    gin_files: Sequence[str | Path] = (),
    bindings: Sequence[str] = (),
    board: str | Path = ".",
    evaluation_seed: int = 0,
    steps: int = 0,
    training: dict[str, Any] | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    registry: Any = None,
    stream: TextIO | None = None,
) -> Path:
    """Score disent-trained models with disentangle-bench's metrics and write a submission.

    Args:
        models: either one trained framework (scored on ``dataset`` and on each of its
            ``perturbations`` twins: the ``fixed_encoder`` protocol), or a mapping from
            condition (``"original"`` and each perturbation's name) to the framework trained on
            that condition's data, or to a list of them, one per training seed (the
            ``trained_per_condition`` protocol, what ``bench run`` does). Every condition needs
            the same number of models.
        name: the method's display name (also the file name, ``board/submissions/<name>.json``;
            ``board`` defaults to the current directory, as ``bench submit``'s ``--to``).
        dataset: a registered dataset; its twins are ``<dataset>+<perturbation>``.
        metrics: disentangle-bench metric names; their hyperparameters come from ``gin_files``
            and ``bindings`` (parsed when given, e.g. ``"mig.num_train = 1000"``) or the current
            gin config.
        steps, training: what the training did (recorded in each run: steps, batch size, ...).
        device: where the encoders run.

    Returns the path of the written submission.
    """
    from disentangle_bench.leaderboard.encoders import Entry
    from disentangle_bench.leaderboard.encoders import score_and_submit as submit_entries
    from disentangle_bench.pipeline.encoders import single_condition
    from disentangle_bench.pipeline.evaluation import parse_evaluation_gin
    from disentangle_bench.registry import Registry
    from disentangle_bench.util.errors import ConfigError

    registry = registry if registry is not None else Registry()
    if gin_files or bindings:
        parse_evaluation_gin(gin_files, bindings)
    torch_device = torch.device(device)
    conditions = {ORIGINAL: single_condition(registry, dataset)}
    for perturbation in perturbations:
        conditions[perturbation] = single_condition(registry, dataset, perturbation)

    if isinstance(models, Mapping):
        protocol = "trained_per_condition"
        unknown = sorted(set(models) - set(conditions))
        missing = sorted(set(conditions) - set(models))
        if unknown or missing:
            raise ConfigError(
                f"models must map each of {sorted(conditions)} to its trained model(s); "
                f"unknown {unknown}, missing {missing}"
            )
        per_condition = {
            key: list(value) if isinstance(value, (list, tuple)) else [value]
            for key, value in models.items()
        }
        counts = {len(value) for value in per_condition.values()}
        if len(counts) != 1:
            raise ConfigError("every condition needs the same number of models (seeds)")
        entries = [
            Entry(conditions[key], _representation(model, torch_device), seed, steps, training)
            for key in conditions
            for seed, model in enumerate(per_condition[key])
        ]
        first = per_condition[ORIGINAL][0]
    else:
        protocol = "fixed_encoder"
        represent = _representation(models, torch_device)
        entries = [Entry(c, represent, 0, steps, training) for c in conditions.values()]
        first = models
    for entry in entries:
        entry.represent.model.eval()
    path, _ = submit_entries(
        entries,
        model=method_record(first),
        name=name,
        metrics=list(metrics),
        board=board,
        protocol=protocol,
        evaluation_seed=evaluation_seed,
        registry=registry,
        device=torch_device,
        overwrite=overwrite,
        stream=stream if stream is not None else sys.stdout,
    )
    return path
