"""``hscanom release``: versioned, immutable catalog releases in the published formats."""

from __future__ import annotations

from contextlib import ExitStack, suppress
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from hscanom import db
from hscanom.catalog import release as releases
from hscanom.cli._common import console, plain, progress_bar, reported_errors
from hscanom.embedded import EmbeddedError

app = typer.Typer(help="Cut, verify and inspect versioned catalog releases.", no_args_is_help=True)


class _Progress:
    """Turns ``progress(stage, done, total)`` into a progress bar for each long stage."""

    def __init__(self):
        self.stage, self.done, self.advance = None, 0, None
        self._bar = ExitStack()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.done = stage, 0
            if total > 2:
                self.advance = self._bar.enter_context(progress_bar(f"{stage}", total))
        if self.advance is not None:
            self.advance(done - self.done)
        self.done = done

    def close(self) -> None:
        self._bar.close()
        self.advance = None


@app.command()
def cut(
    version: str = typer.Argument(..., help="Version name, e.g. v1.0 (immutable: never reused)."),
    run: int = typer.Option(..., "--run", help="Score run to publish (score_run.id)."),
    mask_version: str = typer.Option(None, "--mask-version", help="Bright-star mask version of the mask flag (default: newest)."),
    out: Path = typer.Option(None, "--out", help="Parent folder of the release folders (default $HSCANOM_HOME/releases)."),
) -> None:
    """Cut release VERSION of a score run into OUT/VERSION/ (refused if it exists)."""
    with reported_errors(releases.ReleaseError, EmbeddedError, OSError, ValueError):
        url = db.database_url()
        progress = _Progress()
        try:
            info = releases.cut(url, version, run, out=out, mask_version=mask_version, progress=progress)
        finally:
            progress.close()
    counts = info.row_counts
    console.print(
        f"release [bold]{info.version}[/] of run {info.run_id}: {counts.get('full', 0):,} objects, "
        f"{counts.get('disc3sigma', 0):,} above 3 sigma -> {info.out_dir}"
    )


@app.command()
def verify(
    directory: Path = typer.Argument(..., help="A release folder (with manifest.json)."),
    no_db: bool = typer.Option(False, "--no-db", help="Check against manifest.json only, without asking the database."),
) -> None:
    """Re-check every file of a release folder (sizes, sha256, SHA256SUMS).

    The reference is the manifest recorded in the database when it is reachable and knows
    the release (manifest.json must then equal it); otherwise manifest.json alone, and the
    output says which. Symbolic links and files outside the folder are refused.
    """
    url = None
    if not no_db:
        with suppress(EmbeddedError, OSError):
            url = db.database_url(start=False)
    result = releases.verify_release(directory, url)
    console.print(f"checked against {escape(result.reference)}", highlight=False)
    if result.problems:
        for line in result.problems:
            console.print(f"[bold red]problem:[/] {escape(line)}", highlight=False)
        raise typer.Exit(1)
    console.print(f"{escape(str(directory))}: all {result.files} files match the manifest, and {releases.SHA256SUMS} agrees", highlight=False)


@app.command("list")
def list_() -> None:
    """List the releases (complete, failed and in progress)."""
    with reported_errors(EmbeddedError):
        rows = releases.list_releases(db.database_url())
    table = Table("version", "run", "status", "created", "objects", "3 sigma", "folder")
    for r in rows:
        c = r.row_counts
        table.add_row(plain(r.version), str(r.run_id), plain(r.status), f"{r.created_at:%Y-%m-%d %H:%M}", f"{c.get('full', '')}", f"{c.get('disc3sigma', '')}", plain(r.out_dir))
    console.print(table)


@app.command()
def show(version: str = typer.Argument(..., help="Release version.")) -> None:
    """Show a release: run, models, mask version, counts and files."""
    with reported_errors(releases.ReleaseError, EmbeddedError):
        r = releases.show(db.database_url(), version)
    m = r.manifest
    console.print(f"release [bold]{r.version}[/] ({r.status}), run {r.run_id}, created {r.created_at:%Y-%m-%d %H:%M}, in {r.out_dir}")
    if "error" in m:
        console.print(f"[red]error:[/] {m['error']}", highlight=False)
        return
    if not m:
        return
    models = m.get("models", {})
    cae = {k: (v or {}).get("id") for k, v in models.get("cae", {}).items()}
    console.print(
        f"code {m.get('code_version')}; WGAN model {(models.get('wgan') or {}).get('id')}, encoder {(models.get('encoder') or {}).get('id')}, "
        f"CAE {cae}; sample {m.get('sample', {}).get('name')}; mask version {m.get('mask_version')}; rows {m.get('row_counts')}"
    )
    table = Table("file", "bytes", "sha256")
    for name, entry in m.get("files", {}).items():
        table.add_row(plain(name), f"{entry['size']:,}", plain(entry["sha256"]))
    console.print(table)
