"""``hscanom simulate``: an HSC-like dataset in the real formats, with known anomalies."""

from __future__ import annotations

from pathlib import Path

import typer

from hscanom.cli._common import StageBars, console, reported_errors


def simulate(
    out: Path = typer.Option(..., "--out", help="Folder to write (catalog.csv, cutouts/, labels.csv, stars.csv, masks/, simulation.json)."),
    n: int = typer.Option(5000, "--n", help="Objects passing the paper's cuts (about 6% more rows that fail one cut are added)."),
    anomaly_fraction: float = typer.Option(0.02, help="Fraction of the objects drawn as injected anomalies."),
    seed: int = typer.Option(1, help="Random seed: the same seed gives identical files."),
    bands: str = typer.Option("g,r,i", help="Bands of the FITS cutouts, comma-separated."),
    workers: int = typer.Option(None, help="Worker processes (default: all cores)."),
    overwrite: bool = typer.Option(False, help="Replace an existing simulation in OUT."),
) -> None:
    """Simulate HSC Wide gri cutouts and their CAS catalog, with injected anomaly classes.

    Galaxies are GalSim bulge + disk profiles at 20.0 <= i < 20.5 with HSC PSFs, pixel scale
    and sky noise; anomalies (mergers, blue clumps, blue cores, red extended objects,
    streaks, bright-star light, empty cutouts, bad deblends) are listed in labels.csv.
    """
    with reported_errors(FileExistsError, ValueError):
        from hscanom.simulate import simulate as run

        with StageBars() as bars:
            summary = run(out, n=n, anomaly_fraction=anomaly_fraction, seed=seed, bands=tuple(bands.split(",")), workers=workers,
                          overwrite=overwrite, progress=bars)
    console.print(
        f"simulated {summary.n_objects:,} objects (+{summary.n_failing_rows} rows failing a cut), "
        f"{sum(v for k, v in summary.class_counts.items() if k != 'normal'):,} anomalies, "
        f"{summary.n_stars} bright stars, in {summary.elapsed_s:.0f} s -> {summary.out_dir}"
    )
