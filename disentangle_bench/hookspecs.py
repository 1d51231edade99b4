"""The plugin contract: the hooks a plugin implements to add datasets, perturbations, models
and metrics.

A plugin is a module (or any object) with functions marked ``@disentangle_bench.hookimpl``. An
installed distribution exposes it through the entry-point group ``disentangle_bench``::

    [project.entry-points.disentangle_bench]
    my_plugin = "my_package.bench_plugin"

Every hook returns an iterable of *plugin objects*. A plugin object is a factory (usually a class)
with a unique ``name`` (lower-case snake case). Its keyword arguments are its hyperparameters and
are bound from gin under that name (``beta_vae.beta = 4``); calling it builds the object the runner
uses. What that object must provide, per kind, is documented on each hook below and checked by
:mod:`disentangle_bench.contract`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

PROJECT_NAME = "disentangle_bench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_datasets() -> Iterable[Any]:
    """Return ground-truth dataset factories.

    ``factory(**hyperparameters)`` returns a
    :class:`disentangle_bench.data.GroundTruthData`: ``factor_names``, ``factors_num_values``,
    ``observation_shape`` (H, W, C), ``sample_factors(num, random_state)`` (int64, (num, F)),
    ``sample_observations_from_factors(factors, random_state)`` (float32 NHWC in [0, 1]) and a
    content ``fingerprint`` (str).
    """


@hookspec
def register_perturbations() -> Iterable[Any]:
    """Return perturbation factories.

    ``factory(**hyperparameters)`` returns an object with ``apply(data) -> GroundTruthData``:
    a dataset with the same factors (same sizes, same order) whose observations are perturbed,
    and whose fingerprint records the base dataset, the perturbation and its parameters.
    """


@hookspec
def register_models() -> Iterable[Any]:
    """Return model factories.

    ``factory(observation_shape=(H, W, C), **hyperparameters)`` returns a ``torch.nn.Module``
    with ``encode(x) -> (N, D)`` (the representation the metrics score; ``x`` is float32 NCHW in
    [0, 1]) and ``loss(x, step) -> (total, terms)`` where ``total`` is the scalar to minimise and
    ``terms`` a dict of named scalar tensors to log. ``observation_shape`` is supplied by the
    runner and must not be bound in gin.
    """


@hookspec
def register_metrics() -> Iterable[Any]:
    """Return metric factories.

    ``factory(**hyperparameters)`` returns a callable
    ``metric(ground_truth_data, representation_function, random_state) -> dict[str, float]``
    with disentanglement_lib's semantics: ``representation_function`` maps float32 NHWC
    observations to an (N, D) array and every random draw comes from ``random_state``.
    """
