"""``hscanom demo``: the main job, end to end, on the embedded database."""

from __future__ import annotations

import time

import typer
from rich.text import Text

from hscanom import db
from hscanom.cli._common import StageBars, console, reported_errors
from hscanom.config import Settings
from hscanom.embedded import EmbeddedError


def demo(
    objects: int = typer.Option(5000, "--objects", help="Simulated galaxies passing the sample cuts."),
    anomaly_fraction: float = typer.Option(0.02, help="Fraction of them with an injected anomaly."),
    preset_name: str = typer.Option("demo", "--preset", help="WGAN preset: demo (the shipped model, or about 15 min of training with --train), test (seconds), paper."),
    seed: int = typer.Option(1, help="Simulation and training seed."),
    train: bool = typer.Option(
        False, "--train",
        help="Train the WGAN and encoder from scratch (about 15 min here) instead of scoring with the shipped demo model "
        "(hscanom/models/demo, trained by scripts/build_demo_model.py on a held-out simulation seed).",
    ),
) -> None:
    """Run the main job on the embedded database and simulated data, end to end.

    simulate -> ingest catalog, masks, cutouts -> the paper's sample -> pack -> train the
    WGAN and encoder (or install the shipped demo model) -> score -> train and score the DCAE ->
    characterise -> evaluate against the injected truth -> rank (a simulated astronomer labels
    3 rounds of 10 objects; the report shows the effect) -> release demo-v1 -> report. Every
    step reuses what an earlier run left, so a second run
    only checks and finishes in well under a minute. Everything lives under $HSCANOM_HOME.
    """
    from hscanom import pipeline

    with reported_errors(EmbeddedError, LookupError, FileNotFoundError, ValueError):
        home = Settings.from_env().home
        url = db.database_url()
        db.upgrade(url)
        cfg = pipeline.PipelineConfig(home=home, n_objects=objects, anomaly_fraction=anomaly_fraction, seed=seed, wgan_preset=preset_name, use_shipped=not train)
        console.rule(f"hscanom demo: {objects:,} simulated objects, preset {preset_name}, home {home}")
        started = time.perf_counter()
        clock = [started]

        def report(stage: str, message: str) -> None:
            now = time.perf_counter()
            line = Text()
            if message.startswith(pipeline.REUSED):  # found from an earlier run: nothing redone
                line.append(f"{stage:>12} reused", style="bold cyan")
                line.append(f" {message[len(pipeline.REUSED):]}")
            else:
                line.append(f"{stage:>12}", style="bold green")
                line.append(f" {message}")
            line.append(f" ({now - clock[0]:.0f} s)", style="dim")
            console.print(line)
            clock[0] = now

        with StageBars() as bars:
            state = pipeline.run(cfg, url, report=report, progress=bars)
    console.rule(f"done in {time.perf_counter() - started:.0f} s")
    console.print(f"release: {state.extra['release_dir']}")
    console.print(f"report:  {state.extra['report']}")
    console.print("try next:")
    console.print(f"  .venv/bin/hscanom sql run high-anomaly --param run_id={state.run_id}")
    top = _top_object(url, state.run_id)
    if top is not None:
        console.print(f"  .venv/bin/hscanom similar {top} --run {state.run_id}")
    console.print(f"  .venv/bin/hscanom serve --run {state.run_id}    # then open http://127.0.0.1:8000")
    console.print("stop the database with: .venv/bin/hscanom db stop")


def _top_object(url: str, run_id: int) -> int | None:
    """The run's highest-s_disc object that has a residual embedding (for the `similar` hint)."""

    with db.connect(url) as conn:
        row = conn.execute(
            "SELECT s.object_id FROM anomaly_score s JOIN embedding e ON e.run_id = s.run_id AND e.object_id = s.object_id "
            "AND e.kind = 'residual' WHERE s.run_id = %s ORDER BY s.s_disc DESC NULLS LAST LIMIT 1",
            (run_id,),
        ).fetchone()
    return row[0] if row else None
