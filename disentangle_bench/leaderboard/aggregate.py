"""From accepted submissions to ranked tables.

An *entry* (one row of each table) is one configuration of one submitted method. A *table* holds
one score (``metric.key``) on one base dataset against one perturbed condition: conditions are
told apart by name and eps (``oblique (eps 0.1)``). ``noise`` is the matched-noise twin; every
other perturbation counts as structural. Each structural condition gets its own table, with the
entry's noise twin in a separate column (when an entry has several noise strengths, the one whose
eps is closest to the structural eps, ties to the smaller). An entry with only noise twins on a
dataset is shown in a table of its noise condition instead (original | noise | drop | ratio).
A table lists the entries that have its perturbed condition.

Ranking rule: by the mean score on the table's perturbed condition, best first (higher first, or
lower first for scores where lower is better); equal means share a rank (competition ranking
"1224"); ties are listed by robustness ratio (higher first), then by label and file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from disentangle_bench.leaderboard import ranges
from disentangle_bench.leaderboard.statistics import (
    Estimate,
    bootstrap_drop,
    bootstrap_mean,
    bootstrap_ratio,
)

ORIGINAL = "original"
NOISE = "noise"


@dataclass(frozen=True)
class Condition:
    """A perturbed condition: perturbation name and strength."""

    name: str
    eps: float | None

    @property
    def label(self) -> str:
        return self.name if self.eps is None else f"{self.name} (eps {self.eps:g})"

    @property
    def is_noise(self) -> bool:
        return self.name == NOISE

    def sort_key(self) -> tuple[bool, str, float]:
        return (self.is_noise, self.name, -1.0 if self.eps is None else float(self.eps))


@dataclass(frozen=True)
class Entry:
    """One configuration of one submitted method."""

    label: str
    source: str
    method: dict[str, Any] = field(repr=False, compare=False)
    config: dict[str, Any] = field(repr=False, compare=False)
    content_hash: str = ""
    runs: int = 0
    datasets: tuple[str, ...] = ()
    project_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    entry: Entry
    seeds: tuple[int, ...]
    steps: tuple[int, ...]
    hardware: tuple[str, ...]
    original: Estimate
    perturbed: Estimate | None
    noise: Estimate | None
    noise_condition: Condition | None
    drop: Estimate | None
    ratio: Estimate | None
    rank: int | None = None


@dataclass(frozen=True)
class Table:
    dataset: str
    score: str
    perturbed: Condition
    rows: tuple[Row, ...]
    number: int = 0

    @property
    def key(self) -> str:
        return self.score.split(".", 1)[-1]

    @property
    def higher_is_better(self) -> bool:
        return ranges.higher_is_better(self.key)

    @property
    def known(self) -> bool:
        return ranges.key_range(self.key) is not None

    @property
    def show_noise(self) -> bool:
        return not self.perturbed.is_noise

    @property
    def anchor(self) -> str:
        """A stable id for links (no user text beyond a restricted character set)."""
        text = f"{self.dataset}-{self.score}-{self.perturbed.label}"
        slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in text).lower()
        return f"t{self.number}-{slug[:80]}"

    def scale(self) -> dict[str, tuple]:
        return {
            "steps": tuple(sorted({s for row in self.rows for s in row.steps})),
            "seeds": tuple(sorted({len(row.seeds) for row in self.rows})),
            "hardware": tuple(sorted({h for row in self.rows for h in row.hardware})),
        }


@dataclass(frozen=True)
class Leaderboard:
    submissions: tuple[tuple[str, dict[str, Any]], ...]
    entries: tuple[Entry, ...]
    tables: tuple[Table, ...]


def condition_of(run: dict[str, Any]) -> Condition | None:
    dataset = run["dataset"]
    if dataset["condition"] == ORIGINAL:
        return None
    eps = dataset["perturbation"]["eps"]
    return Condition(dataset["condition"], None if eps is None else float(eps))


def aggregate(submissions: dict[str, dict[str, Any]]) -> Leaderboard:
    """The leaderboard of accepted ``submissions`` (file name -> submission)."""
    entries: list[Entry] = []
    # cells[(dataset, score)][entry][condition or None][seed] = value
    cells: dict[tuple[str, str], dict[Entry, dict[Condition | None, dict[int, float]]]] = (
        defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    )
    scale: dict[tuple[Entry, str], dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for source, submission in sorted(submissions.items()):
        configs = {c["id"]: c for c in submission["configs"]}
        by_config = {}
        for config_id in sorted(configs):
            label = submission["method"]["name"]
            if len(configs) > 1:
                label = f"{label} [{config_id}]"
            runs = [run for run in submission["runs"] if run["config"] == config_id]
            by_config[config_id] = Entry(
                label,
                source,
                submission["method"],
                configs[config_id],
                submission["content_hash"],
                runs=len(runs),
                datasets=tuple(sorted({run["dataset"]["name"] for run in runs})),
                project_versions=tuple(sorted({run["project_version"] for run in runs})),
            )
            entries.append(by_config[config_id])
        for run in submission["runs"]:
            entry = by_config[run["config"]]
            base = run["dataset"]["base"]
            condition = condition_of(run)
            for metric, values in run["metrics"].items():
                for key, value in values.items():
                    if ranges.is_shown(key):
                        cells[base, f"{metric}.{key}"][entry][condition][run["seed"]] = value
            scale[entry, base]["steps"].add(run["steps"])
            scale[entry, base]["seeds"].add(run["seed"])
            scale[entry, base]["hardware"].add(run["device"])
    tables = []
    for (dataset, score), by_entry in sorted(cells.items()):
        for target in _targets(by_entry.values()):
            rows = [
                _row(entry, by_condition, target, scale[entry, dataset])
                for entry, by_condition in by_entry.items()
                if target in by_condition
            ]
            rows = [row for row in rows if row is not None]
            if rows:
                tables.append(
                    Table(dataset, score, target, _ranked(rows, score), number=len(tables) + 1)
                )
    return Leaderboard(tuple(sorted(submissions.items())), tuple(entries), tuple(tables))


def _targets(
    by_entry: Iterable[dict[Condition | None, dict[int, float]]],
) -> list[Condition]:
    """Every structural condition, and each noise condition of an entry without one."""
    targets: set[Condition] = set()
    for by_condition in by_entry:
        conditions = [c for c in by_condition if c is not None]
        structural = [c for c in conditions if not c.is_noise]
        targets.update(structural or conditions)
    return sorted(targets, key=Condition.sort_key)


def _noise_for(
    by_condition: dict[Condition | None, dict[int, float]], target: Condition
) -> Condition | None:
    noise = [c for c in by_condition if c is not None and c.is_noise]
    if not noise or target.is_noise:
        return None
    reference = target.eps if target.eps is not None else 0.0

    def distance(c: Condition) -> tuple[float, float]:
        eps = c.eps if c.eps is not None else 0.0
        return (abs(eps - reference), eps)

    return min(noise, key=distance)


def _row(
    entry: Entry,
    by_condition: dict[Condition | None, dict[int, float]],
    target: Condition,
    scale: dict[str, set],
) -> Row | None:
    original = by_condition.get(None)
    if not original:
        return None
    seeds = tuple(sorted(original))
    values = [original[s] for s in seeds]
    perturbed = drop = ratio = None
    if target in by_condition:
        other = [by_condition[target][s] for s in seeds]
        perturbed = bootstrap_mean(other)
        drop = bootstrap_drop(values, other)
        ratio = bootstrap_ratio(values, other)
    noise_condition = _noise_for(by_condition, target)
    noise = None
    if noise_condition is not None:
        noise = bootstrap_mean([by_condition[noise_condition][s] for s in seeds])
    return Row(
        entry=entry,
        seeds=seeds,
        steps=tuple(sorted(scale["steps"])),
        hardware=tuple(sorted(scale["hardware"])),
        original=bootstrap_mean(values),
        perturbed=perturbed,
        noise=noise,
        noise_condition=noise_condition,
        drop=drop,
        ratio=ratio,
    )


def _ranked(rows: list[Row], score: str) -> tuple[Row, ...]:
    sign = 1.0 if ranges.higher_is_better(score.split(".", 1)[-1]) else -1.0

    def order(row: Row) -> tuple:
        if row.perturbed is None:
            return (1, 0.0, 0.0, row.entry.label, row.entry.source)
        ratio = row.ratio.mean if row.ratio is not None else float("-inf")
        return (0, -sign * row.perturbed.mean, -ratio, row.entry.label, row.entry.source)

    ordered = sorted(rows, key=order)
    ranked = []
    for row in ordered:
        rank = None
        if row.perturbed is not None:
            better = sum(
                1
                for other in ordered
                if other.perturbed is not None
                and sign * other.perturbed.mean > sign * row.perturbed.mean
            )
            rank = better + 1
        ranked.append(_with_rank(row, rank))
    return tuple(ranked)


def _with_rank(row: Row, rank: int | None) -> Row:
    from dataclasses import replace

    return replace(row, rank=rank)
