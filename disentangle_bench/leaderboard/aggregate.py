"""From accepted submissions to ranked tables.

An *entry* (one row of each table) is one configuration of one submitted method. A *table* holds
one score (``metric.key``) on one base dataset against one perturbed condition: conditions are
told apart by name and eps (``oblique (eps 0.1)``). Perturbations fall into three kinds
(:func:`kind_of`):

- *noise* controls: ``matched_noise`` (noise norm-matched to ``oblique`` at the same eps),
  ``blend_matched_noise`` (norm-matched to ``oblique_blend``) and ``noise`` (uniform noise of
  amplitude eps);
- the *shuffled* controls ``oblique_shuffled`` and ``oblique_blend_shuffled`` (the structural
  pattern images on permuted configurations);
- every other perturbation is *structural*.

Each structural condition gets its own table, with the entry's noise control and its shuffled
control in columns of their own. A column prefers the control made for the table's perturbation
(:data:`CONTROLS_OF`), then the ``NOISE_CONTROLS`` order (``matched_noise`` before ``noise``), then
the strength whose eps is closest to the structural eps (ties to the smaller). An entry with no
structural twin on a dataset is shown in a table of its noise condition instead (original | noise |
drop | ratio), or of its shuffled control when it has no noise twin either. A table lists the
entries that have its perturbed condition.

Chance (:mod:`~disentangle_bench.leaderboard.chance`): where a chance level is measured for the
table's dataset and score, an entry whose original score does not exclude chance has no
robustness ratio (``n/a``) and is ranked after the entries that do.

Ranking rule: entries not at chance first; within each group by the mean score on the table's
perturbed condition, best first (higher first, or lower first for scores where lower is better);
equal means share a rank (competition ranking "1224"), the entries at chance ranked after every
other entry; ties are listed by robustness ratio (higher first), then by label and file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from disentangle_bench.leaderboard import chance, ranges
from disentangle_bench.leaderboard.chance import ChanceLevel
from disentangle_bench.leaderboard.statistics import (
    Estimate,
    bootstrap_drop,
    bootstrap_mean,
    bootstrap_ratio,
)

ORIGINAL = "original"
NOISE = "noise"
MATCHED_NOISE = "matched_noise"
BLEND_MATCHED_NOISE = "blend_matched_noise"
SHUFFLED = "oblique_shuffled"
BLEND_SHUFFLED = "oblique_blend_shuffled"
#: The noise controls, the preferred one first.
NOISE_CONTROLS = (MATCHED_NOISE, BLEND_MATCHED_NOISE, NOISE)
SHUFFLED_CONTROLS = (SHUFFLED, BLEND_SHUFFLED)
#: The controls made for a structural perturbation (shown beside it before any other).
CONTROLS_OF = {
    "oblique": (MATCHED_NOISE, SHUFFLED),
    "oblique_blend": (BLEND_MATCHED_NOISE, BLEND_SHUFFLED),
}
#: The key of ``versions`` under which a run records the commit of the code that made it.
COMMIT_KEY = "commit"
STRUCTURAL_KIND, NOISE_KIND, SHUFFLED_KIND = "structural", "noise", "shuffled"
KINDS = (STRUCTURAL_KIND, NOISE_KIND, SHUFFLED_KIND)


def kind_of(perturbation: str) -> str:
    """``noise`` for a noise control, ``shuffled`` for the shuffled control, else
    ``structural``."""
    if perturbation in NOISE_CONTROLS:
        return NOISE_KIND
    if perturbation in SHUFFLED_CONTROLS:
        return SHUFFLED_KIND
    return STRUCTURAL_KIND


@dataclass(frozen=True)
class Condition:
    """A perturbed condition: perturbation name and strength."""

    name: str
    eps: float | None

    @property
    def label(self) -> str:
        return self.name if self.eps is None else f"{self.name} (eps {self.eps:g})"

    @property
    def kind(self) -> str:
        return kind_of(self.name)

    @property
    def is_noise(self) -> bool:
        return self.kind == NOISE_KIND

    @property
    def is_shuffled(self) -> bool:
        return self.kind == SHUFFLED_KIND

    @property
    def is_structural(self) -> bool:
        return self.kind == STRUCTURAL_KIND

    def sort_key(self) -> tuple[int, str, float]:
        eps = -1.0 if self.eps is None else float(self.eps)
        return (KINDS.index(self.kind), self.name, eps)


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
    shuffled: Estimate | None = None
    shuffled_condition: Condition | None = None
    at_chance: bool = False  # the original score does not exclude chance: no ratio


@dataclass(frozen=True)
class Table:
    dataset: str
    score: str
    perturbed: Condition
    rows: tuple[Row, ...]
    number: int = 0
    chance_level: ChanceLevel | None = None  # the level measured for this dataset and score

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
        return self.perturbed.is_structural

    @property
    def show_shuffled(self) -> bool:
        """A shuffled column, when the table is structural and some entry has the control."""
        return self.perturbed.is_structural and any(row.shuffled is not None for row in self.rows)

    @property
    def chance_rows(self) -> int:
        return sum(1 for row in self.rows if row.at_chance)

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


def aggregate(
    submissions: dict[str, dict[str, Any]],
    chance_levels: dict[tuple[str, str], ChanceLevel] | None = None,
) -> Leaderboard:
    """The leaderboard of accepted ``submissions`` (file name -> submission).

    ``chance_levels``: (dataset, ``metric.key``) -> level; default: the committed levels
    (:func:`disentangle_bench.leaderboard.chance.levels`).
    """
    if chance_levels is None:
        chance_levels = chance.levels()
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
                project_versions=tuple(sorted({_project_version(run) for run in runs})),
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
        level = chance_levels.get((dataset, score))
        for target in _targets(by_entry.values()):
            rows = [
                _row(entry, by_condition, target, scale[entry, dataset], level, score)
                for entry, by_condition in by_entry.items()
                if target in by_condition
            ]
            rows = [row for row in rows if row is not None]
            if rows:
                tables.append(
                    Table(
                        dataset,
                        score,
                        target,
                        _ranked(rows, score),
                        number=len(tables) + 1,
                        chance_level=level,
                    )
                )
    return Leaderboard(tuple(sorted(submissions.items())), tuple(entries), tuple(tables))


def _project_version(run: dict[str, Any]) -> str:
    """The project version, with the commit (12 hex digits) when the run records one."""
    commit = (run.get("versions") or {}).get(COMMIT_KEY)
    version = str(run["project_version"])
    return f"{version} ({commit[:12]})" if commit else version


def _targets(
    by_entry: Iterable[dict[Condition | None, dict[int, float]]],
) -> list[Condition]:
    """Every structural condition; for an entry without one, each of its noise conditions, or
    each of its shuffled ones when it has no noise condition either."""
    targets: set[Condition] = set()
    for by_condition in by_entry:
        conditions = [c for c in by_condition if c is not None]
        for kind in KINDS:
            chosen = [c for c in conditions if c.kind == kind]
            if chosen:
                targets.update(chosen)
                break
    return sorted(targets, key=Condition.sort_key)


def _control_for(
    by_condition: dict[Condition | None, dict[int, float]], target: Condition, kind: str
) -> Condition | None:
    """The entry's control of ``kind`` shown beside a structural ``target``: one made for the
    target (:data:`CONTROLS_OF`), then the preferred perturbation (``NOISE_CONTROLS`` order),
    then the eps closest to the target's (ties to the smaller)."""
    controls = [c for c in by_condition if c is not None and c.kind == kind]
    if not controls or not target.is_structural:
        return None
    reference = target.eps if target.eps is not None else 0.0
    preference = NOISE_CONTROLS + SHUFFLED_CONTROLS

    made_for = CONTROLS_OF.get(target.name, ())

    def order(c: Condition) -> tuple[bool, int, float, float]:
        eps = c.eps if c.eps is not None else 0.0
        rank = preference.index(c.name) if c.name in preference else len(preference)
        return (c.name not in made_for, rank, abs(eps - reference), eps)

    return min(controls, key=order)


def _row(
    entry: Entry,
    by_condition: dict[Condition | None, dict[int, float]],
    target: Condition,
    scale: dict[str, set],
    level: ChanceLevel | None = None,
    score: str = "",
) -> Row | None:
    original = by_condition.get(None)
    if not original:
        return None
    seeds = tuple(sorted(original))
    values = [original[s] for s in seeds]
    estimate = bootstrap_mean(values)
    if level is not None and not level.applies_to(entry.config.get("metric_parameters") or {}):
        level = None
    below = chance.at_chance(estimate, level, ranges.higher_is_better(score.split(".", 1)[-1]))
    perturbed = drop = ratio = None
    if target in by_condition:
        other = [by_condition[target][s] for s in seeds]
        perturbed = bootstrap_mean(other)
        drop = bootstrap_drop(values, other)
        ratio = None if below else bootstrap_ratio(values, other)
    controls = {}
    for kind in (NOISE_KIND, SHUFFLED_KIND):
        condition = _control_for(by_condition, target, kind)
        mean = None
        if condition is not None:
            mean = bootstrap_mean([by_condition[condition][s] for s in seeds])
        controls[kind] = (condition, mean)
    return Row(
        entry=entry,
        seeds=seeds,
        steps=tuple(sorted(scale["steps"])),
        hardware=tuple(sorted(scale["hardware"])),
        original=estimate,
        perturbed=perturbed,
        noise=controls[NOISE_KIND][1],
        noise_condition=controls[NOISE_KIND][0],
        drop=drop,
        ratio=ratio,
        shuffled=controls[SHUFFLED_KIND][1],
        shuffled_condition=controls[SHUFFLED_KIND][0],
        at_chance=below,
    )


def _ranked(rows: list[Row], score: str) -> tuple[Row, ...]:
    sign = 1.0 if ranges.higher_is_better(score.split(".", 1)[-1]) else -1.0

    def order(row: Row) -> tuple:
        if row.perturbed is None:
            return (2, 0.0, 0.0, row.entry.label, row.entry.source)
        ratio = row.ratio.mean if row.ratio is not None else float("-inf")
        group = 1 if row.at_chance else 0
        return (group, -sign * row.perturbed.mean, -ratio, row.entry.label, row.entry.source)

    ordered = sorted(rows, key=order)
    ranked_ahead = sum(1 for row in ordered if row.perturbed is not None and not row.at_chance)
    ranked = []
    for row in ordered:
        rank = None
        if row.perturbed is not None:
            better = sum(
                1
                for other in ordered
                if other.perturbed is not None
                and other.at_chance == row.at_chance
                and sign * other.perturbed.mean > sign * row.perturbed.mean
            )
            rank = better + 1 + (ranked_ahead if row.at_chance else 0)
        ranked.append(_with_rank(row, rank))
    return tuple(ranked)


def _with_rank(row: Row, rank: int | None) -> Row:
    from dataclasses import replace

    return replace(row, rank=rank)
