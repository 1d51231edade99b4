"""Filesystem failures as one line: the path, what was being written, and why.

An unwritable folder, a full disk or a file where a folder should be is a user's problem, not
a bug: :func:`writing` turns the ``OSError`` of a block into a :class:`WriteError` (a
:class:`~disentangle_bench.util.errors.BenchError`, so the CLI prints one line and exits 2).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from disentangle_bench.util.errors import BenchError

_ADVICE = {
    errno.EACCES: "the folder is not writable",
    errno.EPERM: "the folder is not writable",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full",
    errno.ENOTDIR: "a file stands where a folder is needed",
    errno.EEXIST: "something that is not a folder is in the way",
}

#: The errors of a write that the user can fix (permissions, space, a file in the way).
WRITE_ERRNOS = frozenset(_ADVICE) | {errno.EDQUOT, errno.EFBIG, errno.EISDIR}


class WriteError(BenchError):
    """A file or folder that could not be written."""


def failure_reason(error: OSError, path: str | Path | None = None) -> str:
    """``strerror`` of ``error`` (with the file it names, when that is not ``path``)."""
    reason = error.strerror or str(error) or type(error).__name__
    if error.errno in _ADVICE:
        reason = f"{reason}: {_ADVICE[error.errno]}"
    filename = error.filename
    if filename is not None and (path is None or os.fspath(filename) != os.fspath(path)):
        reason = f"{filename}: {reason}"
    return reason


@contextlib.contextmanager
def writing(path: str | Path, what: str) -> Iterator[None]:
    """Raise :class:`WriteError` ("cannot write WHAT PATH: REASON") for an ``OSError`` inside."""
    try:
        yield
    except OSError as error:
        raise WriteError(f"cannot write {what} {path}: {failure_reason(error, path)}") from None
