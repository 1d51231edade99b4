"""The robustness table: each score on the original data next to its perturbed twins."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from disentangle_bench.pipeline.experiment import ORIGINAL
from disentangle_bench.pipeline.record import RunRecord, load_run_record

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
    cells: dict[tuple[str, str, str], dict[str, list[float]]]
    scale: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: list[RunRecord]) -> ResultsTable:
        conditions = [ORIGINAL]
        cells: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        scale: dict[str, set] = defaultdict(set)
        for record in records:
            condition = record["dataset"]["condition"]
            if condition not in conditions:
                conditions.append(condition)
            for metric, values in record["metrics"].items():
                for key, value in values.items():
                    row = (record["dataset"]["base"], record["model"]["name"], f"{metric}.{key}")
                    cells[row][condition].append(float(value))
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
                values = by_condition.get(condition, [])
                row[condition] = (
                    {"mean": mean_and_sd(values)[0], "sd": mean_and_sd(values)[1], "values": values}
                    if values
                    else None
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
            for condition in perturbed:
                if row[condition] and row[ORIGINAL]:
                    cells.append(f"{row[condition]['mean'] - row[ORIGINAL]['mean']:+.3f}")
                else:
                    cells.append("-")
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Scale: "
            + "; ".join(
                f"{key} {', '.join(str(v) for v in values)}" for key, values in self.scale.items()
            )
            + ". Mean (sd) over seeds.",
            "",
        ]
        return "\n".join(lines)


def _format_cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "-"
    if len(cell["values"]) == 1:
        return f"{cell['mean']:.3f}"
    return f"{cell['mean']:.3f} ({cell['sd']:.3f})"
