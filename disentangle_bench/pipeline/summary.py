"""The robustness table: each score on the original data next to its perturbed twins.

The change on a twin is paired by seed (seed ``s`` on the twin minus seed ``s`` on the
original: both share the initialisation and the batch order), reported as the mean per-seed
difference with a 95 % percentile bootstrap interval over seeds when there are two or more.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from disentangle_bench.pipeline.experiment import ORIGINAL
from disentangle_bench.pipeline.record import RunRecord, load_run_record
from disentangle_bench.util.resampling import bootstrap_mean_ci

# load_run_record lives in pipeline.record; the name stays importable from here
__all__ = ["ORIGINAL", "ResultsTable", "load_run_record", "mean_and_sd"]


def mean_and_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


@dataclass
class ResultsTable:
    """Scores grouped by (dataset, model, score key) and condition, one value per seed."""

    conditions: list[str]
    cells: dict[tuple[str, str, str], dict[str, dict[int, float]]]  # row -> condition -> seed
    scale: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: list[RunRecord]) -> ResultsTable:
        conditions = [ORIGINAL]
        cells: dict[tuple[str, str, str], dict[str, dict[int, float]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        scale: dict[str, set] = defaultdict(set)
        for record in records:
            condition = record["dataset"]["condition"]
            if condition not in conditions:
                conditions.append(condition)
            for metric, values in record["metrics"].items():
                for key, value in values.items():
                    row = (record["dataset"]["base"], record["model"]["name"], f"{metric}.{key}")
                    cells[row][condition][int(record["seed"])] = float(value)
            scale["steps"].add(record["training"]["steps_completed"])
            scale["batch_size"].add(record["training"]["batch_size"])
            scale["seeds"].add(record["seed"])
            scale["device"].add(record["device"])
        return cls(
            conditions,
            {row: dict(by_condition) for row, by_condition in cells.items()},
            {key: sorted(values, key=str) for key, values in scale.items()},
        )

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for (dataset, model, score), by_condition in sorted(self.cells.items()):
            row: dict[str, Any] = {"dataset": dataset, "model": model, "score": score}
            for condition in self.conditions:
                by_seed = by_condition.get(condition, {})
                values = [by_seed[s] for s in sorted(by_seed)]
                row[condition] = (
                    {"mean": mean_and_sd(values)[0], "sd": mean_and_sd(values)[1], "values": values}
                    if values
                    else None
                )
            for condition in self.conditions[1:]:
                row[f"{condition} - {ORIGINAL}"] = paired_change(
                    by_condition.get(ORIGINAL, {}), by_condition.get(condition, {})
                )
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"conditions": self.conditions, "scale": self.scale, "rows": self.rows()}

    def to_markdown(self, title: str = "results") -> str:
        perturbed = self.conditions[1:]
        header = ["dataset", "model", "score", *self.conditions]
        header += [f"{c} - {ORIGINAL}" for c in perturbed]
        lines = [
            f"## {title}: score on the original data and on its perturbed twins",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for row in self.rows():
            cells = [row["dataset"], row["model"], row["score"]]
            cells += [_format_cell(row[c]) for c in self.conditions]
            cells += [_format_change(row[f"{c} - {ORIGINAL}"]) for c in perturbed]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Scale: "
            + "; ".join(
                f"{key} {', '.join(str(v) for v in values)}" for key, values in self.scale.items()
            )
            + ". "
            + _caption(len(self.scale.get("seeds", []))),
            "",
            *self.findings(),
        ]
        return "\n".join(lines)

    def findings(self) -> list[str]:
        """One sentence per (dataset, model, score) with twins: what the changes say."""
        sentences = []
        for row in self.rows():
            changes = {c: row[f"{c} - {ORIGINAL}"] for c in self.conditions[1:]}
            if not row[ORIGINAL] or not any(changes.values()):
                continue
            sentences.append(_finding(row, changes))
        return sentences


#: Below this many seeds a bootstrap interval is flagged as indicative only.
FEW_SEEDS = 5


def paired_change(original: dict[int, float], perturbed: dict[int, float]) -> dict | None:
    """Mean per-seed ``perturbed - original`` over the shared seeds, with a 95 % bootstrap
    interval when at least two seeds are shared."""
    seeds = sorted(set(original) & set(perturbed))
    if not seeds:
        return None
    differences = [perturbed[s] - original[s] for s in seeds]
    interval = bootstrap_mean_ci(differences) if len(seeds) > 1 else None
    return {"mean": sum(differences) / len(differences), "interval": interval, "n": len(seeds)}


def _caption(num_seeds: int) -> str:
    if num_seeds < 2:
        return "One seed: no spread, and a change from one seed says nothing about a method."
    return (
        f"Mean (sd) over {num_seeds} seeds; a change is the mean per-seed difference from the "
        "original, with its 95 % bootstrap interval over seeds."
    )


def _format_change(change: dict | None) -> str:
    if change is None:
        return "-"
    if change["interval"] is None:
        return f"{change['mean']:+.3f}"
    low, high = change["interval"]
    return f"{change['mean']:+.3f} [{low:+.3f}, {high:+.3f}]"


def _finding(row: dict[str, Any], changes: dict[str, dict | None]) -> str:
    """A sentence that reads the intervals: which twins lowered the score beyond seed noise."""
    parts, lowered = [], []
    for condition, change in changes.items():
        if change is None:
            continue
        parts.append(f"{change['mean']:+.3f} on {condition}")
        if change["interval"] is not None and change["interval"][1] < 0:
            lowered.append(condition)
    n = max(c["n"] for c in changes.values() if c)
    head = f"{row['model']} on {row['dataset']}, {row['score']}: " + ", ".join(parts) + "."
    if n < 2:
        return head + " One seed cannot separate a change from seed noise."
    caveat = (
        f" A bootstrap over {n} seeds is indicative only; more seeds measure the size."
        if n < FEW_SEEDS
        else ""
    )
    if not lowered:
        verdict = f" Over {n} seeds no interval lies below zero: no change beyond seed noise."
    elif len(lowered) < len(parts):
        verdict = (
            f" Over {n} seeds the interval lies below zero on {', '.join(lowered)} only: "
            "those twins lowered the score beyond seed noise at this scale."
        )
    else:
        verdict = f" Over {n} seeds every twin lowered the score beyond seed noise at this scale."
    return head + verdict + caveat


def _format_cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "-"
    if len(cell["values"]) == 1:
        return f"{cell['mean']:.3f}"
    return f"{cell['mean']:.3f} ({cell['sd']:.3f})"
