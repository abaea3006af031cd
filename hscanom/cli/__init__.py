"""The ``hscanom`` command line: a thin layer over the library functions.

Each command group lives in a module of this package named after it; this module only
assembles them.
"""

from __future__ import annotations

import typer

from hscanom import __version__
from hscanom.cli import cutouts, db, ingest, masks, release, sample, sql, train
from hscanom.cli.characterize import characterize, similar
from hscanom.cli.demo import demo
from hscanom.cli.evaluate import evaluate
from hscanom.cli.report import report
from hscanom.cli.score import score
from hscanom.cli.serve import serve
from hscanom.cli.simulate import simulate

app = typer.Typer(
    name="hscanom",
    help="Find anomalous galaxies in Hyper Suprime-Cam images and publish them as catalogs.",
    no_args_is_help=True,
    # Plain (click) help: docstring paragraphs re-flow to the terminal width and text in
    # square brackets (units such as [pixels], [deg]) is printed as written, not read as
    # Rich markup. Sub-apps get the same below.
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
ingest.app.command("cutouts")(cutouts.ingest_cutouts)
app.add_typer(ingest.app, name="ingest")
app.add_typer(sample.app, name="sample")
app.add_typer(masks.app, name="masks")
app.add_typer(cutouts.app, name="cutouts")
app.add_typer(train.app, name="train")
app.add_typer(sql.app, name="sql")
app.add_typer(release.app, name="release")
app.command()(simulate)
app.command()(score)
app.command()(characterize)
app.command()(similar)
app.command()(evaluate)
app.command()(report)
app.command()(serve)
app.command()(demo)
for _group in app.registered_groups:
    _group.typer_instance.rich_markup_mode = None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hscanom {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """hscanom: HSC anomaly scores as PostgreSQL tables and public catalogs.

    The database is the embedded PostgreSQL cluster under $HSCANOM_HOME (default ./.hscanom),
    or the server named by $HSCANOM_DATABASE_URL.
    """
