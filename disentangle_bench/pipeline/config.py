"""gin plumbing: parse files and bindings with one-line errors, read back effective values."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gin

from disentangle_bench.util.errors import ConfigError


def parse_gin(
    files: Sequence[str | Path], bindings: Sequence[str] = (), *, skip_unknown: Sequence[str] = ()
) -> str:
    """Clear gin, parse ``files`` then ``bindings``; return the canonical config text.

    Every parse problem (missing file, syntax error, unknown configurable or parameter) becomes a
    :class:`ConfigError` whose message names the file and line where gin reports one. Bindings of
    the configurables named in ``skip_unknown`` are ignored when nothing registers them (as
    ``bench evaluate`` ignores disentanglement_lib's ``dataset.*``).
    """
    for path in files:
        if not Path(path).is_file():
            raise ConfigError(f"gin file not found: {path}")
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings(
            [str(p) for p in files],
            list(bindings),
            finalize_config=False,
            skip_unknown=list(skip_unknown) if skip_unknown else False,
        )
    except (SyntaxError, ValueError, KeyError, TypeError, ImportError, AttributeError) as error:
        gin.clear_config()
        raise ConfigError(f"invalid gin config: {one_line(error)}") from error
    return gin.config_str()


def one_line(error: BaseException) -> str:
    """An error's message on one line (a syntax error with its file and line)."""
    if isinstance(error, SyntaxError) and error.filename:
        location = f"{error.filename}, line {error.lineno}"
        return f"{error.msg} ({location})"
    parts = [part.strip() for part in str(error).splitlines() if part.strip()]
    return " ".join(parts) if parts else type(error).__name__


def effective_parameters(
    factory: Any, selector: str, exclude: Sequence[str] = ()
) -> dict[str, Any]:
    """The keyword defaults of ``factory`` overridden by gin's bindings for ``selector``."""
    parameters: dict[str, Any] = {}
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        for name, parameter in signature.parameters.items():
            if name in exclude or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            if parameter.default is not parameter.empty:
                parameters[name] = parameter.default
    parameters.update(gin.get_bindings(selector))
    return {name: to_json_value(value) for name, value in parameters.items()}


def to_json_value(value: Any) -> Any:
    """A JSON-friendly rendering of a config value (tuples -> lists, objects -> repr)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if callable(value) and hasattr(value, "__name__"):
        return f"@{value.__name__}"
    return repr(value)
