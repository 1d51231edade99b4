"""What a plugin object of each kind must provide, and the checks that enforce it.

Each check fails with a :class:`~disentangle_bench.util.errors.PluginError` that names the plugin
and its distribution:

- :func:`check_factory` when a plugin registers an object: a callable with a valid ``name``;
- :func:`check_instance` when the runner builds it: the built object has the methods its kind
  requires (documented per hook in :mod:`disentangle_bench.registry.hookspecs`);
- on a first batch, before any training (``bench run``'s preflight): what a dataset returns
  (:func:`check_factors`, :func:`check_observations`: shapes, dtypes, range), what a model's
  loss and ``encode`` return (:func:`check_losses`, :func:`check_codes`: shapes, finiteness) and
  what a metric returns (:func:`check_scores`: a non-empty dict of finite floats; also applied to
  every full evaluation, so no score that is not a finite number is ever written).
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

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


# -- what a built object returns, checked on a first batch -----------------------------------


def _shape(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else type(value).__name__


def check_factors(
    origin: str, name: str, factors: Any, num: int, sizes: tuple[int, ...]
) -> np.ndarray:
    """``sample_factors(num, random_state)``: an integer (num, F) array within the grid."""
    where = f"{origin}: dataset {name!r}: sample_factors({num}, random_state)"
    if not isinstance(factors, np.ndarray):
        raise PluginError(f"{where} returned {type(factors).__name__}, not a numpy array")
    if factors.shape != (num, len(sizes)):
        raise PluginError(f"{where} returned {_shape(factors)}, not ({num}, {len(sizes)})")
    if factors.dtype.kind not in "iu":
        raise PluginError(f"{where} returned dtype {factors.dtype}, not integers")
    if np.any(factors < 0) or np.any(factors >= np.asarray(sizes)):
        raise PluginError(f"{where} returned factors outside the grid {tuple(sizes)}")
    return factors


def check_grid(origin: str, name: str, data: Any) -> tuple[int, ...]:
    """``factor_names``, ``factors_num_values`` and ``observation_shape`` agree and are sane."""
    where = f"{origin}: dataset {name!r}"
    sizes = tuple(data.factors_num_values)
    names = tuple(data.factor_names)
    if not sizes or not all(_is_int(s) and s >= 1 for s in sizes):
        raise PluginError(f"{where}: factors_num_values {sizes} must be positive integers")
    if len(names) != len(sizes) or not all(isinstance(n, str) for n in names):
        raise PluginError(
            f"{where}: factor_names {names} must be {len(sizes)} strings, one per factor size"
        )
    shape = tuple(data.observation_shape)
    if len(shape) != 3 or not all(_is_int(s) and s >= 1 for s in shape):
        raise PluginError(f"{where}: observation_shape {shape} must be (H, W, C) positive ints")
    return tuple(int(s) for s in sizes)


def check_observations(
    origin: str,
    name: str,
    observations: Any,
    num: int,
    shape: tuple[int, ...],
    value_range: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """``sample_observations_from_factors``: float32 (num, H, W, C), finite, within
    ``value_range`` (``None``: any finite values; datasets that are not images declare it)."""
    where = f"{origin}: dataset {name!r}: sample_observations_from_factors"
    wanted = f"float32 {(num, *shape)}"
    if value_range is not None:
        wanted += f" in [{value_range[0]:g}, {value_range[1]:g}]"
    if not isinstance(observations, np.ndarray):
        raise PluginError(f"{where} returned {type(observations).__name__}, not {wanted}")
    if observations.shape != (num, *shape):
        raise PluginError(f"{where} returned {_shape(observations)}, not {wanted}")
    if observations.dtype != np.float32:
        raise PluginError(f"{where} returned dtype {observations.dtype}, not {wanted}")
    if not np.all(np.isfinite(observations)):
        raise PluginError(f"{where} returned NaN or infinite values")
    if value_range is not None:
        low, high = float(observations.min()), float(observations.max())
        if low < value_range[0] or high > value_range[1]:
            raise PluginError(
                f"{where} returned values from {low:g} to {high:g}, not {wanted} (images "
                "are divided by 255)"
            )
    return observations


def _scalar(value: Any) -> float | None:
    """A loss or term as a float: a one-element tensor or array, or a real number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    numel = getattr(value, "numel", None)
    size = numel() if callable(numel) else getattr(value, "size", None)
    if size != 1:
        return None
    try:
        return float(value.detach().float().cpu().item() if hasattr(value, "detach") else value)
    except (TypeError, ValueError):
        return None


def check_losses(origin: str, name: str, losses: Mapping[str, Any], terms: Any, num: int) -> None:
    """A model's losses (one per optimiser) and logged terms on a first batch of ``num``: each
    a finite scalar, the losses differentiable."""
    where = f"{origin}: model {name!r} on a first batch of {num}"
    for key, loss in losses.items():
        label = "loss(x, step)[0]" if len(losses) == 1 else f"training_losses(x, step)[{key!r}]"
        value = _scalar(loss)
        if value is None:
            raise PluginError(f"{where}: {label} is {_shape(loss)}, not a scalar tensor")
        if not math.isfinite(value):
            raise PluginError(f"{where}: {label} is {value}, not finite")
        if not getattr(loss, "requires_grad", False):
            raise PluginError(f"{where}: {label} does not depend on the model's parameters")
    if not isinstance(terms, Mapping) or not terms:
        raise PluginError(f"{where}: the logged terms are {terms!r}, not a dict of scalars")
    for key, term in terms.items():
        value = _scalar(term)
        if not isinstance(key, str) or value is None:
            raise PluginError(f"{where}: logged term {key!r} is {_shape(term)}, not a scalar")
        if not math.isfinite(value):
            raise PluginError(f"{where}: logged term {key!r} is {value}, not finite")


def check_codes(origin: str, name: str, codes: Any, num: int) -> np.ndarray:
    """``encode(x)`` on a batch of ``num``: a finite (num, D) array or tensor, D >= 1."""
    where = f"{origin}: model {name!r}: encode(x) on a first batch of {num}"
    if isinstance(codes, (tuple, list)) and codes:
        codes = codes[0]  # (mean, ...): the representation is the first
    if hasattr(codes, "detach"):
        codes = codes.detach().float().cpu().numpy()
    if not isinstance(codes, np.ndarray):
        raise PluginError(f"{where} returned {type(codes).__name__}, not a ({num}, D) tensor")
    if codes.ndim != 2 or codes.shape[0] != num or codes.shape[1] < 1:
        raise PluginError(f"{where} returned {_shape(codes)}, not ({num}, D)")
    if codes.dtype.kind not in "biuf" or not np.all(np.isfinite(codes)):
        raise PluginError(f"{where} returned NaN, infinite or non-numeric values")
    return codes


def check_scores(
    origin: str, name: str, values: Any, *, allow_nan: bool = False
) -> dict[str, float]:
    """A metric's result: a non-empty dict of string keys and finite real numbers (numpy scalars
    included; bools, strings, NaN and infinities refused). Returns it with float values.

    ``allow_nan``: NaN (an undefined score) passes, for a first try on an untrained model, whose
    codes can leave a score undefined (a diagnostic with no active dimension)."""
    where = f"{origin}: metric {name!r} returned"
    if not isinstance(values, Mapping) or not values:
        shown = repr(values)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise PluginError(f"{where} {shown}, not a non-empty dict of scores")
    scores = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise PluginError(f"{where} the key {key!r}, not a string")
        value = _item(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise PluginError(f"{where} {key}={value!r}, not a number")
        number = float(value)
        if not math.isfinite(number) and not (allow_nan and math.isnan(number)):
            raise PluginError(f"{where} {key}={number}, not a finite number")
        scores[key] = number
    return scores


def _item(value: Any) -> Any:
    """A one-element array or tensor as its Python number; anything else unchanged."""
    if isinstance(value, (np.ndarray, np.generic)) and np.size(value) == 1:
        return value.item()
    numel = getattr(value, "numel", None)
    if callable(numel) and hasattr(value, "item") and numel() == 1:
        return value.item()
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
