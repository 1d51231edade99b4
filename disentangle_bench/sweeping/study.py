"""A study: a grid of runs declared in gin, expanded into runs with stable ids.

A study config declares the grid with the ``study`` configurable; every other binding in the file
is shared by all runs (model, dataset, perturbation and metric bindings reach only the runs that
use that plugin)::

    study.name = 'demo'
    study.datasets = ['dsprites_small']
    study.perturbations = ['noise']            # each dataset: original + one twin per entry
    study.models = {'beta_vae': {'beta': [1.0, 4.0]}, 'ae': {}}
    study.seeds = [0, 1]                       # or an integer N: seeds 0 .. N-1
    study.steps = 1000                         # train.steps of every run (None: the binding)
    study.metrics = ['mig']
    study.dataset_bindings = {'dsprites_small': {'noise.eps': 0.1}}
    beta_vae.num_latent = 5                    # shared binding

A grid key without a dot is a parameter of its model (``beta`` -> ``beta_vae.beta``); a key with a
dot is any binding (``train.learning_rate``). Precedence, lowest first: shared bindings,
``dataset_bindings[dataset]``, ``study.steps``, the grid point, the run's ``experiment.*``.

Each run is the canonical text of exactly the bindings that reach it, sorted. Its id is
``<dataset>-<condition>-<model>-seed<seed>-<hash>``, ``hash`` the first 10 hex digits of the
SHA-256 of that text: adding, removing or reordering other grid points never changes it (the role
disentanglement_lib's model numbers play, without depending on the position in the grid).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gin
from gin import config as gin_config

from disentangle_bench.pipeline.experiment import ORIGINAL
from disentangle_bench.registry import Registry
from disentangle_bench.util.errors import ConfigError

HASH_LENGTH = 10
PLUGIN_MODULES = ("models", "datasets", "perturbations", "metrics")
GRID_SELECTORS = ("study", "experiment")


@dataclass(frozen=True)
class Study:
    name: str
    datasets: tuple[str, ...]
    perturbations: tuple[str, ...]
    models: dict[str, dict[str, tuple[Any, ...]]]
    seeds: tuple[int, ...]
    steps: int | None
    metrics: tuple[str, ...]
    evaluation_seed: int
    dataset_bindings: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SweepRun:
    """One run of a study: its id, its canonical bindings and the fields of its id."""

    run_id: str
    dataset: str
    condition: str
    model: str
    seed: int
    hyperparameters: dict[str, Any]
    bindings: dict[str, str]
    steps: int

    @property
    def config_text(self) -> str:
        """The run's gin config: one ``key = value`` line per binding, sorted."""
        return "".join(f"{key} = {value}\n" for key, value in sorted(self.bindings.items()))

    @property
    def group(self) -> tuple[tuple[str, str], ...]:
        """The run's bindings without its seed (one preflight per configuration)."""
        return tuple(sorted((k, v) for k, v in self.bindings.items() if k != "experiment.seeds"))


@gin.configurable("study")
def study(
    name: str = gin.REQUIRED,
    datasets: tuple[str, ...] = gin.REQUIRED,
    models: Any = gin.REQUIRED,
    perturbations: tuple[str, ...] = (),
    seeds: Any = (0,),
    steps: int | None = None,
    metrics: tuple[str, ...] = ("mig",),
    evaluation_seed: int = 0,
    dataset_bindings: Any = None,
) -> Study:
    """Build the :class:`Study` from gin (``study.models = {...}``)."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", str(name)):
        raise ConfigError(f"study.name {name!r} must be a simple file name")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds_ = tuple(range(seeds))
    else:
        seeds_ = tuple(seeds)
    if not all(isinstance(s, int) and s >= 0 for s in seeds_) or len(set(seeds_)) != len(seeds_):
        raise ConfigError(f"study.seeds must be distinct non-negative integers, got {seeds!r}")
    if not isinstance(models, Mapping):
        raise ConfigError(
            f"study.models must be a dict {{model: {{parameter: [values]}}}}, got {models!r}"
        )
    grid: dict[str, dict[str, tuple[Any, ...]]] = {}
    for model, parameters in models.items():
        parameters = parameters or {}
        if not isinstance(model, str) or not isinstance(parameters, Mapping):
            raise ConfigError(
                f"study.models[{model!r}] must map parameter names to lists of values"
            )
        grid[model] = {
            str(key): tuple(values) if isinstance(values, (list, tuple)) else (values,)
            for key, values in parameters.items()
        }
    bindings = dataset_bindings or {}
    if not isinstance(bindings, Mapping) or not all(
        isinstance(v, Mapping) for v in bindings.values()
    ):
        raise ConfigError("study.dataset_bindings must be {dataset: {'binding': value}}")
    unknown = sorted(set(bindings) - set(_names("datasets", datasets)))
    if unknown:
        raise ConfigError(f"study.dataset_bindings names datasets not in study.datasets: {unknown}")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ConfigError(f"study.steps must be a positive integer, got {steps!r}")
    return Study(
        name=str(name),
        datasets=_names("datasets", datasets),
        perturbations=_names("perturbations", perturbations),
        models=grid,
        seeds=seeds_,
        steps=steps,
        metrics=_names("metrics", metrics),
        evaluation_seed=int(evaluation_seed),
        dataset_bindings={str(k): dict(v) for k, v in bindings.items()},
    )


def _names(field: str, value: Any) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value or ())
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"study.{field} must be a list of distinct names, got {value!r}")
    return names


def canonical_key(key: str) -> tuple[str, str]:
    """``'noise.eps'`` -> (``'noise.eps'``, ``'perturbations.noise'``): gin's shortest key for a
    binding, and its full selector. An unknown configurable or parameter is a ConfigError."""
    try:
        parsed = gin_config.ParsedBindingKey.parse(key)
    except (ValueError, KeyError) as error:
        raise ConfigError(f"study: bad binding {key!r}: {str(error).splitlines()[0]}") from None
    return (
        gin_config._format_binding_key(*parsed.scope_selector_arg),
        parsed.complete_selector,
    )


def _render(value: Any) -> str:
    text = gin_config._format_value(value)
    if text.startswith("%"):  # a macro reference: resolve it so the run config stands alone
        return gin_config._format_value(gin.query_parameter(text))
    return text


def shared_bindings() -> dict[str, tuple[str, str]]:
    """Every binding parsed so far except the grid's own: key -> (selector, value text)."""
    shared: dict[str, tuple[str, str]] = {}
    for (scope, selector), parameters in gin_config._CONFIG.items():
        if selector == "gin.macro" or selector.rsplit(".", 1)[-1] in GRID_SELECTORS:
            continue
        for parameter, value in parameters.items():
            key = gin_config._format_binding_key(scope, selector, parameter)
            shared[key] = (selector, _render(value))
    return shared


def _relevant(selector: str, uses: dict[str, set[str]]) -> bool:
    module, _, name = selector.rpartition(".")
    if module in PLUGIN_MODULES:
        return name in uses[module]
    return True


def expand(spec: Study, registry: Registry) -> list[SweepRun]:
    """Every run of the study, in grid order; names are checked against the registry."""
    for name in spec.datasets:
        registry.get("datasets", name)
    for name in spec.perturbations:
        registry.get("perturbations", name)
    for name in spec.metrics:
        registry.get("metrics", name)
    for name in spec.models:
        registry.get("models", name)
    shared = shared_bindings()
    per_dataset = {
        dataset: {canonical_key(k): _render(v) for k, v in values.items()}
        for dataset, values in spec.dataset_bindings.items()
    }
    steps_key = canonical_key("train.steps")
    runs: list[SweepRun] = []
    for model, grid in spec.models.items():
        keys = sorted(grid)
        full_keys = [canonical_key(k if "." in k else f"{model}.{k}") for k in keys]
        for values in itertools.product(*(grid[k] for k in keys)):
            point = {fk: _render(v) for fk, v in zip(full_keys, values)}
            hyperparameters = {fk[0]: v for fk, v in zip(full_keys, values)}
            for dataset in spec.datasets:
                for perturbation in (None, *spec.perturbations):
                    for seed in spec.seeds:
                        runs.append(
                            _make_run(
                                spec, model, dataset, perturbation, seed, hyperparameters,
                                [_items(shared),
                                 per_dataset.get(dataset, {}),
                                 {steps_key: str(spec.steps)} if spec.steps else {},
                                 point],
                            )
                        )  # fmt: skip
    if not runs:
        raise ConfigError(
            f"study {spec.name!r} expands to zero runs: give at least one model, dataset and seed, "
            "and a non-empty list for every grid parameter"
        )
    seen: dict[str, SweepRun] = {}
    for run in runs:
        if run.run_id in seen:
            raise ConfigError(f"study {spec.name!r} lists run {run.run_id} twice")
        seen[run.run_id] = run
    return runs


def _items(shared: dict[str, tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {(key, selector): value for key, (selector, value) in shared.items()}


def _make_run(
    spec: Study,
    model: str,
    dataset: str,
    perturbation: str | None,
    seed: int,
    hyperparameters: dict[str, Any],
    layers: list[dict[tuple[str, str], str]],
) -> SweepRun:
    uses = {
        "models": {model},
        "datasets": {dataset},
        "perturbations": {perturbation} if perturbation else set(),
        "metrics": set(spec.metrics),
    }
    bindings: dict[str, str] = {}
    for layer in layers:
        for (key, selector), value in layer.items():
            if _relevant(selector, uses):
                bindings[key] = value
    experiment_values = {
        "name": spec.name,
        "model": model,
        "datasets": [dataset],
        "perturbations": [perturbation] if perturbation else [],
        "metrics": list(spec.metrics),
        "seeds": [seed],
        "evaluation_seed": spec.evaluation_seed,
    }
    for parameter, value in experiment_values.items():
        bindings[f"experiment.{parameter}"] = gin_config._format_value(value)
    text = "".join(f"{key} = {value}\n" for key, value in sorted(bindings.items()))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]
    condition = perturbation or ORIGINAL
    steps_text = bindings.get("train.steps")
    steps = int(steps_text) if steps_text is not None else _default_steps()
    return SweepRun(
        run_id=f"{dataset}-{condition}-{model}-seed{seed}-{digest}",
        dataset=dataset,
        condition=condition,
        model=model,
        seed=seed,
        hyperparameters=hyperparameters,
        bindings=bindings,
        steps=steps,
    )


def _default_steps() -> int:
    from disentangle_bench.pipeline.training import TrainingConfig

    return TrainingConfig.__dataclass_fields__["steps"].default
