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
    experiment.jobs = 1          # runs trained at once on CPU worker processes, or 'auto'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import gin

from disentangle_bench.pipeline.config import SEED_MAX, require_int
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import BenchError, ConfigError
from disentangle_bench.util.gin_errors import without_gin_context

ORIGINAL = "original"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: ``experiment.name`` names the output folder: well under a file name's 255 bytes.
MAX_NAME_LENGTH = 100
#: A run id names a folder too (dataset, condition, model and seed together).
MAX_RUN_ID_LENGTH = 200


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
    jobs: int | str = 1  # see disentangle_bench.pipeline.parallel

    def runs(self) -> list[RunSpec]:
        conditions: tuple[str | None, ...] = (None, *self.perturbations)
        return [
            RunSpec(self.model, dataset, perturbation, seed, self.metrics, self.evaluation_seed)
            for dataset in self.datasets
            for perturbation in conditions
            for seed in self.seeds
        ]

    def validate(self, registry: Registry) -> None:
        """Fail before any work starts if a name is unknown or a run id too long."""
        registry.get("models", self.model)
        for name in self.datasets:
            registry.get("datasets", name)
        for name in self.perturbations:
            registry.get("perturbations", name)
        for name in self.metrics:
            registry.get("metrics", name)
        for run in self.runs():
            if len(run.run_id) > MAX_RUN_ID_LENGTH:
                raise ConfigError(
                    f"run id {run.run_id[:40]}... is {len(run.run_id)} characters long (at most "
                    f"{MAX_RUN_ID_LENGTH}: it names a folder); use shorter plugin names"
                )


@gin.configurable("experiment")
def experiment(
    name: str = "experiment",
    model: str = gin.REQUIRED,
    datasets: tuple[str, ...] = gin.REQUIRED,
    perturbations: tuple[str, ...] = (),
    metrics: tuple[str, ...] = ("mig",),
    seeds: tuple[int, ...] = (0,),
    evaluation_seed: int = 0,
    jobs: int | str = 1,
) -> Experiment:
    """Build the :class:`Experiment` from gin (``experiment.model = ...``); every value is
    checked (a :class:`ConfigError` naming the binding)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(
            f"experiment.name {name!r} must be a simple file name (letters, digits, '_', '.', "
            "'-'; not starting with '.', '_' or '-')"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"experiment.name is {len(name)} characters long; at most {MAX_NAME_LENGTH} (it "
            "names the output folder)"
        )
    if not isinstance(model, str) or not model:
        raise ConfigError(f"experiment.model must be a model's name, got {model!r}")
    datasets = _names("datasets", datasets)
    if not datasets:
        raise ConfigError("experiment.datasets is empty: name at least one dataset")
    seeds_ = tuple(seeds) if isinstance(seeds, (list, tuple)) else (seeds,)
    if not seeds_:
        raise ConfigError("experiment.seeds is empty: give at least one seed, e.g. [0]")
    for seed in seeds_:
        require_int("experiment.seeds", seed, minimum=0, maximum=SEED_MAX)
    if len(set(seeds_)) != len(seeds_):
        raise ConfigError(f"experiment.seeds has duplicates: {seeds!r}")
    metrics_ = _names("metrics", metrics)
    if not metrics_:
        raise ConfigError("experiment.metrics is empty: name at least one metric")
    if jobs != "auto":
        jobs = require_int("experiment.jobs", jobs, minimum=1)
    return Experiment(
        name=name,
        model=model,
        datasets=datasets,
        perturbations=_names("perturbations", perturbations),
        metrics=metrics_,
        seeds=tuple(int(seed) for seed in seeds_),
        evaluation_seed=require_int(
            "experiment.evaluation_seed", evaluation_seed, minimum=0, maximum=SEED_MAX
        ),
        jobs=jobs,
    )


def build_experiment() -> Experiment:
    """:func:`experiment` with gin's bindings; an error is its own one line (without gin's
    ``In call to configurable`` line)."""
    try:
        return experiment()
    except BenchError as error:
        raise without_gin_context(error) from None
    except (TypeError, ValueError) as error:  # e.g. an unknown keyword
        raise ConfigError(f"experiment: {without_gin_context(error)}") from None


def _names(field: str, value: object) -> tuple[str, ...]:
    if value is None or isinstance(value, str):
        names: tuple = () if value is None else (value,)
    elif isinstance(value, (list, tuple)):
        names = tuple(value)
    else:
        raise ConfigError(f"experiment.{field} must be a list of names, got {value!r}")
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"experiment.{field} must be a list of names, got {value!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"experiment.{field} has duplicates: {value!r}")
    return names
