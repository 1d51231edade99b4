"""K models of one model class trained at once: the same hyperparameters, K seeds, one dataset.

:func:`train_batched` returns K ordinary trained ``nn.Module`` s, each the model that ``bench run``
would train with that seed: initialised the same way (``torch.manual_seed(seed)``, then the
model's factory), fed the same batches (the model's sampler with ``np.random.RandomState(seed)``)
and the same noise (torch's default generator after initialisation, one generator per model),
and stepped by the same optimisers. Only the order of floating-point operations differs.

How (``torch.func``): the K models' parameters are stacked into tensors with a leading K axis
(``stack_module_state``); one step is ``vmap`` of ``grad`` of the model's loss, called through
``functional_call`` on a parameter-free copy of the model, so every layer runs once for all K
models (a batched matmul, a grouped convolution). Each model's random draws are made outside
the vmapped step from its own generator (the model's ``draw_noise(batch, generator)``) and passed
in. The optimisers (the model's own, rebuilt over the stacked tensors) are elementwise, so one
Adam over stacked tensors is K independent Adams. A model with several optimisers (FactorVAE)
gets one vector-Jacobian product per optimiser, each restricted to that optimiser's parameters.
``benchmarks/batched_speed.py`` measures this design against grouped layers written out by hand
and against K sequential runs; ``docs/models.md`` has the numbers.

Limits: no checkpoints (a batched run is short or restarts); buffers are carried but never
updated (none of the built-in models has one); the model must define ``draw_noise`` (a loss that
draws its own noise cannot be vmapped) and use elementwise optimisers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vjp, vmap

from disentangle_bench.data.ground_truth import GroundTruthData
from disentangle_bench.data.sampling import make_sampler
from disentangle_bench.models.optimizers import adam
from disentangle_bench.pipeline.training import (
    DEFAULT_OPTIMIZER,
    TrainingConfig,
    TrainingDivergedError,
    _Precision,
    _TermSums,
    compute_losses,
    configure_optimizers,
    to_model_input,
)
from disentangle_bench.util.errors import ConfigError, PluginError
from disentangle_bench.util.progress import Progress

#: Optimisers whose update of each element depends only on that element (and a shared step
#: count), so one instance over stacked tensors equals one instance per model.
ELEMENTWISE_OPTIMIZERS = (
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.Adamax,
    torch.optim.NAdam,
    torch.optim.RAdam,
    torch.optim.SGD,
    torch.optim.RMSprop,
    torch.optim.Adagrad,
)

LogCallback = Callable[[int, dict[str, list[float]]], None]


def build_seeded_models(
    factory: Callable[..., nn.Module],
    hyperparameters: dict[str, Any],
    observation_shape: Sequence[int],
    seeds: Sequence[int],
) -> tuple[list[nn.Module], list[torch.Tensor]]:
    """The K models as ``bench run`` initialises them, and torch's CPU generator state right
    after each initialisation (where that run's noise starts). Torch's global generator is
    left as it was found."""
    saved = torch.get_rng_state()
    models, states = [], []
    try:
        for seed in seeds:
            torch.manual_seed(int(seed))
            models.append(factory(observation_shape=tuple(observation_shape), **hyperparameters))
            states.append(torch.get_rng_state())
    finally:
        torch.set_rng_state(saved)
    return models, states


def noise_generators(
    seeds: Sequence[int], cpu_states: Sequence[torch.Tensor], device: torch.device
) -> list[torch.Generator]:
    """One generator per model that draws what that seed's separate run draws on ``device``:
    on the CPU the global generator after initialisation; on CUDA the device generator that
    ``torch.manual_seed(seed)`` seeds (initialisation runs on the CPU and leaves it untouched)."""
    generators = []
    for seed, state in zip(seeds, cpu_states, strict=True):
        if device.type == "cpu":
            generator = torch.Generator()
            generator.set_state(state)
        else:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(seed))
        generators.append(generator)
    return generators


class _Objective(nn.Module):
    """``forward`` = the model's losses, so that ``functional_call`` can call them."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(
        self, batch: torch.Tensor, step: int, noise: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return compute_losses(self.model, batch, step, self.names, noise)


class BatchedModels:
    """K models of one class as stacked tensors, their optimisers, and one training step.

    ``models`` must share their architecture (the same factory and hyperparameters). The models
    are not changed until :meth:`unstack` writes the trained parameters back into them.
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        config: TrainingConfig,
        device: torch.device,
        generators: Sequence[torch.Generator],
    ) -> None:
        if not models:
            raise ConfigError("train_batched needs at least one seed")
        self.models = list(models)
        self.device = device
        self.generators = list(generators)
        name = getattr(models[0], "name", type(models[0]).__name__)
        if not hasattr(models[0], "draw_noise"):
            raise PluginError(
                f"model {name!r} draws its own noise inside its loss; the batched trainer needs "
                "draw_noise(batch, generator) and a loss that takes the noise"
            )
        for model in self.models:
            model.to(device)
            model.train()
        self.precision = _Precision(config.mixed_precision, device)
        template_optimizers = configure_optimizers(self.models[0], config)
        self.names = list(template_optimizers)
        params, buffers = stack_module_state(self.models)
        self.parameters: dict[str, torch.Tensor] = {
            key: value.detach().clone().requires_grad_(value.requires_grad)
            for key, value in params.items()
        }
        self.buffers = {f"model.{key}": value for key, value in buffers.items()}
        self.owners = _owners(self.models[0], template_optimizers)
        self.optimizers = _stacked_optimizers(
            template_optimizers, self.owners, self.parameters, name, config
        )
        template = copy.deepcopy(self.models[0]).to("meta")
        self.objective = _Objective(template, self.names)
        self._step = vmap(self._per_model_step, in_dims=(0, 0, 0, None, None))

    def __len__(self) -> int:
        return len(self.models)

    def draw_noise(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each model's draws on its slice of ``batch`` from its own generator, stacked."""
        draws = [
            model.draw_noise(batch[k], generator)
            for k, (model, generator) in enumerate(zip(self.models, self.generators, strict=True))
        ]
        return {key: torch.stack([draw[key] for draw in draws]) for key in draws[0]}

    def _per_model_step(
        self,
        parameters: dict[str, torch.Tensor],
        batch: torch.Tensor,
        noise: dict[str, torch.Tensor],
        step: int,
        scale: torch.Tensor | None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """One model's gradients (each optimiser's loss into that optimiser's parameters) and
        its logged terms."""

        def losses_of(p: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], Any]:
            arguments = {f"model.{key}": value for key, value in p.items()}
            losses, terms = functional_call(
                self.objective, (arguments, self.buffers), (batch, step, noise)
            )
            scaled = losses if scale is None else {k: v * scale for k, v in losses.items()}
            return scaled, terms

        if len(self.names) == 1:
            (only,) = self.names

            def single(p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
                losses, terms = losses_of(p)
                return losses[only], terms

            gradients, terms = grad(single, has_aux=True)(parameters)
            return gradients, terms
        losses, pullback, terms = vjp(losses_of, parameters, has_aux=True)
        gradients: dict[str, torch.Tensor] = {}
        for name in self.names:
            cotangent = {
                key: torch.ones_like(value) if key == name else torch.zeros_like(value)
                for key, value in losses.items()
            }
            (per_parameter,) = pullback(cotangent)
            gradients.update({key: per_parameter[key] for key in self.owners[name]})
        return gradients, terms

    def step(self, batch: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step of every model on its slice of ``batch`` (K, ...); returns the
        terms, each (K,)."""
        noise = self.draw_noise(batch)
        scaler = self.precision.scaler
        scale = scaler.scale(torch.ones((), device=self.device)) if scaler else None
        with self.precision.autocast():
            gradients, terms = self._step(self.parameters, batch, noise, step, scale)
        for key, parameter in self.parameters.items():
            parameter.grad = gradients.get(key)
        self.precision.step(self.optimizers)
        return terms

    def unstack(self) -> list[nn.Module]:
        """Write the stacked parameters back into the K models; return them (eval mode)."""
        with torch.no_grad():
            for k, model in enumerate(self.models):
                for key, value in self.parameters.items():
                    model.get_parameter(key).copy_(value[k])
                model.eval()
        return self.models


def _owners(model: nn.Module, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, list[str]]:
    """The names of the parameters each optimiser steps."""
    names = {id(parameter): key for key, parameter in model.named_parameters()}
    return {
        name: [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
        for name, optimizer in optimizers.items()
    }


def _stacked_optimizers(
    templates: dict[str, torch.optim.Optimizer],
    owners: dict[str, list[str]],
    parameters: dict[str, torch.Tensor],
    model_name: str,
    config: TrainingConfig,
) -> dict[str, torch.optim.Optimizer]:
    """Each optimiser of the model, rebuilt with its hyperparameters over the stacked tensors."""
    optimizers = {}
    for name, template in templates.items():
        if not isinstance(template, ELEMENTWISE_OPTIMIZERS):
            raise PluginError(
                f"model {model_name!r}: optimiser {name!r} is a {type(template).__name__}, which "
                "the batched trainer cannot stack (it needs an elementwise optimiser such as "
                "Adam or SGD)"
            )
        if name == DEFAULT_OPTIMIZER and len(templates) == 1:
            stacked = [parameters[key] for key in owners[name]]
            optimizers[name] = adam(
                stacked, config.learning_rate, (config.beta1, config.beta2), config.epsilon
            )
            continue
        groups, position = [], 0
        for group in template.param_groups:
            count = len(group["params"])
            keys = owners[name][position : position + count]
            position += count
            settings = {key: value for key, value in group.items() if key != "params"}
            groups.append({**settings, "params": [parameters[key] for key in keys]})
        optimizers[name] = type(template)(groups)
    return optimizers


def sample_batches(
    samplers: Sequence[Any],
    random_states: Sequence[np.random.RandomState],
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """One batch per model from its own sampler and random state, stacked: (K, ...)."""
    arrays = [
        sampler(batch_size, random_state)
        for sampler, random_state in zip(samplers, random_states, strict=True)
    ]
    return to_model_input(np.stack(arrays), device, dtype)


def train_batched(
    model_name: str,
    hyperparameters: dict[str, Any],
    data: GroundTruthData,
    seeds: Sequence[int],
    config: TrainingConfig,
    device: torch.device,
    progress: bool = True,
    *,
    dtype: torch.dtype | None = None,
    registry: Any | None = None,
    on_log: LogCallback | None = None,
) -> list[nn.Module]:
    """Train one model per seed, all at once; return the K trained models (eval mode).

    ``model_name`` is a registered model, built by its factory with ``hyperparameters`` (the
    same keyword arguments a gin config would bind) for ``data``'s observation shape. Each model
    equals the one ``bench run`` trains with that seed and the same ``train`` settings, up to
    floating-point rounding (``docs/models.md``). ``dtype`` converts the models after
    initialisation (float64 for the equivalence tests). Every ``config.log_every`` steps
    ``on_log(step, terms)`` gets each term's mean over the interval, one value per model, and
    the progress line (``progress=True``) shows their means over the models.
    """
    if not seeds:
        raise ConfigError("train_batched needs at least one seed")
    if registry is None:
        from disentangle_bench.registry import Registry

        registry = Registry()
    factory = registry.get("models", model_name).factory
    try:
        models, states = build_seeded_models(
            factory, hyperparameters, data.observation_shape, seeds
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model {model_name!r}: {error}") from error
    if dtype is not None:
        models = [model.to(dtype) for model in models]
    samplers = [make_sampler(model, data) for model in models]
    random_states = [np.random.RandomState(int(seed)) for seed in seeds]
    batched = BatchedModels(models, config, device, noise_generators(seeds, states, device))
    dtype = next(iter(batched.parameters.values())).dtype
    sums = _TermSums(device, (len(seeds),))
    label = f"train {model_name} x{len(seeds)}"
    bar = Progress(config.steps, label) if progress else None
    for step in range(config.steps):
        batch = sample_batches(samplers, random_states, config.batch_size, device, dtype)
        terms = batched.step(batch, step)
        sums.add(terms, label)
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            means = sums.means()
            sums.reset()
            bad = [
                int(seed)
                for k, seed in enumerate(seeds)
                if not all(np.isfinite(values[k]) for values in means.values())
            ]
            if bad:
                raise TrainingDivergedError(
                    f"{label}: non-finite loss at step {done} for seeds {bad}"
                )
            if on_log is not None:
                on_log(done, means)
            if bar is not None:
                summary = " ".join(f"{k}={np.mean(v):.4g}" for k, v in means.items())
                bar.update(done, summary)
    return batched.unstack()
