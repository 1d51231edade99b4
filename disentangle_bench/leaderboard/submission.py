"""Build a submission from ``bench run`` records, and name its file safely.

A path given to ``bench submit`` is a run directory (holding ``run.json``) or an output
directory of ``bench run`` (holding ``runs/<run_id>/run.json``). Every record must be a finished
run; the runs must all use one model (one method per submission).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from disentangle_bench.leaderboard.schema import (
    FORMAT,
    FORMAT_VERSION,
    HASH_FIELD,
    content_hash,
    sha256_hex,
)
from disentangle_bench.pipeline.record import (
    RUN_RECORD_FILE,
    RunRecord,
    RunRecordError,
    load_run_record,
)
from disentangle_bench.util.errors import BenchError

SUBMISSIONS_DIR = "submissions"
#: Training settings that do not change a run's result (bookkeeping) or differ per run.
RUN_ONLY_TRAINING_KEYS = (
    "steps_completed",
    "resumed_from_step",
    "final_losses",
    "checkpoint_every",
    "log_every",
)
MAX_FILE_STEM = 80
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


class RunCollectionError(BenchError):
    """A path that holds no usable run records."""


def collect_run_records(paths: Sequence[str | Path]) -> list[RunRecord]:
    """Every finished run record under ``paths`` (run dirs or ``bench run`` output dirs)."""
    if not paths:
        raise RunCollectionError("name at least one run or bench run output directory")
    records: list[RunRecord] = []
    seen: set[Path] = set()
    for given in paths:
        for record_path in _record_paths(Path(given)):
            resolved = record_path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            records.append(_load_record(record_path))
    return records


def _record_paths(path: Path) -> Iterable[Path]:
    if not path.exists():
        raise RunCollectionError(f"{path} does not exist")
    if (path / RUN_RECORD_FILE).is_file():
        return [path / RUN_RECORD_FILE]
    runs = path / "runs"
    if path.is_dir() and runs.is_dir():
        found = []
        for run_dir in sorted(p for p in runs.iterdir() if p.is_dir()):
            record = run_dir / RUN_RECORD_FILE
            if not record.is_file():
                raise RunCollectionError(
                    f"{run_dir} has no {RUN_RECORD_FILE}: the run has not finished; rerun "
                    "bench run to finish it, or remove the directory"
                )
            found.append(record)
        if not found:
            raise RunCollectionError(f"{runs} holds no runs")
        return found
    raise RunCollectionError(
        f"{path} is neither a run directory (with {RUN_RECORD_FILE}) nor a bench run output "
        "directory (with runs/)"
    )


def _load_record(path: Path) -> RunRecord:
    try:
        return load_run_record(path, parse_int=_bounded_int)
    except RunRecordError as error:
        raise RunCollectionError(str(error)) from error


def _bounded_int(text: str) -> int:
    from disentangle_bench.leaderboard.validation import bounded_int

    return bounded_int(text)


def split_distribution(distribution: str) -> tuple[str, str | None]:
    """``"disentangle-bench 0.1.0"`` -> ``("disentangle-bench", "0.1.0")``."""
    name, _, version = str(distribution).rpartition(" ")
    if not name or not re.match(r"^[0-9]", version):
        return str(distribution), None
    return name, version


def config_of(record: dict[str, Any]) -> dict[str, Any]:
    """The configuration a run shares with its twins and seeds (its id derives from it)."""
    training = {
        key: value
        for key, value in (record.get("training") or {}).items()
        if key not in RUN_ONLY_TRAINING_KEYS
    }
    return {
        "hyperparameters": (record.get("model") or {}).get("hyperparameters") or {},
        "training": training,
        "metric_parameters": record.get("metric_parameters") or {},
        "evaluation_seed": record.get("evaluation_seed", 0),
    }


def config_id(config: dict[str, Any]) -> str:
    """``c-`` + 12 hex digits of sha256 over the canonical JSON of the config without its id."""
    body = {key: value for key, value in config.items() if key != "id"}
    return "c-" + sha256_hex(body)[:12]


def _wall_seconds(record: dict[str, Any]) -> float:
    wall = record.get("wall_seconds") or {}
    evaluation = wall.get("evaluation") or {}
    total = float(wall.get("data", 0.0)) + float(wall.get("train", 0.0))
    total += sum(float(v) for v in evaluation.values()) if isinstance(evaluation, dict) else 0.0
    return total


def _run_entry(record: dict[str, Any], config: str) -> dict[str, Any]:
    dataset = record.get("dataset") or {}
    perturbation = dataset.get("perturbation")
    perturbation_entry = None
    if perturbation:
        parameters = perturbation.get("parameters") or {}
        perturbation_entry = {
            "name": perturbation.get("name"),
            "eps": parameters.get("eps"),
            "parameters": parameters,
            "plugin": perturbation.get("plugin"),
            "distribution": perturbation.get("distribution"),
        }
    versions = {str(k): str(v) for k, v in (record.get("versions") or {}).items()}
    return {
        "run_id": record.get("run_id"),
        "config": config,
        "seed": record.get("seed"),
        "dataset": {
            "name": dataset.get("name"),
            "base": dataset.get("base"),
            "condition": dataset.get("condition"),
            "parameters": dataset.get("parameters") or {},
            "plugin": dataset.get("plugin"),
            "distribution": dataset.get("distribution"),
            "perturbation": perturbation_entry,
            "fingerprint": dataset.get("fingerprint"),
        },
        "steps": (record.get("training") or {}).get("steps_completed"),
        "metrics": record.get("metrics"),
        "device": record.get("device"),
        "wall_seconds": _wall_seconds(record),
        "project_version": versions.get("disentangle_bench", "unknown"),
        "versions": versions,
        "operative_gin": (record.get("config") or {}).get("operative_gin", ""),
    }


def build_submission(records: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    """The submission of ``records`` (one model) under the display name ``name``.

    The result is not validated; see :func:`disentangle_bench.leaderboard.validation.check`.
    """
    if not records:
        raise RunCollectionError("no runs to submit")
    models = sorted({str((r.get("model") or {}).get("name")) for r in records})
    if len(models) > 1:
        raise RunCollectionError(
            f"the runs use several models ({', '.join(models)}); a submission holds one method: "
            "submit each model's runs separately"
        )
    model = records[0].get("model") or {}
    distribution, version = split_distribution(model.get("distribution", ""))
    configs: dict[str, dict[str, Any]] = {}
    runs = []
    for record in records:
        config = config_of(record)
        identifier = config_id(config)
        configs.setdefault(identifier, {"id": identifier, **config})
        runs.append(_run_entry(record, identifier))
    runs.sort(key=run_sort_key)
    submission: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": {
            "name": name,
            "model": model.get("name"),
            "plugin": model.get("plugin"),
            "distribution": distribution,
            "version": version,
        },
        "configs": [configs[key] for key in sorted(configs)],
        "runs": runs,
    }
    _refuse_non_finite(runs)
    try:
        submission[HASH_FIELD] = content_hash(submission)
    except ValueError:  # NaN or infinity outside the scores (a hand-edited run record)
        raise RunCollectionError(
            "the run records hold a number that is not finite (NaN or infinity) outside their "
            "scores; they cannot be submitted"
        ) from None
    return submission


def _refuse_non_finite(runs: list[dict[str, Any]]) -> None:
    """NaN and infinity have no JSON form: name them before hashing fails on them."""
    bad = [
        f"run {run['run_id']!r}: {metric}.{key} = {value}"
        for run in runs
        for metric, values in sorted((run.get("metrics") or {}).items())
        if isinstance(values, dict)
        for key, value in sorted(values.items())
        if isinstance(value, float) and not math.isfinite(value)
    ]
    if bad:
        raise RunCollectionError(
            f"scores that are not finite cannot be submitted: {'; '.join(bad[:5])}"
            + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        )


def run_sort_key(run: dict[str, Any]) -> tuple[str, str, str, int, str]:
    dataset = run.get("dataset") or {}
    condition = str(dataset.get("condition"))
    return (
        str(run.get("config")),
        str(dataset.get("base")),
        "" if condition == "original" else condition,
        int(run.get("seed") or 0),
        str(run.get("run_id")),
    )


def sanitise_file_stem(name: str) -> str:
    """A safe file name stem for a submission name: lower case ``[a-z0-9._-]`` (one file per
    name on case-insensitive file systems too), no leading dot or dash, no ``..``, at most 80
    characters (``"../../etc/passwd"`` -> ``"etc-passwd"``)."""
    stem = _UNSAFE.sub("-", str(name).lower())
    stem = re.sub(r"\.{2,}", ".", stem)
    stem = re.sub(r"-{2,}", "-", stem)
    stem = stem.strip(".-_")[:MAX_FILE_STEM].strip(".-_")
    if not stem:
        raise BenchError(
            f"the name {name!r} leaves no usable file name; use letters, digits, '.', '_' or '-'"
        )
    return stem


def submission_path(directory: str | Path, name: str) -> Path:
    """``<directory>/submissions/<sanitised name>.json``, checked to stay inside it."""
    base = Path(directory) / SUBMISSIONS_DIR
    path = base / f"{sanitise_file_stem(name)}.json"
    if path.resolve().parent != base.resolve():
        raise BenchError(f"refusing to write a submission outside {base}: {path}")
    return path
