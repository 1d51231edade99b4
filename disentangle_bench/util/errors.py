"""Errors a user can cause. The CLI turns each into one line on stderr and exit status 2."""


class BenchError(Exception):
    """Base class for every error caused by user input (config, plugin, data, paths)."""


class PluginError(BenchError):
    """A plugin failed to import, broke the contract, or clashed with another plugin."""


class UnknownPluginError(BenchError, LookupError):
    """A name that no installed plugin provides."""


class ConfigError(BenchError):
    """A gin file, binding or experiment specification that cannot be used."""


class RunDirectoryError(BenchError):
    """An output directory that holds a different run."""


class DeviceError(BenchError):
    """A device that was asked for but is not available."""


class DataError(BenchError):
    """A dataset file or dataset request that cannot be used."""
