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
:mod:`disentangle_bench.registry.contract`.
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

    ``factory(observation_shape=(H, W, C), **hyperparameters)`` returns a ``torch.nn.Module``.
    ``observation_shape`` is supplied by the runner and must not be bound in gin; out-of-range
    hyperparameters raise ``ValueError`` in the factory (reported before any training).

    Required:

    - ``encode(x) -> (N, D)``: the representation the metrics score; ``x`` is float32 NCHW
      (images in [0, 1]; other data in its own range).
    - ``loss(batch, step) -> (total, terms)``: ``total`` the scalar to minimise, ``terms`` a dict
      of named scalar tensors, all logged; ``step`` counts completed training steps.

    Optional:

    - ``sample_kind`` (class attribute, default ``'single'``): what ``batch`` holds.
      ``'single'``: observations ``(N, C, H, W)``. ``'natural_pairs'`` (pairs whose factors make
      sparse Laplace transitions) and ``'weak_pairs'`` (pairs differing in k factors): one tensor
      ``(2, N, C, H, W)``, ``batch[0]`` the first and ``batch[1]`` the second image of each pair
      (see :mod:`disentangle_bench.data.sampling`). ``sample_options`` (dict) are the keyword
      arguments of that sampler (``{'rate': 1.0}``, ``{'k': 1}``); a dataset that cannot make
      them fails with one message before training starts.
    - Models that need more than one optimiser (FactorVAE: VAE and discriminator) define both
      ``configure_optimizers(train_config) -> {name: torch.optim.Optimizer}`` (each optimiser
      owns its own parameters; ``train_config`` holds ``learning_rate``, ``beta1``, ``beta2``,
      ``epsilon``) and ``training_losses(batch, step) -> ({name: loss}, terms)``. The trainer
      back-propagates each loss into its optimiser's parameters only, steps every optimiser on
      the same batch, and checkpoints all of them. Without these, the trainer uses one Adam
      optimiser over ``parameters()`` on ``loss``; ``loss`` stays required either way.
    - ``decode(z)`` and ``reconstruct(x)``, in observation space: used for the
      ``traversals.png`` and ``reconstructions.png`` figures written after training.
    - ``draw_noise(batch, generator=None) -> {name: tensor}``: every random number one step
      needs, from ``generator`` (torch's default generator of the batch's device if None); the
      trainer then calls ``loss(batch, step, noise)`` (and ``training_losses``) with them, so a
      model with ``draw_noise`` takes an optional third argument ``noise`` (drawing its own when
      it is None). The batched trainer (:mod:`disentangle_bench.pipeline.batched`) needs it.

    The trainer runs the forward pass under ``torch.autocast`` when ``train.mixed_precision`` is
    set; compute loss terms in float32 (cast network outputs with ``.float()``).
    """


@hookspec
def register_metrics() -> Iterable[Any]:
    """Return metric factories.

    ``factory(**hyperparameters)`` returns a callable
    ``metric(ground_truth_data, representation_function, random_state) -> dict[str, float]``
    with disentanglement_lib's semantics: ``representation_function`` maps float32 NHWC
    observations to an (N, D) array and every random draw comes from ``random_state``.
    """
