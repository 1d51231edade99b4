"""Results in disentanglement_lib's directory layout and aggregate JSON.

The layout, as disentanglement_lib 1.5 writes it (facts from its ``utils/results.py``,
``bin/dlib_reproduce`` and ``utils/aggregate_results.py``)::

    ROOT/<model>/model/results/                    step "train"
    ROOT/<model>/postprocessed/mean/results/       step "postprocess" (the train files copied in)
    ROOT/<model>/postprocessed/mean/representation.pt   (its tfhub/ module, here TorchScript)
    ROOT/<model>/metrics/mean/<name>/results/      step "evaluation" (all earlier files copied in)
    ROOT/results.json                              what dlib_aggregate_results writes

Each ``results/`` directory holds ``gin/<step>.gin`` (the step's configuration),
``json/<step>_config.json`` (that gin file as a dict: every line with ``" = "`` that does not
start with ``#``, the value kept as text), ``json/<step>_results.json`` (the step's numbers,
``elapsed_time`` and a ``uuid``) and ``aggregate/<step>.json``: every ``json/*.json`` of the
directory in one dict, each key prefixed with its file stem (``evaluation_results.discrete_mig``,
``train_config.vae.beta``, ``train_config.model.random_seed``). ``ROOT/results.json`` holds one
row per ``*/metrics/*/*/results/aggregate/evaluation.json`` (its keys plus ``path``) in the
column orientation of pandas' ``DataFrame.to_json``: ``{column: {row number: value}}``, which
its ``load_aggregated_json_results`` (``pandas.read_json(orient="columns")``) reads.

Differences, by design: ``<model>`` is the run id rather than a number (``bench run``'s runs are
named); ``uuid`` is derived from the run, step and result rather than drawn at random, so that
writing the same results twice gives the same files; the representation is a TorchScript file
(:func:`disentangle_bench.pipeline.dlib_compat.export_mean_representation`). Gin files hold
disentanglement_lib's names (``dataset.name``, ``model.name``, ``model.random_seed``,
``model.batch_size``, ``model.training_steps``, ``encoder.num_latent``, ``vae.beta`` and the
other models of its study, ``evaluation.*``, ``postprocess.*``) and then this project's own
bindings (``beta_vae.beta``, ``train.steps``, ``mig.num_train``, ...).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from disentangle_bench.util.errors import BenchError
from disentangle_bench.util.files import atomic_write_text

RESULTS = "results"
POSTPROCESSED = "postprocessed"
METRICS = "metrics"
MEAN = "mean"
#: dlib_aggregate_results' default pattern, relative to ROOT.
EVALUATION_PATTERN = f"*/{METRICS}/*/*/{RESULTS}/aggregate/evaluation.json"
AGGREGATE_FILE = "results.json"
REPRESENTATION_FILE = "representation.pt"
_UUID_NAMESPACE = uuid.UUID("5b0b5e1c-7d1e-4d59-9c0b-6a3a4c1f2e10")

#: This project's model -> (disentanglement_lib's model configurable, its hyperparameters, fixed
#: extra bindings), for the models of its unsupervised study (same hyperparameter names).
DLIB_MODELS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "beta_vae": ("vae", ("beta",), {}),
    "annealed_vae": ("annealed_vae", ("gamma", "c_max", "iteration_threshold"), {}),
    "factor_vae": ("factor_vae", ("gamma",), {}),
    "dip_vae_i": ("dip_vae", ("lambda_od", "lambda_d_factor"), {"dip_type": "i"}),
    "dip_vae_ii": ("dip_vae", ("lambda_od", "lambda_d_factor"), {"dip_type": "ii"}),
    "beta_tc_vae": ("beta_tc_vae", ("beta",), {}),
}


class DlibLayoutError(BenchError):
    """A directory that cannot be read or written in disentanglement_lib's layout."""


# -- gin text ------------------------------------------------------------------------------------


def gin_value(value: Any) -> str:
    """A JSON value as gin text: strings quoted (``'dsprites'``), ``@name`` references kept."""
    if isinstance(value, str):
        return value if value.startswith("@") else repr(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(gin_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{gin_value(str(k))}: {gin_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return repr(str(value))


def gin_bindings(text: str) -> list[tuple[str, str]]:
    """``(key, value text)`` of every binding in gin text; the indented continuation lines of a
    long value (as gin's operative config writes them) are joined onto its first line."""
    joined: list[str] = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and joined and not joined[-1].startswith("#"):
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    found = []
    for line in joined:
        if not line.startswith("#") and " = " in line:
            key, value = line.split(" = ", 1)
            found.append((key.strip(), value.strip()))
    return found


def gin_dict(text: str) -> dict[str, str]:
    """disentanglement_lib's ``gin_dict``: the bindings of a gin file as ``{key: value text}``."""
    return dict(gin_bindings(text))


def gin_file(explicit: Sequence[tuple[str, Any]], operative: str = "", title: str = "") -> str:
    """A step's gin file: ``explicit`` bindings (JSON values), then every binding of
    ``operative`` (gin text) whose key is not among them."""
    lines = [f"# {title}"] if title else []
    seen = set()
    for key, value in explicit:
        if key not in seen:
            lines.append(f"{key} = {gin_value(value)}")
            seen.add(key)
    extra = [(k, v) for k, v in gin_bindings(operative) if k not in seen]
    if extra:
        lines.append("# bindings of disentangle-bench's own configurables")
        lines += [f"{key} = {value}" for key, value in extra]
    return "\n".join(lines) + "\n"


# -- one step ------------------------------------------------------------------------------------


def namespaced(named: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"a": {"x": 1}}`` -> ``{"a.x": 1}`` (disentanglement_lib's ``namespaced_dict``)."""
    return {
        f"{outer}.{inner}": value
        for outer, inner_dict in named.items()
        for inner, value in inner_dict.items()
    }


def aggregate_json_dir(json_dir: str | Path) -> dict[str, Any]:
    """Every ``*.json`` dict of ``json_dir``, namespaced by file stem (its ``aggregate/``)."""
    json_dir = Path(json_dir)
    named = {}
    for path in sorted(json_dir.glob("*.json")):
        named[path.stem] = _read_json(path)
    return namespaced(named)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DlibLayoutError(f"cannot read {path}: {error}") from None


def _dump(payload: Any) -> str:
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def step_uuid(*parts: Any) -> str:
    """A uuid that depends only on ``parts`` (the run, the step and its result)."""
    return str(uuid.uuid5(_UUID_NAMESPACE, json.dumps(parts, sort_keys=True, default=str)))


def write_step(
    results_dir: str | Path,
    step: str,
    gin_text: str,
    results: dict[str, Any],
    previous: str | Path | None = None,
) -> dict[str, Any]:
    """Write one step's ``results/`` directory (replacing an earlier one whole); return its
    aggregate dict. ``previous`` is the results directory of the step before, copied in first
    (as disentanglement_lib does, so that the last aggregate holds the whole pipeline)."""
    results_dir = Path(results_dir)
    results_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{results_dir.name}.", dir=results_dir.parent))
    try:
        if previous is not None:
            previous = Path(previous)
            if not previous.is_dir():
                raise DlibLayoutError(f"{previous} is missing: write the step before first")
            shutil.copytree(previous, staging, dirs_exist_ok=True)
        (staging / "gin").mkdir(exist_ok=True)
        (staging / "json").mkdir(exist_ok=True)
        (staging / "aggregate").mkdir(exist_ok=True)
        (staging / "gin" / f"{step}.gin").write_text(gin_text, encoding="utf-8")
        config = gin_dict(gin_text)
        (staging / "json" / f"{step}_config.json").write_text(_dump(config), encoding="utf-8")
        payload = dict(results)
        payload["uuid"] = step_uuid(str(results_dir), step, config, results)
        (staging / "json" / f"{step}_results.json").write_text(_dump(payload), encoding="utf-8")
        aggregate = aggregate_json_dir(staging / "json")
        (staging / "aggregate" / f"{step}.json").write_text(_dump(aggregate), encoding="utf-8")
        _swap_in(staging, results_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return aggregate


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging``; the old directory is removed only once the new one is
    in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- the pipeline's steps ------------------------------------------------------------------------


def model_dir(root: str | Path, name: str) -> Path:
    """``ROOT/<name>``, with ``name`` checked to be one plain directory name."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DlibLayoutError(f"{name!r} cannot name a model directory")
    return Path(root) / name


def train_bindings(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """disentanglement_lib's training bindings of a ``bench run`` record, then this project's
    names for the same values."""
    dataset = record.get("dataset") or {}
    model = record.get("model") or {}
    training = record.get("training") or {}
    name = str(model.get("name"))
    hyperparameters = model.get("hyperparameters") or {}
    standard = [
        ("dataset.name", dataset.get("name")),
        ("model.name", name),
        ("model.random_seed", record.get("seed")),
        ("model.batch_size", training.get("batch_size")),
        ("model.training_steps", training.get("steps_completed", training.get("steps"))),
    ]
    bindings: list[tuple[str, Any]] = [(k, v) for k, v in standard if v is not None]
    if "num_latent" in hyperparameters:
        bindings.append(("encoder.num_latent", hyperparameters["num_latent"]))
    if name in DLIB_MODELS:
        configurable, own, fixed = DLIB_MODELS[name]
        bindings.append(("model.model", f"@{configurable}()"))
        chosen = {key: hyperparameters[key] for key in own if key in hyperparameters}
        bindings += [(f"{configurable}.{key}", value) for key, value in {**chosen, **fixed}.items()]
    bindings += [(f"{name}.{key}", value) for key, value in hyperparameters.items()]
    perturbation = dataset.get("perturbation")
    if perturbation:
        for key, value in (perturbation.get("parameters") or {}).items():
            bindings.append((f"{perturbation['name']}.{key}", value))
    for key, value in training.items():
        if key not in ("final_losses", "steps_completed", "resumed_from_step"):
            bindings.append((f"train.{key}", value))
    return bindings


def train_results(record: dict[str, Any]) -> dict[str, Any]:
    """The train step's numbers: the final loss terms, ``global_step`` and ``elapsed_time``."""
    training = record.get("training") or {}
    wall = record.get("wall_seconds") or {}
    return {
        **{str(k): v for k, v in (training.get("final_losses") or {}).items()},
        "global_step": training.get("steps_completed"),
        "elapsed_time": float(wall.get("train", 0.0) or 0.0),
    }


def write_train(root: str | Path, name: str, record: dict[str, Any]) -> Path:
    """The train step of ``record`` (a ``bench run`` record, or any dict with ``dataset``,
    ``model``, ``seed`` and ``training``) as ``ROOT/<name>/model/results``."""
    results_dir = model_dir(root, name) / "model" / RESULTS
    operative = (record.get("config") or {}).get("operative_gin", "")
    text = gin_file(train_bindings(record), operative, f"train step of {name}")
    write_step(results_dir, "train", text, train_results(record))
    return results_dir


def write_postprocess(
    root: str | Path,
    name: str,
    dataset_name: str,
    *,
    random_seed: int | None = 0,
    postprocess_name: str = MEAN,
    elapsed_time: float = 0.0,
) -> Path:
    """The postprocess step (the mean representation) as
    ``ROOT/<name>/postprocessed/<postprocess_name>/results``, after the train step."""
    base = model_dir(root, name)
    results_dir = base / POSTPROCESSED / postprocess_name / RESULTS
    bindings = [
        ("postprocess.postprocess_fn", "@mean_representation"),
        ("postprocess.random_seed", random_seed),
        ("postprocess.name", postprocess_name),
        ("dataset.name", dataset_name),
    ]
    text = gin_file(bindings, title=f"postprocess step of {name}")
    write_step(
        results_dir,
        "postprocess",
        text,
        {"elapsed_time": float(elapsed_time)},
        previous=base / "model" / RESULTS,
    )
    return results_dir


def write_evaluation(
    root: str | Path,
    name: str,
    evaluation: dict[str, Any],
    *,
    metric_dir: str | None = None,
    postprocess_name: str = MEAN,
) -> Path:
    """One metric's evaluation (a record of ``bench evaluate`` or any dict with ``metric``,
    ``scores``, ``parameters``, ``random_seed``, ``dataset.name``, ``operative_gin`` and
    ``wall_seconds``) as ``ROOT/<name>/metrics/<postprocess>/<metric_dir>/results``, after the
    postprocess step. ``metric_dir`` defaults to ``evaluation.name`` or the metric's name."""
    base = model_dir(root, name)
    metric = str(evaluation["metric"])
    directory = metric_dir or evaluation.get("name") or metric
    if "/" in directory or directory in (".", ".."):
        raise DlibLayoutError(f"{directory!r} cannot name a metric directory")
    bindings: list[tuple[str, Any]] = [
        ("evaluation.evaluation_fn", f"@{metric}"),
        ("evaluation.random_seed", evaluation.get("random_seed")),
        ("evaluation.name", directory),
        ("dataset.name", (evaluation.get("dataset") or {}).get("name")),
    ]
    bindings += [(f"{metric}.{k}", v) for k, v in (evaluation.get("parameters") or {}).items()]
    text = gin_file(
        bindings, evaluation.get("operative_gin", ""), f"evaluation step of {name}: {directory}"
    )
    results = {**evaluation["scores"], "elapsed_time": float(evaluation.get("wall_seconds", 0))}
    results_dir = base / METRICS / postprocess_name / directory / RESULTS
    write_step(
        results_dir,
        "evaluation",
        text,
        results,
        previous=base / POSTPROCESSED / postprocess_name / RESULTS,
    )
    return results_dir


# -- aggregation ---------------------------------------------------------------------------------


def aggregate_results_to_json(
    root: str | Path, output: str | Path | None = None, pattern: str = EVALUATION_PATTERN
) -> Path:
    """Every ``ROOT/<pattern>`` file as one row (its keys plus ``path``) in
    ``output`` (default ``ROOT/results.json``), column-oriented as pandas writes it."""
    root = Path(root)
    output = Path(output) if output is not None else root / AGGREGATE_FILE
    rows = []
    for path in sorted(root.glob(pattern)):
        row = _read_json(path)
        if not isinstance(row, dict):
            raise DlibLayoutError(f"{path} is not an aggregate dict")
        rows.append({**row, "path": str(path)})
    atomic_write_text(output, json.dumps(_columns(rows), indent=None) + "\n")
    return output


def _columns(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """pandas' column orientation: columns in order of first appearance, rows numbered from 0,
    ``None`` where a row lacks the column."""
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    return {
        column: {str(index): row.get(column) for index, row in enumerate(rows)}
        for column in columns
    }


def load_aggregated_json_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an aggregate JSON (:func:`aggregate_results_to_json` or
    disentanglement_lib's), each without the columns it lacks (``None``)."""
    payload = _read_json(Path(path))
    if not isinstance(payload, dict) or not all(isinstance(v, dict) for v in payload.values()):
        raise DlibLayoutError(f"{path} is not a column-oriented aggregate JSON")
    indices: list[str] = []
    for column in payload.values():
        for index in column:
            if index not in indices:
                indices.append(index)
    indices.sort(key=lambda i: (int(i) if i.isdigit() else 0, i))
    return [
        {key: column[index] for key, column in payload.items() if column.get(index) is not None}
        for index in indices
    ]


def evaluation_files(root: str | Path) -> Iterable[Path]:
    """The ``aggregate/evaluation.json`` files under ``ROOT`` (dlib_aggregate_results' glob)."""
    return sorted(Path(root).glob(EVALUATION_PATTERN))


# -- whole runs ----------------------------------------------------------------------------------


def recorded_evaluations(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics of a ``bench run`` record, as evaluation dicts for :func:`write_evaluation`."""
    wall = (record.get("wall_seconds") or {}).get("evaluation") or {}
    parameters = record.get("metric_parameters") or {}
    operative = (record.get("config") or {}).get("operative_gin", "")
    return [
        {
            "metric": metric,
            "scores": scores,
            "parameters": parameters.get(metric) or {},
            "random_seed": record.get("evaluation_seed", 0),
            "dataset": {"name": (record.get("dataset") or {}).get("name")},
            "operative_gin": operative,
            "wall_seconds": float(wall.get(metric, 0.0) or 0.0),
        }
        for metric, scores in sorted((record.get("metrics") or {}).items())
    ]


def write_run_model(
    root: str | Path,
    record: dict[str, Any],
    model: Any = None,
    observation_shape: tuple[int, int, int] | None = None,
) -> Path:
    """The train and postprocess steps of a ``bench run`` record, and, given the trained
    ``model``, its representation file ``postprocessed/mean/representation.pt``."""
    from disentangle_bench.pipeline.dlib_compat import export_mean_representation

    name = str(record["run_id"])
    write_train(root, name, record)
    dataset = record.get("dataset") or {}
    if model is not None:
        shape = observation_shape or tuple(dataset["observation_shape"])
        path = model_dir(root, name) / POSTPROCESSED / MEAN / REPRESENTATION_FILE
        export_mean_representation(
            model, path, shape, {"run_id": name, "dataset": _plain_dataset_record(dataset)}
        )
    return write_postprocess(root, name, str(dataset.get("name")))


def _plain_dataset_record(dataset: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "base", "condition", "parameters", "perturbation", "fingerprint")
    return {key: dataset.get(key) for key in keep}


def export_run(
    root: str | Path,
    run_dir: str | Path,
    *,
    registry: Any = None,
    device: Any = "cpu",
    evaluations: Sequence[dict[str, Any]] | None = None,
) -> Path:
    """A finished ``bench run`` run in disentanglement_lib's layout: train step, postprocess step
    with the representation file (the model is rebuilt from the record and checkpoint), and one
    evaluation step per metric (the recorded ones unless ``evaluations`` are given). Returns
    ``ROOT/<run id>``."""
    from disentangle_bench.pipeline.evaluation import run_dataset, run_model
    from disentangle_bench.pipeline.record import load_run_record
    from disentangle_bench.registry import Registry

    run_dir = Path(run_dir)
    registry = registry if registry is not None else Registry()
    record = load_run_record(run_dir / "run.json")
    data = run_dataset(record, registry)
    model = run_model(record, run_dir, data, registry, device)
    write_run_model(root, record, model, tuple(data.observation_shape))
    for evaluation in evaluations if evaluations is not None else recorded_evaluations(record):
        write_evaluation(root, str(record["run_id"]), evaluation)
    return model_dir(root, str(record["run_id"]))
