"""Errors raised inside a gin configurable, as a user should read them.

gin re-raises an exception from inside a configurable through a dynamic subclass of its class
(an exception proxy, which cannot be built from a message) and appends a line
``In call to configurable '...'``. :func:`without_gin_context` gives the error back as an instance
of its own class with its own first line; :func:`first_line` is that line.
"""

from __future__ import annotations


def original_type(error: BaseException) -> type[BaseException]:
    """The error's own class, above gin's proxy subclass."""
    for cls in type(error).__mro__:
        init = cls.__dict__.get("__init__")
        if init is None or "ExceptionProxy" not in getattr(init, "__qualname__", ""):
            return cls
    return type(error)


def first_line(error: BaseException) -> str:
    """The first line of the error's message (its class name when it has none)."""
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__


def without_gin_context(error: BaseException) -> BaseException:
    """A new error of the original class holding only the first line of the message."""
    return original_type(error)(first_line(error))
