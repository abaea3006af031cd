"""Shared pieces of the command-line layer: the console and error reporting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


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


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """A Rich progress bar; yields ``advance(n=1, **fields)`` to move it along."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
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
