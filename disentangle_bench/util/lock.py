"""One writer per directory: an exclusive ``fcntl.flock`` on a lock file inside it.

``bench run`` holds ``OUT/.bench.lock`` for as long as it writes ``OUT``; a sweep worker holds
``RUN_DIR/.lock`` for one run. While held, the file names its holder (one JSON line: pid, host,
start time, command) so that a refused process can say who is in the way.

The kernel releases a flock when the holder's file descriptor closes, and that includes the
holder dying in any way (``kill -9``, a crash, a lost machine's process table): a lock file left
behind by a dead process is not a lock, and the next process takes it over at once. The file is
never deleted (deleting a lock file that another process is waiting on would let two processes
hold "the" lock); it is emptied when released. On network file systems the lock is only as good
as the file system's flock support (NFSv4 emulates it with byte-range locks across machines).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from disentangle_bench.util.errors import BenchError
from disentangle_bench.util.writing import WriteError, failure_reason

#: The lock file of a ``bench run`` output directory.
RUN_LOCK_FILE = ".bench.lock"


class LockHeldError(BenchError):
    """The directory is being written by another process."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its holder wrote it."""

    pid: int | None
    host: str | None
    since: str | None
    command: str | None

    def describe(self) -> str:
        parts = [f"pid {self.pid}" if self.pid is not None else "an unknown process"]
        if self.host:
            parts.append(f"on {self.host}")
        if self.since:
            parts.append(f"since {self.since}")
        text = " ".join(parts)
        return f"{text} ({self.command})" if self.command else text


def read_holder(path: str | Path) -> Holder | None:
    """The holder recorded in ``path`` (None when the file is empty, missing or unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(4096)
        record = json.loads(text)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    pid = record.get("pid")
    return Holder(
        pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        _text(record.get("host")),
        _text(record.get("since")),
        _text(record.get("command")),
    )


def _text(value: object) -> str | None:
    return " ".join(value.split())[:200] if isinstance(value, str) and value.strip() else None


def _holder_line() -> bytes:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:4]))
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command[:200],
    }
    return (json.dumps(record) + "\n").encode("utf-8")


@contextlib.contextmanager
def exclusive_lock(
    path: str | Path,
    *,
    what: str,
    wait: bool = False,
    on_wait: Callable[[Holder | None], None] | None = None,
    hint: str = "",
) -> Iterator[Path]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the ``with`` block.

    ``what`` names the locked thing in messages ("run directory out/"). When another process
    holds the lock: wait for it if ``wait`` (calling ``on_wait(holder)`` once first), else raise
    :class:`LockHeldError` naming the holder, followed by ``hint``. A file or folder that cannot
    be created raises :class:`~disentangle_bench.util.writing.WriteError`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as error:
        raise WriteError(
            f"cannot create the lock file {path} of {what}: {failure_reason(error, path)}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise WriteError(
                    f"cannot lock {path} of {what}: {failure_reason(error, path)}"
                ) from None
            holder = read_holder(path)
            if not wait:
                by = holder.describe() if holder is not None else "another process"
                message = f"{what} is in use by {by} (lock {path})"
                raise LockHeldError(f"{message}; {hint}" if hint else message, holder) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):  # the holder's name is a courtesy (a full disk)
            os.ftruncate(fd, 0)
            os.pwrite(fd, _holder_line(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
