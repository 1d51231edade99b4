"""What a plugin object of each kind must provide, and the checks that enforce it.

Two checks, each failing with a :class:`~disentangle_bench.util.errors.PluginError` that names the
plugin and its distribution:

- :func:`check_factory` when a plugin registers an object: a callable with a valid ``name``;
- :func:`check_instance` when the runner builds it: the built object has the methods its kind
  requires (documented per hook in :mod:`disentangle_bench.registry.hookspecs`).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from disentangle_bench.util.errors import PluginError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Kind:
    """One kind of plugin object: its registry key, its hook and its instance contract."""

    key: str
    hook: str
    singular: str
    required_attributes: tuple[str, ...]
    description: str
    runtime_arguments: tuple[str, ...] = ()  # supplied by the runner, never bound in gin


KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        Kind(
            "datasets",
            "register_datasets",
            "dataset",
            (
                "factor_names",
                "factors_num_values",
                "observation_shape",
                "fingerprint",
                "sample_factors",
                "sample_observations_from_factors",
            ),
            "ground-truth data with disentanglement_lib's interface",
        ),
        Kind(
            "perturbations",
            "register_perturbations",
            "perturbation",
            ("apply",),
            "apply(data) -> perturbed GroundTruthData",
        ),
        Kind(
            "models",
            "register_models",
            "model",
            ("encode", "loss", "parameters", "state_dict", "load_state_dict"),
            "torch.nn.Module with encode(x) and loss(batch, step) (optional: sample_kind, "
            "sample_options, configure_optimizers + training_losses, decode, reconstruct)",
            runtime_arguments=("observation_shape",),
        ),
        Kind(
            "metrics",
            "register_metrics",
            "metric",
            ("__call__",),
            "metric(ground_truth_data, representation_function, random_state) -> dict",
        ),
    )
}


def describe_origin(plugin: str, distribution: str) -> str:
    return f"plugin {plugin!r} (distribution {distribution})"


def check_factory(kind: Kind, obj: Any, plugin: str, distribution: str) -> str:
    """Validate a registered object and return its name."""
    origin = describe_origin(plugin, distribution)
    name = getattr(obj, "name", None)
    if not isinstance(name, str):
        raise PluginError(
            f"{origin}: {kind.hook}() returned {obj!r}, which has no string attribute 'name'"
        )
    if not NAME_PATTERN.match(name):
        raise PluginError(
            f"{origin}: {kind.singular} name {name!r} is invalid; use lower-case letters, digits "
            "and underscores, starting with a letter (it is also the gin configurable name)"
        )
    if not callable(obj):
        raise PluginError(
            f"{origin}: {kind.singular} {name!r} is not callable; register a factory "
            "(e.g. the class) whose keyword arguments are its hyperparameters"
        )
    return name


def _has_attribute(instance: Any, attr: str) -> bool:
    """``hasattr`` without evaluating properties (a dataset's fingerprint may be expensive)."""
    try:
        inspect.getattr_static(instance, attr)
    except AttributeError:
        return False
    return True


def check_instance(kind: Kind, name: str, instance: Any, plugin: str, distribution: str) -> Any:
    """Validate what a factory built; return it unchanged."""
    missing = [attr for attr in kind.required_attributes if not _has_attribute(instance, attr)]
    if missing:
        raise PluginError(
            f"{describe_origin(plugin, distribution)}: {kind.singular} {name!r} built a "
            f"{type(instance).__name__} without {', '.join(missing)} "
            f"(a {kind.singular} must provide {kind.description})"
        )
    return instance
