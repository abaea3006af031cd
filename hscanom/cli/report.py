"""``hscanom report``: the HTML page of a score run with the paper's figures."""

from __future__ import annotations

from pathlib import Path

import typer

from hscanom import db
from hscanom.cli._common import console, progress_bar, reported_errors
from hscanom.config import Settings


def report(
    run: int = typer.Option(..., "--run", help="Id of the score run."),
    out: Path = typer.Option(None, "--out", help="Folder to write (default $HSCANOM_HOME/reports/run-ID); an earlier report there is replaced."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random choices (objects shown, latent vectors)."),
) -> None:
    """Write an HTML report of score run RUN: index.html and PNG figures in one folder.

    Random real and generated images, reconstructions and residuals in score bins, the score
    distributions, the metadata of the 3-sigma selections, the bright-star-mask fractions,
    the UMAPs and clusters (once `hscanom characterize` ran) and the evaluation (once
    `hscanom evaluate` ran). Open the printed index.html in a browser; the folder can be
    moved as a whole.
    """
    from hscanom.report import ReportError, build_report
    from hscanom.report.build import STEPS

    with reported_errors(ReportError, LookupError, FileNotFoundError):
        url = db.database_url()
        out_dir = out or Settings.from_env().home / "reports" / f"run-{run}"
        with progress_bar("report", len(STEPS)) as advance:
            index = build_report(url, run, out_dir, seed=seed, progress=lambda stage, done, total: advance(1))
    console.print(f"report of score run {run}: {index}")
