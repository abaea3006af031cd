"""Shared pieces of the command-line layer: the console, error reporting and progress.

Output rules (so that a log line can be grepped and a path copied):

* The consoles never hard-wrap text: a message longer than the terminal is left to the
  terminal to fold (``soft_wrap``), and when stdout is not a terminal (a pipe, a batch
  job's log, ``CliRunner``) the console is as wide as any line, so tables are not folded
  either; their width no longer depends on ``COLUMNS`` or the length of a path.
* Values shown in tables go through :func:`plain`: no emoji codes (``:x:``), no markup
  (``[bold]``), exactly the stored text.
* Long stages show a Rich progress bar on a terminal and, elsewhere, a plain line
  ``stage: done/total (pct), rate/s, ETA`` at most every :data:`PROGRESS_INTERVAL_S`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console, ConsoleDimensions
from rich.text import Text

#: Width of a console that is not a terminal: wide enough that nothing is ever folded.
UNWRAPPED_WIDTH = 100_000
#: Seconds between two plain progress lines when stdout is not a terminal
#: (``HSCANOM_PROGRESS_INTERVAL`` overrides).
PROGRESS_INTERVAL_S = 30.0


class _Console(Console):
    """A Rich console that soft-wraps, replaces no emoji codes, and does not fold output
    that is not going to a terminal."""

    def __init__(self, **kwargs):
        super().__init__(soft_wrap=True, emoji=False, **kwargs)
        # Rich fixes the width from $COLUMNS here; leave it to `size` (below), which reads
        # $COLUMNS only for a terminal.
        self._width = kwargs.get("width")

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if not self.is_terminal and self._width is None:
            return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = _Console()
err_console = _Console(stderr=True)


def plain(value: object) -> Text:
    """``value`` as a table cell shown exactly as it is (no markup, no emoji); None -> ''."""
    return Text("" if value is None else str(value))


class UserError(Exception):
    """A problem the user can fix (bad input, missing database, ...): printed, exit 1."""


@contextmanager
def reported_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Print ``UserError`` and the given exception kinds as one red line and exit 1."""
    try:
        yield
    except (UserError, *kinds) as exc:
        from rich.markup import escape

        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


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
        self._out = out or (lambda line: console.print(line, markup=False, highlight=False))
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


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """A Rich progress bar on a terminal, plain :class:`PlainProgress` lines elsewhere;
    yields ``advance(n=1, info="")`` to move it along."""
    if not console.is_terminal:
        plain_progress = PlainProgress(description, total)
        yield plain_progress.advance
        plain_progress.finish()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}", markup=False),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str = "") -> None:
            progress.update(task, advance=n, info=info)

        yield advance


def step_progress(advance: Callable[..., None]) -> Callable[[int, int, dict], None]:
    """A training step callback ``(step, total, losses)`` that moves a :func:`progress_bar`
    one step and shows the losses."""

    def on_step(step: int, total: int, losses: dict) -> None:
        advance(1, "  ".join(f"{k} {v:.3g}" for k, v in losses.items()))

    return on_step
