"""The plugin machinery: the hooks (:mod:`.hookspecs`), the contract each registered object keeps
(:mod:`.contract`), the built-in plugin modules (:mod:`.defaults`) and the registry that loads
them all through pluggy (:mod:`.manager`)."""

from disentangle_bench.registry.hookspecs import hookimpl
from disentangle_bench.registry.manager import (
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    EXTRA_PLUGINS_ENV,
    RESERVED_GIN_NAMES,
    TRACE_ENV,
    Entry,
    Registry,
)

__all__ = [
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "EXTRA_PLUGINS_ENV",
    "RESERVED_GIN_NAMES",
    "TRACE_ENV",
    "Entry",
    "Registry",
    "hookimpl",
]
