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

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console, ConsoleDimensions
from rich.panel import Panel
from rich.rule import Rule
from rich.syntax import Syntax
from rich.text import Text

from hscanom.progress import PROGRESS_INTERVAL_S, PlainProgress  # noqa: F401  (re-exported)

#: Width of a console that is not a terminal: wide enough that nothing is ever folded.
UNWRAPPED_WIDTH = 100_000


#: Width of rules, syntax-highlighted SQL and panels when not writing to a terminal.
FILLER_WIDTH = 100
_FILLERS = (Rule, Syntax, Panel)


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

    def print(self, *objects, **kwargs) -> None:
        # Renderables that fill the width (rules, highlighted SQL, panels) get a fixed one off
        # a terminal rather than UNWRAPPED_WIDTH.
        if kwargs.get("width") is None and not self.is_terminal and any(isinstance(o, _FILLERS) for o in objects):
            titles = [len(str(o.title)) + 6 for o in objects if isinstance(o, Rule)]  # a rule's title is never cut
            kwargs["width"] = max([FILLER_WIDTH, *titles])
        super().print(*objects, **kwargs)


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
    import psycopg

    try:
        yield
    except (UserError, *kinds) as exc:
        from rich.markup import escape

        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    except psycopg.errors.UndefinedTable as exc:  # a database older than the code, or never upgraded
        from rich.markup import escape

        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        err_console.print(f"[bold red]error:[/] the database lacks part of hscanom's schema ({escape(first)}): run `hscanom db upgrade`",
                          highlight=False)
        raise typer.Exit(1) from None


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """A Rich progress bar on a terminal, plain :class:`PlainProgress` lines elsewhere;
    yields ``advance(n=1, info="")`` to move it along."""
    if not console.is_terminal:
        plain_progress = PlainProgress(description, total, out=lambda line: console.print(line, markup=False, highlight=False))
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


class StageBars:
    """A :class:`hscanom.progress.Progress` drawn as Rich bars: one bar per stage, opened at
    the stage's first call and closed when the next stage starts (or at :meth:`close`)."""

    def __init__(self) -> None:
        from contextlib import ExitStack

        self._stack = ExitStack()
        self._stage: str | None = None
        self._done = 0
        self._advance: Callable[..., None] | None = None

    def __call__(self, stage: str, done: int, total: int | None, /) -> None:
        if stage != self._stage:
            self.close()
            self._stage, self._done = stage, 0
            self._advance = self._stack.enter_context(progress_bar(stage, total))
        self._advance(max(int(done) - self._done, 0))
        self._done = max(int(done), self._done)

    def close(self) -> None:
        """Close the open bar (if any)."""
        self._stack.close()
        self._stage, self._advance = None, None

    def __enter__(self) -> "StageBars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
