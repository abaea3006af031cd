"""The report page: sections of figures, tables and notes rendered with Jinja2.

The template is ``templates/report.html`` (package data). Image paths are file names in the
report folder, so the folder can be moved or served as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import re

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from hscanom.report.figures import FigureFile


@dataclass
class Table:
    """An HTML table: header cells, rows of formatted cells, right-aligned (numeric) column
    indices and highlighted row indices."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: set[int] = field(default_factory=set)
    highlight: set[int] = field(default_factory=set)


@dataclass
class Shown:
    """A figure on the page: the PNG and the caption explaining it."""

    figure: FigureFile
    caption: str
    alt: str


@dataclass
class Section:
    """A part of the page. ``notes`` are shown boxed (skipped figures say why here); in
    ``intro`` and ``notes``, `backquoted` text is shown as code."""

    key: str
    title: str
    intro: str = ""
    figures: list[Shown] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def code_spans(text: str) -> Markup:
    """HTML of ``text`` (escaped) with `backquoted` spans as <code> (commands in notes and intros)."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hscanom.report", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code"] = code_spans
    return env


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The page's HTML."""
    return _environment().get_template("report.html").render(title=title, subtitle=subtitle, sections=sections)


def write(path: Path, title: str, subtitle: str, sections: list[Section]) -> Path:
    """Render the page to ``path`` (UTF-8)."""
    Path(path).write_text(render(title, subtitle, sections), encoding="utf-8")
    return Path(path)
