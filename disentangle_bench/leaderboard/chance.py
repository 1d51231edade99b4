"""Chance levels: what a score gives for codes that carry no information about the factors.

A method whose score on the original data is no better than chance has no disentanglement to
lose, so its robustness ratio (perturbed / original) is noise over noise: a chance-level method
whose perturbed score happens to be as high as its original one would get a ratio near 1 and
look robust. The leaderboard therefore shows ``n/a`` for such an entry's robustness and ranks it
after the others (:mod:`~disentangle_bench.leaderboard.aggregate`).

The level of a score on a dataset is *measured*, never typed: :func:`measure` scores ``draws``
independent standard Gaussian codes (each its own ``RandomState(draw)``, ``num_latent``
dimensions, independent of the images) with the metric's default parameters and the evaluation
seed every run uses (0), and the level is the largest of those scores (an upper end of what
chance gives). ``benchmarks/testbed_submissions.py`` writes the measured levels into
:mod:`~disentangle_bench.leaderboard.chance_levels` (generated, not edited) and
``tests/test_leaderboard_testbed.py`` measures them again and compares.

The rule (:func:`at_chance`): for a score where higher is better, an entry is *at chance* on a
dataset when the lower end of the 95 % bootstrap interval of its original score reaches the
level (is at most the level), i.e. chance is not excluded. It applies only where a level was
measured for that dataset and score, and only to entries scored with the parameters the level
was measured with (a 1,000-sample MIG has another chance level than a 10,000-sample one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from disentangle_bench.leaderboard.statistics import Estimate

#: How many independent codes a level is measured on.
DRAWS = 20
#: The evaluation seed of every run (``experiment.evaluation_seed``'s default).
EVALUATION_SEED = 0


@dataclass(frozen=True)
class ChanceLevel:
    """The measured chance level of one score (``metric.key``) on one dataset."""

    dataset: str
    score: str
    level: float  # the largest score of the independent codes
    mean: float  # their mean (for the record)
    num_latent: int
    draws: int
    metric_parameters: dict[str, Any]

    def applies_to(self, metric_parameters: dict[str, Any]) -> bool:
        """Whether an entry scored with ``metric_parameters`` (metric name -> parameters) was
        scored as the level was measured."""
        metric = self.score.split(".", 1)[0]
        return metric_parameters.get(metric) == self.metric_parameters


def independent_codes(num_latent: int, seed: int):
    """A representation function returning standard Gaussian codes drawn from
    ``RandomState(seed)``, whatever the observations."""
    random_state = np.random.RandomState(seed)

    def represent(observations: np.ndarray) -> np.ndarray:
        return random_state.normal(size=(len(observations), num_latent))

    return represent


def measure(
    dataset: str,
    metric: str,
    key: str,
    *,
    num_latent: int,
    draws: int = DRAWS,
    registry: Any = None,
) -> ChanceLevel:
    """The chance level of ``metric.key`` on the registered ``dataset`` (default parameters),
    from ``draws`` independent codes of ``num_latent`` dimensions (see the module docstring)."""
    from disentangle_bench.pipeline.config import effective_parameters

    if registry is None:
        from disentangle_bench.registry import Registry

        registry = Registry()
    data = registry.build("datasets", dataset)
    entry = registry.get("metrics", metric)
    parameters = effective_parameters(entry.factory, f"metrics.{metric}")
    scores = []
    for draw in range(draws):
        scorer = registry.build("metrics", metric)
        values = scorer(
            data,
            independent_codes(num_latent, draw),
            np.random.RandomState(EVALUATION_SEED),
        )
        scores.append(float(values[key]))
    return ChanceLevel(
        dataset=dataset,
        score=f"{metric}.{key}",
        level=max(scores),
        mean=float(np.mean(scores)),
        num_latent=num_latent,
        draws=draws,
        metric_parameters=parameters,
    )


def levels() -> dict[tuple[str, str], ChanceLevel]:
    """The committed levels, (dataset, ``metric.key``) -> level."""
    from disentangle_bench.leaderboard.chance_levels import LEVELS

    return {(level.dataset, level.score): level for level in LEVELS}


def at_chance(original: Estimate, level: ChanceLevel | None, higher_is_better: bool) -> bool:
    """Whether an original score (mean and interval) does not exclude chance (module
    docstring). Only scores where higher is better have a rule."""
    if level is None or not higher_is_better:
        return False
    low = original.low if original.low is not None else original.mean
    return low <= level.level


def _literal(value: Any) -> str:
    """Python source for a JSON-like value, as ``ruff format`` writes it (double quotes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = ", ".join(f"{_literal(str(k))}: {_literal(v)}" for k, v in sorted(value.items()))
        return "{" + items + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def module_text(measured: list[ChanceLevel], generator: str) -> str:
    """The source of :mod:`~disentangle_bench.leaderboard.chance_levels` for ``measured``."""
    lines = [
        f'"""Chance levels measured by {generator} (generated: do not edit; rerun it).',
        "",
        "See :mod:`disentangle_bench.leaderboard.chance` for what is measured and how.",
        '"""',
        "",
        "from disentangle_bench.leaderboard.chance import ChanceLevel",
        "",
        "LEVELS = (",
    ]
    for level in sorted(measured, key=lambda item: (item.dataset, item.score)):
        lines += [
            "    ChanceLevel(",
            f"        dataset={_literal(level.dataset)},",
            f"        score={_literal(level.score)},",
            f"        level={level.level!r},",
            f"        mean={level.mean!r},",
            f"        num_latent={level.num_latent!r},",
            f"        draws={level.draws!r},",
            f"        metric_parameters={_literal(level.metric_parameters)},",
            "    ),",
        ]
    lines += [")", ""]
    return "\n".join(lines)
