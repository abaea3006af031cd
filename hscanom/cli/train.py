"""``hscanom train``: the WGAN-GP and its encoder, and the DCAE (second detector)."""

from __future__ import annotations

import typer

from hscanom import db
from hscanom.cli._common import console, progress_bar, reported_errors, step_progress
from hscanom.config import Settings
from hscanom.ml.config import PRESETS, preset

app = typer.Typer(help="Train the WGAN-GP and its encoder, or the DCAE, on a sample's packed images.", no_args_is_help=True)

_ERRORS = (LookupError, FileNotFoundError, ValueError)



def _registered(result) -> str:
    """'registered as' for a model trained now, 'already registered as' for a reused one."""
    return "registered as" if result.trained else "already registered (same sample and configuration) as"

@app.command()
def wgan(
    sample: str = typer.Option(..., "--sample", help="Name of the training sample (packed with `hscanom cutouts pack`)."),
    preset_name: str = typer.Option("paper", "--preset", help=f"Configuration preset: {', '.join(PRESETS)}."),
    iterations: int = typer.Option(None, help="Generator iterations (default: the preset's)."),
    image_size: int = typer.Option(None, help="Image side in pixels (default 96)."),
    seed: int = typer.Option(None, help="Random seed (default 0)."),
) -> None:
    """Train the WGAN-GP on SAMPLE; a killed training resumes from its last checkpoint."""
    with reported_errors(*_ERRORS):
        from hscanom.ml import runs

        cfg = preset(preset_name, iterations=iterations, image_size=image_size, seed=seed)
        url = db.database_url()
        with progress_bar("train WGAN", cfg.iterations) as advance:
            result = runs.train_wgan(url, sample, cfg, Settings.from_env().home, step_progress(advance))
    console.print(f"WGAN {_registered(result)} model {result.model_id} (next: hscanom train encoder --model {result.model_id})")


@app.command()
def encoder(
    model: int = typer.Option(..., "--model", help="Id of the WGAN model."),
    steps: int = typer.Option(None, help="Training steps (default: the WGAN preset's)."),
) -> None:
    """Train the encoder (image -> latent guess) of a WGAN, on the WGAN's training sample."""
    with reported_errors(*_ERRORS):
        from hscanom.ml import registry, runs

        url = db.database_url()

        with db.connect(url) as conn:
            total = steps or registry.get(conn, model, "wgan").wgan_config.encoder_steps
        with progress_bar("train encoder", total) as advance:
            result = runs.train_encoder(url, model, step_progress(advance), steps=steps)
    console.print(f"encoder {_registered(result)} model {result.model_id} (next: hscanom score --model {model} --sample ...)")


@app.command()
def dcae(
    sample: str = typer.Option(..., "--sample", help="Name of the training sample (packed with `hscanom cutouts pack`)."),
    preset_name: str = typer.Option("paper", "--preset", help="Configuration preset: paper, demo, test."),
    epochs: int = typer.Option(None, help="Passes over the training images (default: the preset's)."),
    image_size: int = typer.Option(None, help="Image side in pixels (default 96)."),
    seed: int = typer.Option(None, help="Random seed (default 0)."),
) -> None:
    """Train the denoising convolutional autoencoder (Tanaka et al.) on SAMPLE; resumes from checkpoints."""
    with reported_errors(*_ERRORS):
        from hscanom.ml import dcae as ml_dcae
        from hscanom.ml import runs
        from hscanom.ml.data import count_images

        cfg = ml_dcae.preset(preset_name, epochs=epochs, image_size=image_size, seed=seed)
        url = db.database_url()
        n_images = count_images(runs.packed_shards(url, sample, cfg.image_size))
        total = cfg.epochs * ml_dcae.steps_per_epoch(n_images, cfg.batch_size)
        with progress_bar("train DCAE", total) as advance:
            result = runs.train_dcae(url, sample, cfg, Settings.from_env().home, step_progress(advance))
    console.print(f"DCAE {_registered(result)} model {result.model_id} (next: hscanom score --method dcae --model {result.model_id} --sample ...)")
