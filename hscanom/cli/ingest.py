"""``hscanom ingest``: load source files (catalogs, bright-star masks) into the database.

Each source kind is one command of the Typer app :data:`app`; other kinds (e.g. cutouts)
are added to the same group with ``app.command("name")(function)``.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from hscanom.cli._common import console, reported_errors
from hscanom.ingest.batches import Reject
from hscanom.ingest.catalog import CatalogFileError, IngestResult, ingest_catalog
from hscanom.ingest.masks import MaskError, MaskIngestResult, ingest_masks

app = typer.Typer(help="Load HSC catalogs, bright-star masks and cutouts into the database.", no_args_is_help=True)

#: Refused rows printed in full; the rest are counted, with the query that lists them.
SHOW_MAX = 10


def print_rejects(rejects: list[Reject], total: int, batch_ids: list[int], prefix: str = "") -> None:
    """Print the first refusals and how to see them all."""
    for r in rejects[:SHOW_MAX]:
        console.print(f"  [yellow]{prefix}{r}[/]", highlight=False, soft_wrap=True)
    if total > SHOW_MAX:
        ids = ", ".join(map(str, batch_ids))
        console.print(f"  ... {total - SHOW_MAX} more: SELECT * FROM ingest_reject WHERE batch_id IN ({ids}) ORDER BY line")


def _print_catalog(result: IngestResult) -> None:
    table = Table(title=f"{result.path.name} (ingest batch {result.batch_id})", show_header=False)
    for label, n in (
        ("read", result.rows_read),
        ("stored (new)", result.rows_stored),
        ("updated (changed values)", result.rows_updated),
        ("unchanged", result.rows_unchanged),
        ("rejected", result.rows_rejected),
    ):
        table.add_row(label, f"{n:,}")
    console.print(table)
    if result.extra_columns:
        console.print(f"kept in hsc_object.extra: {', '.join(result.extra_columns)}")
    if result.provenance:
        n = result.provenance.count("\n") + 1
        console.print(f"kept the file's information block ({n} '#' lines) as the batch's provenance")
    if result.truncated:
        console.print("[bold yellow]the file is truncated: its incomplete last line was not stored[/]")
    for warning in result.warnings:
        console.print(f"[yellow]note:[/] {warning}")
    print_rejects(result.rejects, result.n_rejects, [result.batch_id])


@app.command()
def catalog(
    path: Path = typer.Argument(..., help="CAS query result: CSV (may be .gz) or FITS binary table."),
    release: str = typer.Option("pdr2_wide", "--release", help="HSC data release label stored with each row."),
) -> None:
    """Load an HSC CAS catalog into hsc_object (new rows stored, changed rows updated).

    Bad rows are refused and listed in ingest_reject (line, field, raw value, reason). Exits
    with 1, storing nothing, when the file is unreadable or has no object_id/ra/dec column.
    """
    with reported_errors(CatalogFileError, OSError, psycopg.Error):
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=console, transient=True,
        ) as bar:
            task = bar.add_task(path.name, total=None)
            result = ingest_catalog(path, release=release, progress=lambda stage, done, total: bar.update(task, completed=done, total=total))
    _print_catalog(result)


def print_masks(result: MaskIngestResult) -> None:
    """Summary of a mask load."""
    shapes = ", ".join(f"{n:,} {shape}" for shape, n in sorted(result.by_shape.items()))
    replaced = f" (replaced {result.replaced:,} regions)" if result.replaced else ""
    console.print(
        f"mask version [bold]{result.version}[/]: {result.n_regions:,} regions stored ({shapes or 'none'}){replaced}, "
        f"{len(result.rejects)} lines refused; ingest batch(es) {', '.join(map(str, result.batch_ids))}",
        soft_wrap=True,
    )
    for name, r in result.rejects[:SHOW_MAX]:
        console.print(f"  [yellow]{name}: {r}[/]", highlight=False, soft_wrap=True)
    if len(result.rejects) > SHOW_MAX:
        ids = ", ".join(map(str, result.batch_ids))
        console.print(f"  ... {len(result.rejects) - SHOW_MAX} more: SELECT * FROM ingest_reject WHERE batch_id IN ({ids})")


@app.command()
def masks(
    paths: list[Path] = typer.Argument(..., help="DS9 region files (sky frames fk5/icrs/fk4/galactic/ecliptic; circle, box, ellipse, polygon)."),
    version: str = typer.Option(None, "--version", help="Mask version name (default: the first file's name without suffix)."),
    replace: bool = typer.Option(False, "--replace", help="Replace the regions of an existing version."),
) -> None:
    """Load bright-star mask regions from DS9 files as one mask version.

    Malformed lines (also positions out of range, image frames, zero-area or self-crossing
    polygons) are reported with file, line and reason and skipped; the rest loads.
    """
    with reported_errors(MaskError, OSError, psycopg.Error):
        result = ingest_masks(paths, version or paths[0].stem, replace=replace)
    print_masks(result)
