"""The one progress callback type of hscanom, and adapters to it.

A long-running library function reports progress by calling a :class:`Progress`:

    progress(stage, done, total)

``stage`` names what is running (``"score"``, ``"images"``, ``"train WGAN"``), ``done`` counts
finished units of it and ``total`` is their number (``None`` when unknown). Libraries never
draw bars themselves: the command line turns the calls into Rich bars
(:class:`hscanom.cli._common.StageBars`), tests collect them, and nothing is shown when no
callback is given. A foundation module (docs/architecture.md): imports nothing of hscanom.

Older entry points keep the callbacks their tests pin down, and adapt to this type here:
training loops call ``on_step(step, total, losses)`` (:func:`training_steps`), scoring and
packing ``on_batch(n)`` (:func:`counted`).

Off a terminal (a batch job's log), :class:`PlainProgress` prints one plain line at most every
:data:`PROGRESS_INTERVAL_S` seconds: ``stage: done/total (pct%), rate/s, elapsed m:ss, ETA m:ss``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["PROGRESS_INTERVAL_S", "PlainProgress", "Progress", "counted", "quiet", "training_steps"]


class Progress(Protocol):
    """``progress(stage, done, total)``: ``done`` of ``total`` units of ``stage`` are finished."""

    def __call__(self, stage: str, done: int, total: int | None, /) -> None: ...


def quiet(stage: str, done: int, total: int | None, /) -> None:
    """A :class:`Progress` that reports nothing."""


def counted(progress: Progress, stage: str, total: int | None) -> Callable[[int], None]:
    """An ``on_batch(n)`` callback (``n`` units just finished) that reports running totals."""
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += int(n)
        progress(stage, done, total)

    return on_batch


def training_steps(progress: Progress, stage: str) -> Callable[[int, int, Mapping[str, float]], None]:
    """An ``on_step(step, total, losses)`` training callback (``step`` counts from 1) as
    :class:`Progress` calls; the losses are not passed on."""

    def on_step(step: int, total: int, losses: Mapping[str, float]) -> None:
        progress(stage, int(step), int(total))

    return on_step


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
