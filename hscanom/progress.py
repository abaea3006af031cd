"""Progress as plain text lines, for output that is not a terminal (a batch job's log).

A terminal gets progress bars (Rich, tqdm); a log file gets one line at most every
:data:`PROGRESS_INTERVAL_S` seconds: ``stage: done/total (pct%), rate/s, elapsed m:ss, ETA m:ss``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

#: Seconds between two plain progress lines (``HSCANOM_PROGRESS_INTERVAL`` overrides).
PROGRESS_INTERVAL_S = 30.0


def _print(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def _interval() -> float:
    try:
        return float(os.environ.get("HSCANOM_PROGRESS_INTERVAL", PROGRESS_INTERVAL_S))
    except ValueError:
        return PROGRESS_INTERVAL_S


def _seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class PlainProgress:
    """Progress as plain lines for logs: ``stage: done/total (pct%), rate/s, elapsed, ETA``.

    A line is printed when at least ``interval`` seconds [s] passed since the last one
    (default :data:`PROGRESS_INTERVAL_S`), and once at the end. ETA = (total - done) / rate
    with rate = done / elapsed since the start.
    """

    def __init__(self, description: str, total: int | None, *, interval: float | None = None,
                 out: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.description, self.total, self.done = description, total, 0
        self.interval = _interval() if interval is None else interval
        self._out = out or _print
        self._clock = clock
        self._start = self._last = clock()
        self.info = ""

    def line(self) -> str:
        elapsed = max(self._clock() - self._start, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.description}: {self.done:,}" + (f"/{self.total:,}" if self.total else "")]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        parts.append(f"{rate:.3g}/s")
        parts.append(f"elapsed {_seconds(elapsed)}")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_seconds((self.total - self.done) / rate)}")
        if self.info:
            parts.append(self.info)
        return ", ".join(parts)

    def advance(self, n: int = 1, info: str = "") -> None:
        self.done += n
        if info:
            self.info = info
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self._out(self.line())

    def finish(self) -> None:
        self._out(self.line() + " - done" if not self.total or self.done >= self.total else self.line())
