"""``hscanom ingest cutouts`` and ``hscanom cutouts pack|verify``: image files and shards."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from hscanom.cli._common import StageBars, console, plain, reported_errors
from hscanom.ingest.cutouts import REQUEST_MAX_LINES, CutoutIngestReport, write_request_lists
from hscanom.ingest.cutouts import ingest_cutouts as _ingest_cutouts
from hscanom.ingest.pack import ShardChecksumError, pack_sample, verify_shards

app = typer.Typer(help="Pack cutouts into HDF5 image shards and verify them.", no_args_is_help=True)

#: Rejects printed in full; beyond this, a count and the ingest_reject query to see them all.
SHOW_MAX = 20

_KIND_TITLES = {
    "unrecognised": "files with an unrecognised name (not read)",
    "corrupt": "corrupt or truncated files",
    "rendered": "rendered images that are not 8-bit RGB",
    "pixels": "files with unusable pixels (IMAGE too small, or no finite pixel)",
    "band": "files of unknown band",
    "no_match": "files that match no object",
    "duplicate": "duplicate files (same sha256)",
    "changed": "files changed since they were stored",
    "missing_band": "objects missing a band",
}


def _print_ingest(report: CutoutIngestReport) -> None:
    console.print(
        f"{report.directory}: {report.n_files} files, [green]{report.stored} stored[/], "
        f"{report.unchanged} already stored, {len(report.rejects)} reported (ingest batch {report.batch_id})",
        soft_wrap=True,
    )
    if report.flagged:
        flags = ", ".join(f"{n} {flag}" for flag, n in sorted(report.flagged.items()))
        console.print(
            f"[yellow]stored with pixel-quality flags:[/] {flags} (cutout.quality; NaN/inf pixels are packed as 0 -- "
            "exclude them from a sample with cutout.quality = '{}')", highlight=False, soft_wrap=True,
        )
    for kind, title in _KIND_TITLES.items():
        rows = report.of_kind(kind)
        if not rows:
            continue
        console.print(f"[yellow]{len(rows)} {title}:[/]")
        for r in rows[:SHOW_MAX]:
            console.print(f"  {r.reason}", highlight=False, soft_wrap=True)
        if len(rows) > SHOW_MAX:
            console.print(f"  ... and {len(rows) - SHOW_MAX} more: SELECT * FROM ingest_reject WHERE batch_id = {report.batch_id}")


def ingest_cutouts(
    directory: Path = typer.Argument(..., help="Folder searched recursively for FITS (.fits/.fit/.fts, also .gz, .bz2, .fz), PNG and JPEG cutouts; other files are reported."),
    bands: str = typer.Option("g,r,i", "--bands", help="Bands each object should have (comma-separated); also the band of rendered RGB images."),
    workers: int = typer.Option(1, "--workers", help="Processes reading files (checksum, FITS, WCS) on this machine; Dask tasks with --scheduler."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786) to read the files on."),
) -> None:
    """Record cutout files (pointers + sha256) in the database, matched to hsc_object.

    FITS cutouts (IMAGE/MASK/VARIANCE, TAN WCS) are matched by the object_id in the file name,
    else by the WCS centre within 1 arcsec; PNG/JPEG renderings by the object_id in the name.
    Corrupt, unmatched, duplicate files and objects missing a band are reported; re-running on
    the same folder stores nothing new.
    """
    with reported_errors(NotADirectoryError, ValueError), StageBars() as bars:
        report = _ingest_cutouts(directory, bands=bands.split(","), progress=bars, workers=workers, scheduler=scheduler)
    _print_ingest(report)


@app.command()
def pack(
    sample: str = typer.Option(..., "--sample", help="Name of the sample to pack."),
    size: int = typer.Option(96, "--size", help="Stamp side [pixels]."),
    out: Path | None = typer.Option(None, "--out", help="Shard folder (default $HSCANOM_HOME/shards/<sample>)."),
    shard_size: int = typer.Option(10_000, "--shard-size", help="Images per shard."),
    batch_size: int = typer.Option(64, "--batch-size", help="Objects read and preprocessed at a time."),
    source: str = typer.Option(
        "fits", "--source",
        help="fits: g, r, i FITS cutouts through the shared preprocessing; rendered: pre-rendered 8-bit RGB PNG/JPEG "
        "(value/255, never resampled). A sample is packed from one source.",
    ),
    workers: int = typer.Option(1, "--workers", help="Processes reading and preprocessing cutouts on this machine; Dask tasks with --scheduler. Same shards as 1."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786) to run the reading on."),
) -> None:
    """Pack a sample's g, r, i cutouts (or its rendered RGB images) into HDF5 shards (resumable)."""
    with reported_errors(LookupError, ValueError, ShardChecksumError), StageBars() as bars:
        report = pack_sample(sample, size=size, out=out, shard_size=shard_size, batch_size=batch_size, progress=bars, source=source,
                             workers=workers, scheduler=scheduler)
    console.print(
        f"sample {sample}: [green]{report.packed} images packed[/] into {len(report.written)} new shard(s) in {report.out_dir}; "
        f"{report.already_packed} already packed in {len(report.kept)} verified shard(s); config key {report.config['key']}",
        soft_wrap=True,
    )
    if report.flagged:
        flags = ", ".join(f"{n} {flag}" for flag, n in sorted(report.flagged.items()))
        console.print(f"[yellow]packed with pixel-quality flags:[/] {flags} (packed_image.quality)", highlight=False, soft_wrap=True)
    if report.skipped:
        console.print(f"[yellow]{len(report.skipped)} object(s) skipped (not packed):[/]")
        for s in report.skipped[:SHOW_MAX]:
            console.print(f"  {s.object_id}: {s.reason}", highlight=False, soft_wrap=True)
        if len(report.skipped) > SHOW_MAX:
            console.print(f"  ... and {len(report.skipped) - SHOW_MAX} more (image_shard.config -> 'skipped')")


@app.command()
def verify(
    sample: str | None = typer.Option(None, "--sample", help="Only this sample's shards (default: all)."),
    repair: bool = typer.Option(False, "--repair", help="Drop failing shards (rows and files) so that `pack` redoes them."),
) -> None:
    """Check every packed shard's file against its recorded sha256; exit 1 if any fails."""
    with reported_errors(LookupError), StageBars() as bars:
        checks = verify_shards(sample, repair=repair, progress=bars)
    bad = [c for c in checks if not c.ok]
    table = Table("shard", "file", "status")
    for c in bad:
        table.add_row(str(c.shard_id), plain(c.path), Text(str(c.problem) + (" (dropped)" if repair else ""), style="red"))
    if bad:
        console.print(table)
    console.print(f"{len(checks) - len(bad)} of {len(checks)} shard(s) verified")
    if bad:
        raise typer.Exit(1)


@app.command("request-list")
def request_list(
    sample: str = typer.Option(..., "--sample", help="Sample whose members to ask cutouts for."),
    out: Path = typer.Option(..., "--out", help="Base name of the lists: FILE -> FILE-0001.txt, FILE-0002.txt, ..."),
    rerun: str = typer.Option("pdr2_wide", "--rerun", help="Data release / rerun to cut from (pdr2_wide, pdr3_wide, s23b_wide ...)."),
    bands: str = typer.Option("g,r,i", "--bands", help="Bands to ask for (comma-separated)."),
    size: int = typer.Option(96, "--size", help="Cutout side [pixels at 0.168 arcsec]; written as the semi-width sw/sh in arcsec."),
    max_lines: int = typer.Option(REQUEST_MAX_LINES, "--max-lines", help="Coordinate lines per list (the service takes 1000)."),
    names: bool = typer.Option(True, "--names/--no-names", help="Write the name column (files saved as <object_id>_HSC-<B>.fits)."),
) -> None:
    """Write the coordinate lists the HSC data-release bulk cutout tool accepts for a sample.

    One line per object and band ('#? rerun filter ra dec sw sh name'), at most --max-lines
    per file, an object's bands never split. The downloaded files are named
    <object_id>_HSC-<B>.fits, which `hscanom ingest cutouts` matches by id and band.
    """
    with reported_errors(LookupError, ValueError):
        files = write_request_lists(sample, out, rerun=rerun, bands=bands.split(","), size=size, max_lines=max_lines, names=names)
    console.print(f"{len(files)} list(s) for sample {sample}: {files[0]}" + (f" ... {files[-1]}" if len(files) > 1 else ""), soft_wrap=True)
