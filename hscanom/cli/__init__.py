"""The ``hscanom`` command line: a thin layer over the library functions.

Each command group lives in a module of this package named after it; this module only
assembles them.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

import typer

from hscanom import __version__
from hscanom.cli import cutouts, db, ingest, masks, rank, release, sample, sql, train
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
app.add_typer(rank.app, name="rank")
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


#: A C++ log line of TensorFlow: absl (``E0000 00:00:1795969092.556610 7903 file.cc:967] ``)
#: or TSL (``2025-09-17 14:44:05.157831: I path/file.cc:32] ``).
_TF_LOG_LINE = re.compile(rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ |\d{4}-\d\d-\d\d [\d:.]+: [IWEF] )[\w./-]+:\d+\] ")
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def quiet_tensorflow(verbose: bool) -> None:
    """TensorFlow's own C++ log lines (``I0000 ... oneDNN custom operations are on``,
    ``E0000 ... remapper failed``) off unless ``verbose``.

    Sets ``TF_CPP_MIN_LOG_LEVEL`` (3: none of INFO, WARNING, ERROR; 0: all), which
    TensorFlow reads once, when it is imported: the commands import it later. A value the
    user exported is kept unless ``verbose``. TensorFlow >= 2.19 writes a few lines while it
    is imported, before it reads that variable (tensorflow/tensorflow#100442): when not
    ``verbose``, the import runs with file descriptor 2 caught, and what it wrote is passed
    on without the TensorFlow log lines. The remapper line is Grappler declining one fusion
    in the training and scoring graphs, not an error (README.md, "make demo").
    """
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorflowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorflowImport())


class _QuietTensorflowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, and imports it with stderr (fd 2) filtered."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once, and let the other finders find it
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            with tempfile.TemporaryFile() as caught:
                sys.stderr.flush()
                saved = os.dup(2)
                os.dup2(caught.fileno(), 2)
                try:
                    exec_module(module)
                finally:
                    sys.stderr.flush()
                    os.dup2(saved, 2)
                    os.close(saved)
                    caught.seek(0)
                    kept = [line for line in caught.read().splitlines(keepends=True)
                            if not _TF_LOG_LINE.match(line) and not line.startswith(_ABSL_PREAMBLE)]
                    if kept:
                        os.write(2, b"".join(kept))

        spec.loader.exec_module = quiet_exec_module
        return spec


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print TensorFlow's own C++ log lines (hidden by default)."),
) -> None:
    """hscanom: HSC anomaly scores as PostgreSQL tables and public catalogs.

    The database is the embedded PostgreSQL cluster under $HSCANOM_HOME (default ./.hscanom),
    or the server named by $HSCANOM_DATABASE_URL.
    """
    quiet_tensorflow(verbose)
