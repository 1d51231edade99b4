"""A leaderboard submission from encoders that ``bench run`` did not train.

Each entry is a representation function scored on one condition (a base dataset or one of its
twins, :class:`~disentangle_bench.pipeline.encoders.Condition`) with the same metrics and seed.
The entries become run records of the same shape as ``bench run``'s, then one submission
(:func:`~disentangle_bench.leaderboard.submission.build_submission`), which passes every check
of ``bench submit`` (fingerprints included) before it is written atomically to
``BOARD/submissions/<name>.json`` (``BOARD`` defaults to the current directory, as for
``bench submit``).

Two protocols, recorded in each config's ``training.protocol`` (so they never share a row):

- ``fixed_encoder``: one encoder, trained elsewhere once, scored on the original and on each twin
  (``bench evaluate ENCODER --submit NAME``; the NeurIPS 2019 disentanglement challenge scored a
  submitted encoder on held-back data the same way). It measures how the encoder's scores change
  when the variance structure of its input is hidden, not what the method learns from the twin.
- ``trained_per_condition``: one model trained on each condition and scored there, as ``bench
  run`` does (the disent bridge's ``score_and_submit`` with one model per condition).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import gin
import numpy as np
import torch

from disentangle_bench.leaderboard.build import load_accepted
from disentangle_bench.leaderboard.submission import build_submission, submission_path
from disentangle_bench.leaderboard.validation import check
from disentangle_bench.pipeline.encoders import Condition, Scored, score_condition
from disentangle_bench.pipeline.record import versions
from disentangle_bench.registry import Registry
from disentangle_bench.util.device import describe_device
from disentangle_bench.util.errors import BenchError
from disentangle_bench.util.files import atomic_write_json

PROTOCOLS = ("fixed_encoder", "trained_per_condition")
RUN_RECORD_FORMAT = 1


@dataclass
class Entry:
    """One representation on one condition; ``seed`` and ``steps`` describe its training."""

    condition: Condition
    represent: Callable[[np.ndarray], np.ndarray]
    seed: int = 0
    steps: int = 0
    training: dict[str, Any] | None = None  # e.g. batch size, learning rate (the config's)


def run_record(
    entry: Entry,
    scored: Sequence[Scored],
    *,
    model: dict[str, Any],
    protocol: str,
    evaluation_seed: int,
    device: str,
    operative_gin: str = "",
) -> dict[str, Any]:
    """A run record (``bench run``'s fields that a submission reads) for a scored entry."""
    condition = entry.condition
    return {
        "format_version": RUN_RECORD_FORMAT,
        "run_id": f"{condition.base}-{condition.condition}-{model['name']}-seed{entry.seed}",
        "status": "complete",
        "seed": int(entry.seed),
        "evaluation_seed": int(evaluation_seed),
        "dataset": condition.record,
        "model": {
            "name": model["name"],
            "plugin": model["plugin"],
            "distribution": model["distribution"],
            "hyperparameters": model.get("hyperparameters") or {},
        },
        "training": {
            **(entry.training or {}),
            "protocol": protocol,
            "steps_completed": int(entry.steps),
        },
        "metrics": {s.metric: s.scores for s in scored},
        "metric_parameters": {s.metric: s.parameters for s in scored},
        "config": {"operative_gin": operative_gin},
        "versions": versions(),
        "device": device,
        "wall_seconds": {
            "data": 0.0,
            "train": 0.0,
            "evaluation": {s.metric: s.seconds for s in scored},
        },
    }


def write_submission(
    records: Sequence[dict[str, Any]],
    name: str,
    board: str | Path,
    *,
    overwrite: bool = False,
    fingerprints: bool = True,
    registry: Registry | None = None,
) -> Path:
    """Build, check (as ``bench submit`` does) and write the submission of ``records``."""
    board = Path(board)
    path = submission_path(board, name)
    if path.exists() and not overwrite:
        raise BenchError(f"{path} exists; choose another name or pass overwrite to replace it")
    submission = build_submission(records, name)
    others = {}
    if (board / "submissions").is_dir():
        others = load_accepted(board, stream=io.StringIO())
        others.pop(f"submissions/{path.name}", None)
    check(submission, str(path), fingerprints=fingerprints, registry=registry, others=others)
    atomic_write_json(path, submission)
    return path


def score_and_submit(
    entries: Sequence[Entry],
    *,
    model: dict[str, Any],
    name: str,
    metrics: Sequence[str],
    board: str | Path = ".",
    protocol: str = "fixed_encoder",
    evaluation_seed: int = 0,
    registry: Registry | None = None,
    device: torch.device | str = "cpu",
    overwrite: bool = False,
    fingerprints: bool = True,
    operative_gin: str = "",
    stream: TextIO | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Score every entry with ``metrics`` (hyperparameters from the current gin config), then
    write one validated submission under the display name ``name``; return its path and the
    run records. ``model`` names the method: ``name`` (plugin-style), ``plugin``,
    ``distribution`` and ``hyperparameters``."""
    stream = stream if stream is not None else sys.stdout
    registry = registry if registry is not None else Registry()
    if protocol not in PROTOCOLS:
        raise BenchError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if not entries:
        raise BenchError("nothing to submit: no dataset was scored")
    if not metrics:
        raise BenchError("no metric to score: name at least one")
    for metric in metrics:  # bad names and hyperparameters fail before any work
        registry.build("metrics", metric)
    described = describe_device(torch.device(device))
    records = []
    for entry in entries:
        scored = score_condition(
            registry, entry.represent, entry.condition, metrics, evaluation_seed, stream
        )
        records.append(
            run_record(
                entry,
                scored,
                model=model,
                protocol=protocol,
                evaluation_seed=evaluation_seed,
                device=described,
                operative_gin=operative_gin or gin.operative_config_str(),
            )
        )
    path = write_submission(
        records, name, board, overwrite=overwrite, fingerprints=fingerprints, registry=registry
    )
    print(f"wrote {path}: {len(records)} runs", file=stream, flush=True)
    return path, records
