"""``hscanom demo``: the main job, end to end, on the embedded database."""

from __future__ import annotations

import typer

from hscanom import db
from hscanom.cli._common import console, reported_errors
from hscanom.cli.db import status as print_status
from hscanom.embedded import EmbeddedError

#: Stages of the full demo that are not built yet; printed so the demo says what it skips.
NOT_YET = (
    "simulate -> ingest catalog, masks, cutouts -> sample -> pack -> train WGAN + encoder -> score "
    "-> characterise -> evaluate -> release -> report"
)


def demo() -> None:
    """Run the main job on the embedded database (set up by `make demo`).

    Today this starts the embedded PostgreSQL cluster, migrates it and prints its status.
    The remaining stages of the data flow are added as they are built.
    """
    with reported_errors(EmbeddedError):
        url = db.database_url()
        db.upgrade(url)
    console.rule("hscanom demo")
    console.print(f"database ready, schema at revision {db.current_revision(url)}")
    print_status()
    console.print(f"[yellow]not built yet, so not run:[/] {NOT_YET}")
    console.print("stop the database with: .venv/bin/hscanom db stop")
