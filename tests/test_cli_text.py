"""The CLI's text reads cleanly at any console width: --help keeps units and re-flows
paragraphs, error lines are never folded, table values are printed exactly, and progress
is printed as plain lines when stdout is not a terminal."""

from __future__ import annotations

import re
import textwrap

import pytest
import typer
from typer.testing import CliRunner

from hscanom.cli import app
from hscanom.cli._common import PlainProgress, console

BRACKETED = re.compile(r"\[[^\[\]\n]+\]")


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    if hasattr(command, "commands"):  # a group (typer vendors its own click classes)
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


def _flat(text: str) -> str:
    """Whitespace collapsed; a word broken after its hyphen at a line end joined again."""
    return " ".join(re.sub(r"(?<=\w)-\n\s*", "-", text).split())


def _sources(command) -> list[str]:
    """The help texts written in the code: the docstring and each parameter's help."""
    texts = [command.help or ""]
    texts += [getattr(p, "help", None) or "" for p in command.params]
    return texts


ALL = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("columns", ["40", "200"])
def test_every_help_keeps_its_bracketed_units_and_reflows(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    runner = CliRunner()
    checked = 0
    for path, command in ALL:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        shown = _flat(result.output)
        for text in _sources(command):
            for unit in BRACKETED.findall(text):
                assert _flat(unit) in shown, f"hscanom {' '.join(path)} --help lost {unit!r}"
                checked += 1
            # every docstring paragraph survives, re-flowed (no line break kept mid-sentence)
            for paragraph in textwrap.dedent(text).split("\n\n"):
                if paragraph.strip() and not paragraph.startswith("\b"):
                    assert _flat(paragraph) in shown, f"hscanom {' '.join(path)} --help: {paragraph[:60]!r}"
        width = max(int(columns), 50)
        assert all(len(line) <= max(width, 80) for line in result.output.splitlines() if " " in line.strip())
    assert checked >= 3  # [pixels], [s], ... are there to be checked


def test_size_unit_in_pack_help():
    out = CliRunner().invoke(app, ["cutouts", "pack", "--help"]).output
    assert "Stamp side [pixels]." in out


def test_error_line_is_not_folded_at_any_width(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    deep = tmp_path / ("a-rather-long-folder-name-" * 4)
    deep.mkdir()
    path = deep / "nora.csv"
    path.write_text("object_id,dec\n1,2\n")
    result = CliRunner().invoke(app, ["ingest", "catalog", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "error:" in line]
    assert len(lines) == 1 and str(path) in lines[0] and "no ra column" in lines[0], result.output


def test_console_does_not_fold_or_rewrite_when_not_a_terminal(monkeypatch):
    from rich.syntax import Syntax
    from rich.table import Table

    from hscanom.cli._common import plain

    monkeypatch.setenv("COLUMNS", "30")
    monkeypatch.setattr(console, "_force_terminal", False)
    with console.capture() as captured:
        table = Table("value")
        table.add_row(plain("a:x:0 [bold]b[/bold] :thumbs_up: " + "z" * 60))
        console.print(table)
        console.print("summary: " + "word " * 30 + "end", markup=False)
        console.rule("a rule")
        console.print(Syntax("SELECT 1\n  FROM t", "sql", word_wrap=True))
    text = captured.get()
    assert "a:x:0 [bold]b[/bold] :thumbs_up: " + "z" * 60 in text
    assert max(len(line) for line in text.splitlines()[-3:]) <= 100  # fillers get a fixed width
    assert "summary: " + "word " * 30 + "end" in text


def test_plain_progress_lines_are_rate_limited_and_give_eta():
    now = [0.0]
    lines: list[str] = []
    p = PlainProgress("score", 1000, interval=30.0, out=lines.append, clock=lambda: now[0])
    for _ in range(100):
        now[0] += 1.0  # one batch of 10 objects a second
        p.advance(10)
    p.finish()
    # 100 s at 10 objects/s: a line at 30, 60, 90 s and the final one
    assert len(lines) == 4
    assert lines[0] == "score: 300/1,000 (30%), 10/s, elapsed 0:30, ETA 1:10"
    assert lines[-1].startswith("score: 1,000/1,000 (100%), 10/s, elapsed 1:40") and lines[-1].endswith("done")


def test_non_tty_progress_bar_prints_plain_lines(monkeypatch):
    from hscanom.cli._common import progress_bar

    monkeypatch.setenv("HSCANOM_PROGRESS_INTERVAL", "0")
    monkeypatch.setattr(console, "_force_terminal", False)
    with console.capture() as captured:
        with progress_bar("train WGAN", 3) as advance:
            for _ in range(3):
                advance(1, "g 0.5")
    lines = captured.get().splitlines()
    assert lines[0].startswith("train WGAN: 1/3 (33%)") and "g 0.5" in lines[0]
    assert lines[-1].startswith("train WGAN: 3/3 (100%)") and lines[-1].endswith("done")
    assert all("\x1b" not in line and "\r" not in line for line in lines)
