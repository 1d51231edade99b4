"""Checks on a submission, which is untrusted input.

In order: size and JSON syntax (no NaN/Infinity), the JSON Schema, the content hash, config ids,
one entry per (config, dataset, condition and eps, seed), finite scores within their key's range
(:mod:`~disentangle_bench.leaderboard.ranges`), complete twins (every (config, base dataset) has
original runs and at least one perturbed twin, all conditions with the same seeds and score
keys), and optionally the dataset fingerprints against the registered datasets. Every check
reports all of its problems; :class:`SubmissionError` lists them in one line.
"""

from __future__ import annotations

import json
import math
import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from disentangle_bench.leaderboard.ranges import value_problem
from disentangle_bench.leaderboard.schema import (
    FORMAT,
    HASH_FIELD,
    MAX_FILE_BYTES,
    SubmissionError,
    content_hash,
    schema_problems,
    sha256_hex,
)
from disentangle_bench.leaderboard.submission import config_id

ORIGINAL = "original"


# -- reading --------------------------------------------------------------------------------------


def parse_submission(data: bytes, source: str) -> dict[str, Any]:
    """Decode ``data`` (at most 5 MB of UTF-8 JSON, no NaN/Infinity) into a dict."""
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionError(
            source, [f"{len(data):,} bytes is over the limit of {MAX_FILE_BYTES:,} bytes"]
        )
    try:
        text = data.decode("utf-8")
        payload = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError as error:
        raise SubmissionError(source, [f"not UTF-8 text ({error.reason})"]) from None
    except (ValueError, RecursionError) as error:
        raise SubmissionError(source, [f"not valid JSON: {error}"]) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SubmissionError(source, [f'not a submission (no "format": "{FORMAT}")'])
    return payload


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a float")
    return value


def load_submission(path: str | Path, source: str | None = None) -> dict[str, Any]:
    """Read a submission file: a regular file (not a link), at most 5 MB. ``source`` names it in
    messages (default: the path)."""
    path = Path(path)
    source = source if source is not None else str(path)
    try:
        info = path.lstat()
    except OSError as error:
        raise SubmissionError(source, [f"cannot read it: {error.strerror}"]) from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise SubmissionError(source, ["not a regular file (links are not followed)"])
    if info.st_size > MAX_FILE_BYTES:
        raise SubmissionError(
            source, [f"{info.st_size:,} bytes is over the limit of {MAX_FILE_BYTES:,} bytes"]
        )
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    return parse_submission(data, source)


# -- checks ---------------------------------------------------------------------------------------


def check(
    submission: Any,
    source: str,
    *,
    fingerprints: bool = False,
    registry: Any = None,
    others: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Raise :class:`SubmissionError` listing every problem of ``submission``.

    ``fingerprints``: also rebuild each dataset through the registry and compare fingerprints.
    ``others``: accepted submissions (source -> submission) it must not duplicate.
    """
    found = problems(submission)
    if not found and others:
        found = duplicate_problems(submission, others)
    if not found and fingerprints:
        found = fingerprint_problems(submission, registry)
    if found:
        raise SubmissionError(source, found)


def problems(submission: Any) -> list[str]:
    """Schema, hash and consistency problems (no registry needed)."""
    found = schema_problems(submission)
    if found:
        return found
    try:
        expected = content_hash(submission)
    except ValueError:  # NaN or infinity (only possible for a submission built in memory)
        return ["holds a number that is not finite"]
    if submission[HASH_FIELD] != expected:
        return [
            f"content_hash {submission[HASH_FIELD]} does not match the content ({expected}); the "
            "file was edited after bench submit built it"
        ]
    found += _config_problems(submission)
    found += _duplicate_run_problems(submission["runs"])
    found += _dataset_problems(submission["runs"])
    found += _score_problems(submission["runs"])
    if not found:
        found += _twin_problems(submission["runs"])
    return found


def _config_problems(submission: dict[str, Any]) -> list[str]:
    found = []
    ids = [config["id"] for config in submission["configs"]]
    for config in submission["configs"]:
        if config_id(config) != config["id"]:
            found.append(f"config {config['id']} does not match its content ({config_id(config)})")
    if len(set(ids)) != len(ids):
        found.append("config ids repeat")
    used = {run["config"] for run in submission["runs"]}
    for run in submission["runs"]:
        if run["config"] not in ids:
            found.append(f"run {run['run_id']!r} names an unknown config {run['config']}")
    for unused in sorted(set(ids) - used):
        found.append(f"config {unused} is used by no run")
    return found


def _duplicate_run_problems(runs: list[dict[str, Any]]) -> list[str]:
    found = []
    by_key: dict[tuple, str] = {}
    for run in runs:
        dataset = run["dataset"]
        key = (run["config"], dataset["base"], condition_label(run), run["seed"])
        if key in by_key:
            found.append(
                f"duplicate run: {run['run_id']!r} repeats {by_key[key]!r} (same config "
                f"{run['config']}, dataset {dataset['name']!r} and seed {run['seed']})"
            )
        by_key.setdefault(key, run["run_id"])
    return found


def _dataset_problems(runs: list[dict[str, Any]]) -> list[str]:
    found = []
    fingerprints: dict[tuple, set[str]] = defaultdict(set)
    for run in runs:
        dataset, label = run["dataset"], repr(run["run_id"])
        perturbation = dataset["perturbation"]
        condition = dataset["condition"]
        if condition == ORIGINAL:
            if perturbation is not None:
                found.append(f"run {label}: condition 'original' but a perturbation is recorded")
            expected_name = dataset["base"]
        else:
            if perturbation is None or perturbation["name"] != condition:
                found.append(f"run {label}: condition {condition!r} does not name its perturbation")
                continue
            if perturbation["eps"] != perturbation["parameters"].get("eps"):
                found.append(f"run {label}: eps differs from the perturbation's parameters")
            expected_name = f"{dataset['base']}+{condition}"
        if dataset["name"] != expected_name:
            found.append(f"run {label}: dataset name {dataset['name']!r} != {expected_name!r}")
        key = (run["config"], dataset["base"], condition_label(run))
        fingerprints[key].add(dataset["fingerprint"])
    for (config, base, condition), values in sorted(fingerprints.items()):
        if len(values) > 1:
            found.append(
                f"config {config} on {base!r} ({condition}): the runs disagree on the dataset "
                "fingerprint"
            )
    return found


def _score_problems(runs: list[dict[str, Any]]) -> list[str]:
    found = []
    for run in runs:
        for metric, values in sorted(run["metrics"].items()):
            for key, value in sorted(values.items()):
                problem = value_problem(key, value)
                if problem is not None:
                    found.append(f"run {run['run_id']!r}: {metric}.{key} {problem}")
    return found


def _twin_problems(runs: list[dict[str, Any]]) -> list[str]:
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for run in runs:
        groups[run["config"], run["dataset"]["base"]][condition_label(run)].append(run)
    found = []
    for (config, base), by_condition in sorted(groups.items()):
        where = f"config {config} on {base!r}"
        perturbed = sorted(c for c in by_condition if c != ORIGINAL)
        if ORIGINAL not in by_condition:
            found.append(
                f"partial submission: {where} has perturbed runs ({', '.join(perturbed)}) but no "
                "original runs; submit each dataset with its original and perturbed twins"
            )
            continue
        if not perturbed:
            found.append(
                f"partial submission: {where} has only original runs, no perturbed twin (e.g. "
                "oblique or noise); submit each dataset with its original and perturbed twins"
            )
            continue
        reference_seeds = sorted(r["seed"] for r in by_condition[ORIGINAL])
        reference_keys = _score_keys(by_condition[ORIGINAL][0])
        for condition, group in sorted(by_condition.items()):
            seeds = sorted(r["seed"] for r in group)
            if seeds != reference_seeds:
                found.append(
                    f"partial submission: {where} has seeds {reference_seeds} on the original "
                    f"but {seeds} on {condition}; every condition needs the same seeds"
                )
            for run in group:
                if _score_keys(run) != reference_keys:
                    found.append(
                        f"run {run['run_id']!r} reports other scores than the original runs of "
                        f"{where}"
                    )
    return found


def condition_label(run: dict[str, Any]) -> str:
    """``original``, or the perturbation's name and strength (``oblique (eps 0.1)``): twins at
    two strengths are two conditions."""
    dataset = run["dataset"]
    perturbation = dataset["perturbation"]
    if dataset["condition"] == ORIGINAL or perturbation is None or perturbation["eps"] is None:
        return dataset["condition"]
    return f"{dataset['condition']} (eps {perturbation['eps']:g})"


def _score_keys(run: dict[str, Any]) -> list[str]:
    return sorted(f"{m}.{k}" for m, values in run["metrics"].items() for k in values)


# -- against other submissions ------------------------------------------------------------------


def run_hash(submission: dict[str, Any], run: dict[str, Any]) -> str:
    """Identity of one run across submissions: its entry plus the model it trained."""
    return sha256_hex({"model": submission["method"]["model"], "run": run})


def duplicate_problems(
    submission: dict[str, Any], others: Mapping[str, dict[str, Any]]
) -> list[str]:
    """Problems of ``submission`` given already accepted ``others`` (source -> submission)."""
    found = []
    name = submission["method"]["name"].casefold()
    runs = {run_hash(submission, run): run["run_id"] for run in submission["runs"]}
    for source, other in sorted(others.items()):
        if other.get(HASH_FIELD) == submission[HASH_FIELD]:
            found.append(f"duplicate submission: same content hash as {source}")
            continue
        if other["method"]["name"].casefold() == name:
            found.append(
                f"method name {submission['method']['name']!r} is already used by {source}"
            )
        shared = sorted(runs[h] for h in _run_hashes(other) if h in runs)
        if shared:
            found.append(
                f"duplicate runs: {len(shared)} run(s) already submitted in {source} (first: "
                f"{shared[0]!r})"
            )
    return found


def _run_hashes(submission: dict[str, Any]) -> Iterable[str]:
    return (run_hash(submission, run) for run in submission["runs"])


# -- against the registry -----------------------------------------------------------------------


def fingerprint_problems(submission: dict[str, Any], registry: Any = None) -> list[str]:
    """Rebuild every distinct dataset of the runs and compare its content fingerprint.

    Each dataset is built by calling the registered factory with the recorded parameters (not
    through gin), then the recorded perturbation with its recorded parameters.
    """
    if registry is None:
        from disentangle_bench.registry import Registry

        registry = Registry()
    found = []
    bases: dict[str, Any] = {}
    checked: set[str] = set()
    for run in submission["runs"]:
        dataset = run["dataset"]
        key = sha256_hex([dataset["base"], dataset["parameters"], dataset["perturbation"]])
        if key in checked:
            continue
        checked.add(key)
        try:
            base_key = sha256_hex([dataset["base"], dataset["parameters"]])
            if base_key not in bases:
                bases[base_key] = _build(registry, "datasets", dataset["base"], dataset)
            data = bases[base_key]
            if dataset["perturbation"] is not None:
                perturbation = dataset["perturbation"]
                data = _build(registry, "perturbations", perturbation["name"], perturbation).apply(
                    data
                )
            actual = data.fingerprint
        except Exception as error:  # a plugin that is missing or fails on these parameters
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            found.append(f"dataset {dataset['name']!r} cannot be rebuilt to check it: {message}")
            continue
        if actual != dataset["fingerprint"]:
            found.append(
                f"dataset {dataset['name']!r}: fingerprint {dataset['fingerprint'][:12]} does not "
                f"match the registered dataset ({actual[:12]}) built with the recorded parameters"
            )
    return found


def _build(registry: Any, kind: str, name: str, record: dict[str, Any]) -> Any:
    parameters = record["parameters"]
    for key, value in parameters.items():
        if not (value is None or isinstance(value, (bool, int, str)) or _finite(value)):
            raise ValueError(f"parameter {key!r} is not a plain value")
    return registry.get(kind, name).factory(**parameters)


def _finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)
