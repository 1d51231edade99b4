"""gin plumbing: parse files and bindings with one-line errors, check the values bound, read
back effective values.

Every binding a run uses is checked before any work (:func:`check_bindings`): the runner's own
configurables by explicit rules (types and ranges, e.g. ``train.batch_size`` a positive integer,
``train.learning_rate`` a finite positive number), every plugin's by the scalar type annotations
of its factory's keyword arguments (``int``, ``float``, ``bool``, ``str``, optionally ``None``);
the plugin's own constructor checks its ranges when the runner builds it. Each failure is one
:class:`ConfigError` line that names the binding.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gin

from disentangle_bench.util.errors import ConfigError

#: Seeds feed ``np.random.RandomState``, which takes 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1
_INCLUDE = re.compile(r"""^\s*include\s+(['"])(?P<path>.+?)\1""", re.MULTILINE)
_UNOPENED = re.compile(r"Unable to open file: (?P<path>.+?)\. Searched config paths")


def parse_gin(
    files: Sequence[str | Path],
    bindings: Sequence[str] = (),
    *,
    skip_unknown: Sequence[str] = (),
    base: str | None = None,
) -> str:
    """Clear gin, parse ``base`` (a config text, unknown names skipped), ``files`` then
    ``bindings``; return the canonical config text.

    Every parse problem (missing file or include, syntax error, unknown configurable or
    parameter) becomes a :class:`ConfigError` whose message names the file and line where gin
    reports one. Bindings of the configurables named in ``skip_unknown`` are ignored when nothing
    registers them (as ``bench evaluate`` ignores disentanglement_lib's ``dataset.*``). gin's own
    log line for an include it looks up on the Python path first (``Path not found``) is kept
    off stderr.
    """
    for path in files:
        if not Path(path).is_file():
            raise ConfigError(f"gin file not found: {path}")
    gin.clear_config()
    try:
        with _quiet_gin_lookups():
            if base:
                gin.parse_config(base, skip_unknown=True)
            gin.parse_config_files_and_bindings(
                [str(p) for p in files],
                list(bindings),
                finalize_config=False,
                skip_unknown=list(skip_unknown) if skip_unknown else False,
            )
    except OSError as error:  # an include that cannot be opened
        gin.clear_config()
        raise ConfigError(_include_message(error, files)) from None
    except (SyntaxError, ValueError, KeyError, TypeError, ImportError, AttributeError) as error:
        gin.clear_config()
        raise ConfigError(f"invalid gin config: {one_line(error)}") from error
    return gin.config_str()


@contextlib.contextmanager
def _quiet_gin_lookups() -> Iterator[None]:
    """Silence the root logger's errors while gin resolves includes: for a relative include it
    tries each search path, and its Python-path reader logs ``ERROR:root:Path not found`` for
    every one that does not hold the file, even when a later one does."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def _include_message(error: OSError, files: Sequence[str | Path]) -> str:
    match = _UNOPENED.search(str(error))
    if match is None:
        return f"invalid gin config: cannot read a gin file: {one_line(error)}"
    missing = match["path"]
    including = [
        str(path)
        for path in files
        if any(m["path"] == missing for m in _INCLUDE.finditer(_read(path)))
    ]
    where = f"{including[0]} includes" if including else "an include names"
    return (
        f"invalid gin config: {where} {missing!r}, which does not exist (an include is "
        f"resolved against the working directory {os.getcwd()})"
    )


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


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


# -- checking the values bound ---------------------------------------------------------------


def require_int(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int if it is an integer (never a bool) within the bounds, else a
    :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be {_int_range(minimum, maximum)}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be {_int_range(minimum, maximum)}, got {value!r}")
    return int(value)


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum == 1 and maximum is None:
        return "a positive integer"
    if minimum == 0 and maximum is None:
        return "a non-negative integer"
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    return "an integer"


def require_number(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
) -> float:
    """``value`` as a float if it is a finite real number (never a bool) with ``value > above``,
    ``value >= at_least`` and ``value < below`` (each when given), else a :class:`ConfigError`
    naming ``name``."""
    limits = [(">", above), (">=", at_least), ("<", below)]
    conditions = [f"{sign} {limit:g}" for sign, limit in limits if limit is not None]
    wanted = " ".join(["a finite number", " and ".join(conditions)]).strip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be {wanted}, got {value!r}")
    number = float(value)
    if (
        not math.isfinite(number)
        or (above is not None and not number > above)
        or (at_least is not None and not number >= at_least)
        or (below is not None and not number < below)
    ):
        raise ConfigError(f"{name} must be {wanted}, got {value!r}")
    return number


def bound_values(selector: str) -> dict[str, Any]:
    """gin's bindings for ``selector`` (empty when nothing is bound or gin does not know it)."""
    try:
        return dict(gin.get_bindings(selector))
    except (ValueError, KeyError):
        return {}


#: A check of one runner binding: (full binding name, value) -> None, raising ConfigError.
BindingRule = Callable[[str, Any], Any]


def check_rules(selector: str, rules: dict[str, BindingRule]) -> None:
    """Apply ``rules`` (parameter -> check) to the values bound for ``selector``."""
    for parameter, value in bound_values(selector).items():
        rule = rules.get(parameter)
        if rule is not None and not _is_gin_reference(value):
            rule(f"{selector}.{parameter}", value)


def check_annotated_bindings(
    selector: str, factory: Any, exclude: Sequence[str] = (), *, name: str | None = None
) -> None:
    """The values bound for ``selector`` against the scalar type annotations of ``factory``'s
    keyword arguments: ``int`` (no bool, no float), ``float`` (finite; an int is fine),
    ``bool``, ``str`` and unions of them with ``None``. Other annotations are not checked.
    Errors name the binding as ``name.parameter`` (default: ``selector.parameter``)."""
    bound = bound_values(selector)
    if not bound:
        return
    hints = _annotations(factory)
    for parameter, value in bound.items():
        if parameter in exclude or parameter not in hints or _is_gin_reference(value):
            continue
        allowed = _scalar_types(hints[parameter])
        if allowed is None or _matches(value, allowed):
            continue
        raise ConfigError(
            f"{name or selector}.{parameter} must be {_describe(allowed)}, got {value!r}"
        )


def _annotations(factory: Any) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable names in a plugin's annotations: nothing to check
        return {}


_SCALARS = (bool, int, float, str, type(None))


def _scalar_types(annotation: Any) -> tuple[type, ...] | None:
    """The scalar types an annotation allows, or None when it is not a union of scalars."""
    if annotation in _SCALARS:
        return (annotation,)
    if annotation is None:
        return (type(None),)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [_scalar_types(arg) for arg in typing.get_args(annotation)]
        if any(member is None for member in members):
            return None
        return tuple(t for member in members for t in member)  # type: ignore[union-attr]
    return None


def _matches(value: Any, allowed: tuple[type, ...]) -> bool:
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind is bool and isinstance(value, bool):
            return True
        if kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return math.isfinite(float(value))
        if kind is str and isinstance(value, str):
            return True
    return False


def _describe(allowed: tuple[type, ...]) -> str:
    words = {
        bool: "True or False",
        int: "an integer",
        float: "a finite number",
        str: "a string",
        type(None): "None",
    }
    return " or ".join(words[kind] for kind in allowed)


def _is_gin_reference(value: Any) -> bool:
    """A ``@reference`` or ``%MACRO`` (checked where it is called, not here)."""
    if isinstance(value, (list, tuple)):
        return any(_is_gin_reference(v) for v in value)
    if isinstance(value, dict):
        return any(_is_gin_reference(v) for v in value.values())
    return type(value).__module__.split(".")[0] == "gin"
