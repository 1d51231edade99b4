"""What one gin config asks for: a model trained on each dataset and its perturbed twins.

One config describes several runs: the cross product of ``datasets`` x (original +
``perturbations``) x ``seeds`` for one ``model``, all scored by the same ``metrics``. Plugins are
named by string so that an unknown name gets a "did you mean" suggestion::

    experiment.name = 'quickstart'
    experiment.model = 'beta_vae'
    experiment.datasets = ['dsprites_small']
    experiment.perturbations = ['noise']
    experiment.metrics = ['mig']
    experiment.seeds = [0]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import gin

from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError

ORIGINAL = "original"


@dataclass(frozen=True)
class RunSpec:
    """One training run: a model on one dataset (perturbed or not) with one seed."""

    model: str
    dataset: str
    perturbation: str | None
    seed: int
    metrics: tuple[str, ...]
    evaluation_seed: int

    @property
    def condition(self) -> str:
        """``original`` or the perturbation's name."""
        return self.perturbation or ORIGINAL

    @property
    def run_id(self) -> str:
        """A stable directory name, e.g. ``dsprites_small-noise-beta_vae-seed0``."""
        return f"{self.dataset}-{self.condition}-{self.model}-seed{self.seed}"


@dataclass(frozen=True)
class Experiment:
    name: str
    model: str
    datasets: tuple[str, ...]
    perturbations: tuple[str, ...]
    metrics: tuple[str, ...]
    seeds: tuple[int, ...]
    evaluation_seed: int

    def runs(self) -> list[RunSpec]:
        conditions: tuple[str | None, ...] = (None, *self.perturbations)
        return [
            RunSpec(self.model, dataset, perturbation, seed, self.metrics, self.evaluation_seed)
            for dataset in self.datasets
            for perturbation in conditions
            for seed in self.seeds
        ]

    def validate(self, registry: Registry) -> None:
        """Fail before any work starts if a name is unknown."""
        registry.get("models", self.model)
        for name in self.datasets:
            registry.get("datasets", name)
        for name in self.perturbations:
            registry.get("perturbations", name)
        for name in self.metrics:
            registry.get("metrics", name)


@gin.configurable("experiment")
def experiment(
    name: str = "experiment",
    model: str = gin.REQUIRED,
    datasets: tuple[str, ...] = gin.REQUIRED,
    perturbations: tuple[str, ...] = (),
    metrics: tuple[str, ...] = ("mig",),
    seeds: tuple[int, ...] = (0,),
    evaluation_seed: int = 0,
) -> Experiment:
    """Build the :class:`Experiment` from gin (``experiment.model = ...``)."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", str(name)):
        raise ConfigError(f"experiment.name {name!r} must be a simple file name")
    datasets = _names("datasets", datasets)
    if not datasets:
        raise ConfigError("experiment.datasets is empty: name at least one dataset")
    seeds_ = tuple(seeds) if isinstance(seeds, (list, tuple)) else (seeds,)
    if not seeds_ or not all(isinstance(s, int) and s >= 0 for s in seeds_):
        raise ConfigError(f"experiment.seeds must be non-negative integers, got {seeds!r}")
    if len(set(seeds_)) != len(seeds_):
        raise ConfigError(f"experiment.seeds has duplicates: {seeds!r}")
    metrics_ = _names("metrics", metrics)
    if not metrics_:
        raise ConfigError("experiment.metrics is empty: name at least one metric")
    return Experiment(
        name=str(name),
        model=str(model),
        datasets=datasets,
        perturbations=_names("perturbations", perturbations),
        metrics=metrics_,
        seeds=seeds_,
        evaluation_seed=int(evaluation_seed),
    )


def _names(field: str, value: object) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value or ())  # type: ignore[arg-type]
    if not all(isinstance(n, str) for n in names):
        raise ConfigError(f"experiment.{field} must be a list of names, got {value!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"experiment.{field} has duplicates: {value!r}")
    return names
