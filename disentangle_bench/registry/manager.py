"""The plugin registry: built-ins and installed plugins, registered through the same hooks.

The built-in datasets, perturbations, models and metrics are registered by the ordinary plugin
modules listed in :data:`disentangle_bench.registry.defaults.DEFAULT_PLUGINS`, one per
sub-package. Third-party plugins are found through
the ``disentangle_bench`` entry-point group (switch that off with
``DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD=1``) or named explicitly in
``DISENTANGLE_BENCH_PLUGINS`` (comma-separated importable modules).

Every registered factory is also exposed to gin under its name (module = its kind), so
``beta_vae.beta = 4`` binds the ``beta`` argument of the model ``beta_vae``. Gin selectors are
global, so plugin names are unique across all kinds and never equal one of the runner's own gin
names (:data:`RESERVED_GIN_NAMES`).

Hooks are called through pluggy (``pm.hook.register_models()``), so ``tryfirst``/``trylast`` order
the implementations and call monitoring sees every call; ``DISENTANGLE_BENCH_TRACE_PLUGINS=1``
prints each hook call and the names it returned to stderr. Hook wrappers are refused: a hook's
result is the list of registered objects, which a wrapper must not rewrite.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import gin
import pluggy

from disentangle_bench.registry import hookspecs
from disentangle_bench.registry.contract import (
    KINDS,
    Kind,
    check_factory,
    check_instance,
    describe_origin,
)
from disentangle_bench.registry.defaults import DEFAULT_PLUGINS
from disentangle_bench.util.errors import BenchError, ConfigError, PluginError, UnknownPluginError
from disentangle_bench.util.gin_errors import first_line, without_gin_context

ENTRY_POINT_GROUP = "disentangle_bench"
DISABLE_AUTOLOAD_ENV = "DISENTANGLE_BENCH_DISABLE_PLUGIN_AUTOLOAD"
EXTRA_PLUGINS_ENV = "DISENTANGLE_BENCH_PLUGINS"
TRACE_ENV = "DISENTANGLE_BENCH_TRACE_PLUGINS"

#: The gin names the runner itself configures; a plugin may not take one of them.
RESERVED_GIN_NAMES = frozenset(
    {
        "experiment",
        "train",
        "evaluation",
        "study",
        "discretizer",
        "histogram_discretizer",
        "prune_dims",
        "predictor",
        "logistic_regression_cv",
        "gradient_boosting_classifier",
        "hist_gradient_boosting_classifier",
    }
    | {"dataset", "postprocess", "mean_representation", "sampled_representation"}  # dlib's files
)


@dataclass(frozen=True)
class Entry:
    """One registered plugin object and where it came from."""

    kind: str
    name: str
    factory: Any = field(repr=False)
    plugin: str
    distribution: str

    @property
    def module(self) -> str:
        """The module that defines the factory."""
        return getattr(self.factory, "__module__", None) or "?"

    @property
    def origin(self) -> str:
        return describe_origin(self.plugin, self.distribution)


def _builtin_distribution() -> str:
    from disentangle_bench import __version__

    return f"disentangle-bench {__version__}"


class Registry:
    """All plugins of one process: lookup by kind and name, and construction through gin."""

    def __init__(self, *, autoload: bool | None = None, plugins: Iterable[Any] = ()) -> None:
        """Register the built-ins, then entry points (unless disabled), then ``plugins``.

        ``plugins`` are extra plugin modules or objects, registered as if installed.
        """
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        if os.environ.get(TRACE_ENV):
            self._manager.add_hookcall_monitoring(_trace_before, _trace_after)
        self._distributions: dict[str, str] = {}
        for module_name in DEFAULT_PLUGINS:
            self._add(importlib.import_module(module_name), module_name, _builtin_distribution())
        if autoload is None:
            autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
        if autoload:
            self._load_entry_points()
        for module_name in filter(None, os.environ.get(EXTRA_PLUGINS_ENV, "").split(",")):
            self._add(_import_plugin(module_name.strip()), module_name.strip(), "(not installed)")
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            self._add(plugin, name, "(not installed)")
        self._entries = self._collect()
        self._gin_factories: dict[tuple[str, str], Any] = {}
        self._expose_to_gin()

    # -- discovery ---------------------------------------------------------------------------

    def _add(self, plugin: Any, name: str, distribution: str) -> None:
        if self._manager.has_plugin(name):
            raise PluginError(
                f"two plugins are named {name!r}: {self._distributions[name]} and {distribution}"
            )
        try:
            self._manager.register(
                _Attributed(self._manager, plugin, name, distribution), name=name
            )
            self._manager.check_pending()
        except pluggy.PluginValidationError as error:
            raise PluginError(f"{describe_origin(name, distribution)}: {error}") from error
        self._distributions[name] = distribution

    def _load_entry_points(self) -> None:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "(unknown distribution)"
            try:
                plugin = ep.load()
            except Exception as error:  # any failure inside a third-party import
                raise PluginError(
                    f"{describe_origin(ep.name, dist)} failed to import {ep.value!r}: "
                    f"{type(error).__name__}: {error}"
                ) from error
            self._add(plugin, ep.name, dist)

    def _collect(self) -> dict[str, dict[str, Entry]]:
        entries: dict[str, dict[str, Entry]] = {key: {} for key in KINDS}
        by_name: dict[str, Entry] = {}
        for kind in KINDS.values():
            for plugin_name, objects in getattr(self._manager.hook, kind.hook)():
                distribution = self._distributions[plugin_name]
                for obj in objects:
                    name = check_factory(kind, obj, plugin_name, distribution)
                    entry = Entry(kind.key, name, obj, plugin_name, distribution)
                    _check_unique(entry, by_name.get(name))
                    entries[kind.key][name] = by_name[name] = entry
        return entries

    def _expose_to_gin(self) -> None:
        with gin.unlock_config(), gin.config.interactive_mode():
            for kind_key, by_name in self._entries.items():
                for name, entry in by_name.items():
                    runtime = KINDS[kind_key].runtime_arguments
                    denylist = [arg for arg in runtime if _accepts(entry, arg)]
                    self._gin_factories[kind_key, name] = gin.external_configurable(
                        entry.factory, name=name, module=kind_key, denylist=denylist or None
                    )

    # -- lookup ------------------------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[_kind(kind).key])

    def entries(self, kind: str | None = None) -> list[Entry]:
        kinds = [_kind(kind).key] if kind else list(KINDS)
        return [self._entries[k][n] for k in kinds for n in sorted(self._entries[k])]

    def get(self, kind: str, name: str) -> Entry:
        kind_ = _kind(kind)
        try:
            return self._entries[kind_.key][name]
        except KeyError:
            raise UnknownPluginError(_unknown_message(kind_, name, self.names(kind))) from None

    def build(self, kind: str, name: str, **runtime_arguments: Any) -> Any:
        """Build a plugin object with its hyperparameters from gin and check its contract."""
        entry = self.get(kind, name)
        factory = self._gin_factories[entry.kind, name]
        try:
            instance = factory(**runtime_arguments)
        except BenchError as error:  # already user-facing; drop gin's "In call to ..." line
            raise without_gin_context(error) from error
        except (ValueError, TypeError) as error:
            message = first_line(error)
            raise ConfigError(f"{KINDS[entry.kind].singular} {name!r}: {message}") from error
        return check_instance(KINDS[entry.kind], name, instance, entry.plugin, entry.distribution)


def _kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownPluginError(
            f"unknown plugin kind {kind!r}; expected one of {', '.join(KINDS)}"
        ) from None


def _unknown_message(kind: Kind, name: str, known: list[str]) -> str:
    message = f"unknown {kind.singular} {name!r}"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; installed {kind.key}: {', '.join(known) or 'none'}"


class _Attributed:
    """A plugin as pluggy sees it: the same hook implementations, with the same options, each
    returning ``(plugin name, objects)`` so that every object is traced to its plugin, and each
    failure inside a hook reported with the plugin's name."""

    def __init__(self, manager: pluggy.PluginManager, plugin: Any, name: str, distribution: str):
        self.__name__ = name
        origin = describe_origin(name, distribution)
        for attribute in dir(plugin):
            options = manager.parse_hookimpl_opts(plugin, attribute)
            if options is None:
                continue
            if options.get("hookwrapper") or options.get("wrapper"):
                raise PluginError(
                    f"{origin}: {attribute} is a hook wrapper; disentangle-bench hooks return "
                    "registered objects and take no wrappers (use tryfirst/trylast to order them)"
                )
            setattr(self, attribute, _attributed(getattr(plugin, attribute), name, origin, options))


def _attributed(function: Any, name: str, origin: str, options: dict) -> Any:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> tuple[str, list[Any]]:
        try:
            result = function(*args, **kwargs)
            return name, list(result or ())
        except Exception as error:
            raise PluginError(
                f"{origin}: {function.__name__}() raised {type(error).__name__}: {error}"
            ) from error

    setattr(call, f"{hookspecs.PROJECT_NAME}_impl", dict(options))
    return call


def _check_unique(entry: Entry, other: Entry | None) -> None:
    """Gin selectors are global: one name, one configurable, across kinds and the runner."""
    if other is not None:
        same = "twice" if other.kind == entry.kind else f"as a {KINDS[other.kind].singular} too"
        raise PluginError(
            f"plugin name {entry.name!r} is registered {same}: {KINDS[other.kind].singular} by "
            f"{other.origin} and {KINDS[entry.kind].singular} by {entry.origin}"
        )
    if entry.name in RESERVED_GIN_NAMES:
        raise PluginError(
            f"{KINDS[entry.kind].singular} {entry.name!r} of {entry.origin} takes the name of "
            f"disentangle-bench's own gin configurable {entry.name!r}; rename the plugin object"
        )


def _trace_before(hook_name: str, hook_impls: list, kwargs: dict) -> None:
    plugins = ", ".join(impl.plugin_name for impl in hook_impls)
    print(f"[plugins] {hook_name}() -> {plugins}", file=sys.stderr)


def _trace_after(outcome: Any, hook_name: str, hook_impls: list, kwargs: dict) -> None:
    if outcome.exception is not None:
        print(f"[plugins] {hook_name}() raised {outcome.exception!r}", file=sys.stderr)
        return
    for plugin_name, objects in outcome.get_result():
        names = ", ".join(str(getattr(obj, "name", obj)) for obj in objects)
        print(f"[plugins] {hook_name}() {plugin_name}: {names}", file=sys.stderr)


def _accepts(entry: Entry, argument: str) -> bool:
    import inspect

    try:
        return argument in inspect.signature(entry.factory).parameters
    except (TypeError, ValueError):
        return False


def _import_plugin(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except Exception as error:
        raise PluginError(
            f"plugin module {module_name!r} named in {EXTRA_PLUGINS_ENV} failed to import: "
            f"{type(error).__name__}: {error}"
        ) from error
