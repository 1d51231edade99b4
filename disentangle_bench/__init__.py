"""disentangle-bench: disentanglement on original and variance-structure-perturbed datasets."""

from importlib.metadata import PackageNotFoundError, version

from disentangle_bench.registry.hookspecs import hookimpl

try:
    __version__ = version("disentangle-bench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["hookimpl", "__version__"]
