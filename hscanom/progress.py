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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["Progress", "counted", "quiet", "training_steps"]


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
