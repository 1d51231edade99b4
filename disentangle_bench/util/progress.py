"""Progress lines with rate and ETA for long loops (plain lines: they read well in logs too)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``75`` -> ``'1m15s'``; ``3725`` -> ``'1h02m'``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class Progress:
    """Prints ``label done/total (pct) rate unit/s ETA ... | extra`` at most every ``interval`` s.

    ``start`` counts work already done before this process (a resumed run), so the rate and the
    ETA reflect only the work measured here.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        unit: str = "steps",
        start: int = 0,
        interval: float = 5.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = int(total)
        self.label = label
        self.unit = unit
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._start_done = int(start)
        self._start_time = clock()
        self._last_print = -float("inf")

    def line(self, done: int, extra: str = "") -> str:
        elapsed = self._clock() - self._start_time
        measured = done - self._start_done
        rate = measured / elapsed if elapsed > 0 and measured > 0 else 0.0
        eta = format_duration((self.total - done) / rate) if rate > 0 else "?"
        percent = 100.0 * done / self.total if self.total else 100.0
        text = (
            f"{self.label} {done}/{self.total} ({percent:.0f}%) {rate:.1f} {self.unit}/s ETA {eta}"
        )
        return f"{text} | {extra}" if extra else text

    def update(self, done: int, extra: str = "", *, force: bool = False) -> None:
        now = self._clock()
        if force or done >= self.total or now - self._last_print >= self.interval:
            self._last_print = now
            print(self.line(done, extra), file=self.stream, flush=True)
