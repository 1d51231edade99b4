"""A study's results as one table and as disentanglement_lib-style aggregate records.

- ``results.csv`` (and ``results.parquet`` when pyarrow is installed): one row per run and score
  key, with the run's dataset, condition, model, seed, steps and hyperparameters (JSON).
- ``aggregate.json``: a list with one flat dict per run and metric, keyed as
  disentanglement_lib's ``aggregate/*.json`` files are (``<file_stem>.<key>``:
  ``train_config.<model>.<param>``, ``train_config.model.random_seed``, ``train_results.<loss>``,
  ``evaluation_config.<metric>.<param>``, ``evaluation_results.<key>``), so analysis scripts
  written for its ``aggregate_results`` output load it with ``pandas.DataFrame(json.load(f))``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from disentangle_bench.util.files import atomic_write, atomic_write_json, atomic_write_text

CSV_COLUMNS = (
    "study",
    "run_id",
    "dataset",
    "base_dataset",
    "condition",
    "model",
    "seed",
    "steps",
    "metric",
    "key",
    "value",
    "hyperparameters",
)


def table_rows(study: str, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run, metric, score key), runs in id order."""
    rows = []
    for run_id in sorted(records):
        record = records[run_id]
        for metric, scores in sorted(record["metrics"].items()):
            for key, value in sorted(scores.items()):
                rows.append(
                    {
                        "study": study,
                        "run_id": run_id,
                        "dataset": record["dataset"]["name"],
                        "base_dataset": record["dataset"]["base"],
                        "condition": record["dataset"]["condition"],
                        "model": record["model"]["name"],
                        "seed": record["seed"],
                        "steps": record["training"]["steps_completed"],
                        "metric": metric,
                        "key": key,
                        "value": float(value),
                        "hyperparameters": json.dumps(
                            record["model"]["hyperparameters"], sort_keys=True
                        ),
                    }
                )
    return rows


def dlib_aggregate(study: str, run_id: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """disentanglement_lib-style flat records, one per metric of the run."""
    model = record["model"]["name"]
    base: dict[str, Any] = {
        "study.name": study,
        "study.run_id": run_id,
        "study.condition": record["dataset"]["condition"],
        "study.base_dataset": record["dataset"]["base"],
        "train_config.dataset.name": record["dataset"]["name"],
        "train_config.model.name": model,
        "train_config.model.random_seed": record["seed"],
        "train_config.model.batch_size": record["training"]["batch_size"],
        "train_config.model.training_steps": record["training"]["steps_completed"],
    }
    for parameter, value in record["model"]["hyperparameters"].items():
        base[f"train_config.{model}.{parameter}"] = value
    for parameter, value in record["training"].items():
        if parameter not in ("final_losses",):
            base[f"train_config.train.{parameter}"] = value
    perturbation = record["dataset"].get("perturbation")
    if perturbation:
        for parameter, value in perturbation["parameters"].items():
            base[f"train_config.{perturbation['name']}.{parameter}"] = value
    for loss, value in record["training"].get("final_losses", {}).items():
        base[f"train_results.{loss}"] = value
    out = []
    for metric, scores in sorted(record["metrics"].items()):
        entry = dict(base)
        entry["evaluation_config.evaluation.name"] = metric
        entry["evaluation_config.evaluation.random_seed"] = record["evaluation_seed"]
        entry["evaluation_config.dataset.name"] = record["dataset"]["name"]
        for parameter, value in record.get("metric_parameters", {}).get(metric, {}).items():
            entry[f"evaluation_config.{metric}.{parameter}"] = value
        for key, value in scores.items():
            entry[f"evaluation_results.{key}"] = value
        entry["evaluation_results.elapsed_time"] = (
            record.get("wall_seconds", {}).get("evaluation", {}).get(metric)
        )
        out.append(entry)
    return out


def write_tables(out: Path, study: str, records: dict[str, dict[str, Any]]) -> list[Path]:
    """Write results.csv, results.parquet (if possible) and aggregate.json; return the paths."""
    rows = table_rows(study, records)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "results.csv", buffer.getvalue())
    written = [out / "results.csv"]
    try:
        import pandas as pd

        frame = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
        atomic_write(out / "results.parquet", lambda handle: frame.to_parquet(handle, index=False))
        written.append(out / "results.parquet")
    except ImportError:  # pandas / pyarrow are optional
        pass
    aggregate = [
        entry
        for run_id in sorted(records)
        for entry in dlib_aggregate(study, run_id, records[run_id])
    ]
    atomic_write_json(out / "aggregate.json", aggregate)
    written.append(out / "aggregate.json")
    return written
