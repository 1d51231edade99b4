"""The plugin modules that ship with disentangle-bench, registered before any installed plugin
(as datasette's ``DEFAULT_PLUGINS``). Each sub-package with built-ins owns one hookimpl module."""

DEFAULT_PLUGINS = (
    "disentangle_bench.data.plugin",
    "disentangle_bench.perturbations.plugin",
    "disentangle_bench.models.plugin",
    "disentangle_bench.metrics.plugin",
    "disentangle_bench.diagnostics.plugin",
)
