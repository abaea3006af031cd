"""``hscanom score``: anomaly scores of every member of a sample."""

from __future__ import annotations

import typer

from hscanom import db
from hscanom.cli._common import console, progress_bar, reported_errors
from hscanom.config import Settings


def score(
    model: int = typer.Option(..., "--model", help="Id of the model: a WGAN (its newest encoder is used) or a DCAE."),
    sample: str = typer.Option(..., "--sample", help="Name of the sample to score."),
    method: str = typer.Option("wgan", "--method", help="Score method: wgan (Storey-Fisher et al.) or dcae (Tanaka et al.)."),
    workers: int = typer.Option(1, help="Worker processes (or Dask tasks with --scheduler)."),
    batch: int = typer.Option(256, help="Objects per claimed batch."),
    scheduler: str = typer.Option(None, help="Dask scheduler address (tcp://host:8786) to run the workers on."),
    lease: float = typer.Option(600.0, help="Seconds a worker holds a batch before others may take it over."),
    precision: str = typer.Option("float32", help="WGAN compute precision: float32 (reproducible), mixed_float16 (GPU), mixed_bfloat16 (CPU with AVX512-BF16/AMX)."),
) -> None:
    """Score SAMPLE with a WGAN (or a DCAE): raw s_gen, s_disc, s_anom per object into anomaly_score.

    A DCAE run stores s_anom = the central-aperture residual summed over bands, s_gen = the
    mean squared residual, and no s_disc.

    Work is claimed from the database in batches, so any number of workers on any number of
    machines can score one run; a killed worker's batch is scored again once its lease
    expires, and re-running a finished run does nothing.
    """
    with reported_errors(LookupError, FileNotFoundError, ValueError):
        from hscanom.ml import runs

        from hscanom.samples import get_sample

        url = db.database_url()
        with progress_bar("score", get_sample(sample, url).n_members) as advance:
            result = runs.score(
                url, model, sample, Settings.from_env().home, method=method, workers=workers, batch_size=batch,
                scheduler=scheduler, lease_seconds=lease, precision=precision, on_batch=advance,
            )
    console.print(f"score run {result.run_id}: {result.n_scored:,} objects scored, status {result.status}")
