"""The built-in plugin: registered through the same hooks as any third-party plugin.

Each sub-package lists its own built-ins (``BUILTIN``); this module only hands them to the hooks.
"""

from __future__ import annotations

from disentangle_bench.hookspecs import hookimpl


@hookimpl
def register_datasets():
    from disentangle_bench.data import BUILTIN
    from disentangle_bench.perturbations.twins import twins

    return [*BUILTIN, *twins({dataset.name: dataset for dataset in BUILTIN})]


@hookimpl
def register_perturbations():
    from disentangle_bench.perturbations import BUILTIN

    return list(BUILTIN)


@hookimpl
def register_models():
    from disentangle_bench.models import BUILTIN

    return list(BUILTIN)


@hookimpl
def register_metrics():
    from disentangle_bench.metrics import BUILTIN

    return list(BUILTIN)
