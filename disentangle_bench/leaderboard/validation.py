"""Checks on a submission, which is untrusted input.

In order: size and JSON syntax (no NaN/Infinity, no float or integer too large), the JSON
Schema, the content hash, config ids, one entry per (config, dataset, condition and eps, seed),
scores that are finite floats of bounded size within their key's range
(:mod:`~disentangle_bench.leaderboard.ranges`), complete twins (every (config, base dataset) has
original runs and at least one perturbed twin, all conditions with the same seeds and score
keys), and optionally the dataset fingerprints against the registry's own datasets (never built
from what the submission records: see :func:`fingerprint_report`). Every check reports all of
its problems; :class:`SubmissionError` lists them in one line.

:func:`admit` is the one path from a file to an accepted submission: ``bench leaderboard
validate`` and ``bench leaderboard build`` both call it, so a file one refuses the other does too.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disentangle_bench.leaderboard.ranges import value_problem
from disentangle_bench.leaderboard.schema import (
    FORMAT,
    HASH_FIELD,
    MAX_FILE_BYTES,
    MAX_INTEGER,
    SubmissionError,
    content_hash,
    schema_problems,
    sha256_hex,
)
from disentangle_bench.leaderboard.submission import config_id
from disentangle_bench.util.errors import BenchError

ORIGINAL = "original"
#: The file names ``bench leaderboard build`` reads from ``submissions/``.
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}\.json$")


# -- reading --------------------------------------------------------------------------------------


def parse_submission(data: bytes, source: str) -> dict[str, Any]:
    """Decode ``data`` (at most 5 MB of UTF-8 JSON, no NaN/Infinity) into a dict."""
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionError(
            source, [f"{len(data):,} bytes is over the limit of {MAX_FILE_BYTES:,} bytes"]
        )
    try:
        text = data.decode("utf-8")
        payload = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=bounded_int,
        )
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


def bounded_int(text: str) -> int:
    """A JSON integer of at most 19 digits (|n| <= 2**63 - 1): seeds, steps and counts."""
    digits = text.lstrip("-")
    if len(digits) > 19 or abs(int(text)) > MAX_INTEGER:
        raise ValueError(f"the integer {text[:20]}... ({len(digits)} digits) is too large")
    return int(text)


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
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SubmissionError(source, [f"cannot read it: {error.strerror or error}"]) from None
    return parse_submission(data, source)


def admit(
    path: str | Path,
    source: str | None = None,
    *,
    fingerprints: bool = False,
    registry: Any = None,
    others: Mapping[str, dict[str, Any]] | None = None,
    file_name: bool = False,
    report: FingerprintReport | None = None,
) -> dict[str, Any]:
    """Read and check one submission file; raise :class:`SubmissionError` (one line) if refused.

    ``file_name``: also require a name ``bench leaderboard build`` reads (``SAFE_FILE_NAME``).
    A check that fails on hostile input in an unforeseen way refuses the file, naming the
    error, rather than stopping a build of the other files. ``report`` collects the outcome of
    the fingerprint comparison.
    """
    path = Path(path)
    source = source if source is not None else str(path)
    try:
        if file_name and not SAFE_FILE_NAME.match(path.name):
            raise SubmissionError(
                source, ["unsafe file name; use letters, digits, '.', '_' and '-'"]
            )
        submission = load_submission(path, source)
        check(
            submission,
            source,
            fingerprints=fingerprints,
            registry=registry,
            others=others,
            report=report,
        )
    except SubmissionError:
        raise
    except Exception as error:  # untrusted input must not stop a build of the other files
        raise SubmissionError(
            source, [f"cannot be checked ({type(error).__name__}: {_first(error)})"]
        ) from error
    return submission


# -- checks ---------------------------------------------------------------------------------------


def check(
    submission: Any,
    source: str,
    *,
    fingerprints: bool = False,
    registry: Any = None,
    others: Mapping[str, dict[str, Any]] | None = None,
    report: FingerprintReport | None = None,
) -> None:
    """Raise :class:`SubmissionError` listing every problem of ``submission``.

    ``fingerprints``: also compare fingerprints with the registry's datasets
    (:func:`fingerprint_report`; its outcome is copied into ``report`` when given).
    ``others``: accepted submissions (source -> submission) it must not duplicate.
    """
    found = problems(submission)
    if not found and others:
        found = duplicate_problems(submission, others)
    if not found and fingerprints:
        outcome = fingerprint_report(submission, registry)
        found = outcome.problems
        if report is not None:
            report.problems[:] = outcome.problems
            report.checked[:] = outcome.checked
            report.recorded_only.clear()
            report.recorded_only.update(outcome.recorded_only)
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
#
# A submission is untrusted: nothing it records is ever used to build a dataset. The registry
# builds its own dataset (the factory called with no arguments: its defaults) and the recorded
# fingerprint must equal that one's. The recorded perturbation is a registered transform applied
# to that dataset with the recorded plain-valued parameters (eps, seed, ...): the images it
# perturbs are still the registry's. Where that is not possible, only the recorded fingerprint
# counts (and must agree across the runs, checked above): datasets recorded with parameters
# other than their defaults, and datasets and perturbations that read files (a ``path``
# parameter, or ``reads_files = True`` on the factory), whose content is a file on the
# submitter's machine, not something the registry can build.

#: Largest list a recorded perturbation parameter may be (plain values only).
MAX_PARAMETER_ITEMS = 64


@dataclass
class FingerprintReport:
    """The outcome of comparing a submission's fingerprints with the registry's datasets."""

    problems: list[str] = field(default_factory=list)
    #: dataset names whose fingerprint was re-derived and matched
    checked: list[str] = field(default_factory=list)
    #: dataset name -> why only its recorded fingerprint counts
    recorded_only: dict[str, str] = field(default_factory=dict)

    def note(self) -> str | None:
        """One line on the datasets compared by recorded fingerprint only (None: none)."""
        if not self.recorded_only:
            return None
        parts = [f"{name} ({why})" for name, why in sorted(self.recorded_only.items())]
        return "fingerprint not re-derived, recorded one used: " + "; ".join(parts)


def reads_files(factory: Any) -> bool:
    """Whether a dataset or perturbation factory reads a file: ``reads_files`` when it declares
    it, else whether it takes a ``path`` parameter."""
    declared = getattr(factory, "reads_files", None)
    if isinstance(declared, bool):
        return declared
    try:
        return "path" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True  # cannot tell: treat as file-based (never built)


def default_parameters(factory: Any) -> dict[str, Any]:
    """The factory's keyword defaults as JSON values (as a run records them without bindings)."""
    from disentangle_bench.pipeline.config import to_json_value

    parameters = {}
    for name, parameter in inspect.signature(factory).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is not parameter.empty:
            parameters[name] = to_json_value(parameter.default)
    return parameters


def fingerprint_problems(submission: dict[str, Any], registry: Any = None) -> list[str]:
    """The problems of :func:`fingerprint_report`."""
    return fingerprint_report(submission, registry).problems


def fingerprint_report(submission: dict[str, Any], registry: Any = None) -> FingerprintReport:
    """Compare every run's recorded dataset fingerprint with the registry's own dataset."""
    if registry is None:
        from disentangle_bench.registry import Registry

        registry = Registry()
    report = FingerprintReport()
    built: dict[str, Any] = {}  # base name -> the registry's dataset, or the reason it is not
    seen: set[str] = set()
    for run in submission["runs"]:
        dataset = run["dataset"]
        name = dataset["name"]
        key = sha256_hex([dataset["base"], dataset["parameters"], dataset["perturbation"]])
        if key in seen:
            continue
        seen.add(key)
        base = _registry_dataset(registry, dataset, built)
        if isinstance(base, _Unchecked):
            if base.problem:
                report.problems.append(f"dataset {name!r}: {base.reason}")
            else:
                report.recorded_only[name] = base.reason
            continue
        data = base
        perturbation = dataset["perturbation"]
        if perturbation is not None:
            data = _perturbed(registry, perturbation, base)
            if isinstance(data, _Unchecked):
                if data.problem:
                    report.problems.append(f"dataset {name!r}: {data.reason}")
                else:
                    report.recorded_only[name] = data.reason
                continue
        try:
            actual = str(data.fingerprint)
        except Exception as error:  # a plugin that fails on its own dataset
            report.problems.append(f"dataset {name!r}: its fingerprint fails: {_first(error)}")
            continue
        if actual != dataset["fingerprint"]:
            report.problems.append(
                f"dataset {name!r}: fingerprint {dataset['fingerprint'][:12]} does not match "
                f"the registered dataset ({actual[:12]})"
            )
        else:
            report.checked.append(name)
    return report


@dataclass(frozen=True)
class _Unchecked:
    reason: str
    problem: bool  # True: the submission is refused; False: the recorded fingerprint counts


def _registry_dataset(registry: Any, dataset: dict[str, Any], built: dict[str, Any]) -> Any:
    """The registry's own dataset for a run's base (built once), or why there is none."""
    base = dataset["base"]
    try:
        entry = registry.get("datasets", base)
    except BenchError as error:
        return _Unchecked(f"cannot be checked: {_first(error)}", problem=True)
    if reads_files(entry.factory):
        return _Unchecked("file-based", problem=False)
    defaults = default_parameters(entry.factory)
    if dataset["parameters"] != defaults:
        changed = sorted(
            k
            for k in set(defaults) | set(dataset["parameters"])
            if dataset["parameters"].get(k, _MISSING) != defaults.get(k, _MISSING)
        )
        shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
        return _Unchecked(f"non-default parameters: {shown}", problem=False)
    if base not in built:
        try:
            built[base] = entry.factory()
        except Exception as error:  # the registered dataset cannot be built on this machine
            built[base] = _Unchecked(
                f"the registered dataset cannot be built here to check it: {_first(error)}",
                problem=True,
            )
    return built[base]


def _perturbed(registry: Any, record: dict[str, Any], base: Any) -> Any:
    """The registered perturbation with the recorded parameters applied to ``base``."""
    try:
        entry = registry.get("perturbations", record["name"])
    except BenchError as error:
        return _Unchecked(f"cannot be checked: {_first(error)}", problem=True)
    if reads_files(entry.factory):
        return _Unchecked(f"perturbation {record['name']!r} is file-based", problem=False)
    parameters = record["parameters"]
    bad = sorted(key for key, value in parameters.items() if not _plain(value))
    if bad:
        return _Unchecked(
            f"perturbation parameter(s) {', '.join(bad[:5])} are not plain values", problem=True
        )
    accepted, derived = _constructor_split(entry.factory, parameters)
    try:
        perturbation = entry.factory(**accepted)
        reported = _reported_parameters(perturbation)
        mismatched = sorted(
            key for key in derived if reported.get(key, _MISSING) != parameters[key]
        )
        if mismatched:
            return _Unchecked(
                f"perturbation {record['name']!r}: recorded parameter(s) "
                f"{', '.join(mismatched[:5])} are not what it reports for the others",
                problem=True,
            )
        return perturbation.apply(base)
    except Exception as error:  # parameters the perturbation refuses
        return _Unchecked(
            f"perturbation {record['name']!r} cannot be applied with the recorded parameters: "
            f"{_first(error)}",
            problem=True,
        )


def _constructor_split(
    factory: Any, parameters: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The recorded parameters the factory takes, and those it does not: values a perturbation
    reports but derives (``matched_noise``'s ``match`` and ``noise_eps``), which must then equal
    what the perturbation built from the others reports."""
    try:
        signature = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return dict(parameters), []
    if any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        return dict(parameters), []
    accepted = {key: value for key, value in parameters.items() if key in signature}
    return accepted, sorted(key for key in parameters if key not in signature)


def _reported_parameters(perturbation: Any) -> dict[str, Any]:
    """The perturbation's ``parameters()`` as JSON values (as a run record holds them)."""
    from disentangle_bench.pipeline.config import to_json_value

    reporter = getattr(perturbation, "parameters", None)
    return to_json_value(dict(reporter())) if callable(reporter) else {}


_MISSING = object()


def _plain(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return abs(value) <= MAX_INTEGER
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list) and depth == 0:
        return len(value) <= MAX_PARAMETER_ITEMS and all(_plain(v, 1) for v in value)
    return False


def _first(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__
