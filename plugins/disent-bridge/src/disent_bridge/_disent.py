"""Importing disent, with one clear message when it cannot be imported."""

from __future__ import annotations

import warnings
from types import ModuleType

from disentangle_bench.util.errors import PluginError

INSTALL = (
    "pip install torch==2.14.1 torchvision==0.29.1 && pip install disent==0.8.0 (on Python "
    "3.11; disent 0.8.0 imports only beside these torch and torchvision versions)"
)


class DisentUnavailableError(PluginError, ImportError):
    """disent (or one of its own dependencies) cannot be imported."""


def require_disent() -> ModuleType:
    """The ``disent`` package with the modules the bridge uses, or a one-line
    :class:`DisentUnavailableError`."""
    try:
        with warnings.catch_warnings():
            # disent 0.8 warns once per function it cannot JIT-compile when numba is missing.
            warnings.filterwarnings("ignore", message="failed to JIT compile")
            import disent
            import disent.dataset
            import disent.frameworks.ae
            import disent.frameworks.vae
            import disent.model.ae  # noqa: F401
    except Exception as error:  # a missing package, or torchvision's operators not loading
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = f"{type(error).__name__}: {lines[0] if lines else ''}".strip()
        raise DisentUnavailableError(
            f"the disent bridge cannot import disent ({detail}); install it with {INSTALL}"
        ) from None
    return disent


def disent_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("disent")
    except PackageNotFoundError:  # pragma: no cover - require_disent() ran first
        return "unknown"
