"""``hscanom sample``: named, reproducible object selections."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.syntax import Syntax
from rich.table import Table

from hscanom.cli._common import UserError, console, plain, reported_errors
from hscanom.samples import SampleError, create_sample, get_sample, list_samples, preset_sql, presets, sample_object_ids

app = typer.Typer(help="Create and inspect samples (named SQL selections of objects).", no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Argument(..., help="Sample name (unique; samples never change)."),
    sql: Path = typer.Option(None, "--sql", help="File with a SELECT returning object_id."),
    preset: str = typer.Option(None, "--preset", help=f"A shipped selection: {', '.join(presets())}."),
    description: str = typer.Option(None, "--description", help="Free text kept with the sample."),
    param: list[str] = typer.Option([], "--param", help="Value of a %(name)s placeholder, as name=value (repeatable)."),
) -> None:
    """Run a selection and store its objects as sample NAME (idx = rank by object_id, from 0)."""
    with reported_errors(SampleError, OSError):
        if (sql is None) == (preset is None):
            raise UserError("give exactly one of --sql FILE or --preset NAME")
        text = preset_sql(preset) if preset else sql.read_text()
        params = {}
        for pair in param:
            key, sep, value = pair.partition("=")
            if not sep:
                raise UserError(f"--param must look like name=value, got {pair!r}")
            params[key.strip()] = value
        info = create_sample(name, text, description=description or (f"preset {preset}" if preset else str(sql)), params=params)
    console.print(f"sample [bold]{info.name}[/] (id {info.id}): {info.n_members:,} objects")


@app.command("list")
def list_() -> None:
    """List the samples."""
    with reported_errors(SampleError):
        samples = list_samples()
    table = Table("id", "name", "members", "created", "description")
    for s in samples:
        table.add_row(str(s.id), plain(s.name), f"{s.n_members:,}", f"{s.created_at:%Y-%m-%d %H:%M}", plain(s.description))
    console.print(table)


@app.command()
def show(
    name: str = typer.Argument(..., help="Sample name."),
    ids: int = typer.Option(5, "--ids", help="How many of the first object ids to print."),
) -> None:
    """Show a sample: size, parameters, first object ids and its SQL."""
    with reported_errors(SampleError):
        info = get_sample(name)
        first = sample_object_ids(name)[:ids] if ids else []
    console.print(f"sample [bold]{info.name}[/] (id {info.id}), {info.n_members:,} objects, created {info.created_at:%Y-%m-%d %H:%M}")
    if info.description:
        console.print(info.description, markup=False, highlight=False)
    if info.params:
        console.print(f"parameters: {info.params}")
    if len(first):
        console.print("first object ids: " + ", ".join(str(i) for i in first.tolist()))
    console.print(Syntax(info.sql, "sql", word_wrap=True))
