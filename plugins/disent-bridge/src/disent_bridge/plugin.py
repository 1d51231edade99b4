"""The entry point: disent's frameworks registered as disentangle-bench model plugins.

Importing this module does not import disent (``bench plugins list`` stays fast); building one
of the models does, and a failed import stops ``bench`` with one line that says how to install
it (:class:`disent_bridge.DisentUnavailableError`).
"""

from __future__ import annotations

from disent_bridge.models import MODELS
from disentangle_bench import hookimpl


@hookimpl
def register_models():
    return list(MODELS)
