"""Training and scoring as database-recorded jobs: what ``hscanom train`` and ``hscanom score`` run.

* :func:`train_wgan` trains the WGAN-GP on a sample's packed shards (resuming a killed
  training from its checkpoint) and registers it; training the same sample with the same
  configuration again returns the registered model.
* :func:`train_encoder` trains the encoder of a registered WGAN on the same sample.
* :func:`score` creates (or reuses) a score run and drives workers over its batches: in this
  process, in local worker processes, or as tasks on a Dask cluster (``scheduler``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import psycopg

from hscanom.ml import jobs, registry
from hscanom.ml.config import WganConfig
from hscanom.samples import get_sample

Progress = Callable[[int, int, dict], None]


def packed_shards(url: str, sample: str, image_size: int) -> list[str]:
    """Paths of the complete packed shards of ``sample`` at ``image_size``, in order."""
    from hscanom.ingest.pack import sample_shards

    paths = sample_shards(sample, size=image_size, url=url)
    if not paths:
        raise LookupError(f"sample {sample!r} has no packed {image_size}-pixel shards (run `hscanom cutouts pack`)")
    return [str(p) for p in paths]


def _config_tag(cfg: WganConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


def train_wgan(url: str, sample: str, cfg: WganConfig, home: Path, progress: Progress | None = None) -> int:
    """Train (or resume, or reuse) the WGAN of ``sample``; returns the model id."""
    from hscanom.ml.data import count_images, training_batches
    from hscanom.ml.train import WganTrainer

    sample_id = get_sample(sample, url).id
    shards = packed_shards(url, sample, cfg.image_size)
    with psycopg.connect(url, autocommit=True) as conn:
        directory = Path(home) / "models" / f"wgan-{sample}-{_config_tag(cfg)}"
        existing = registry.find(conn, "wgan", directory)
        if existing:
            return existing
        batches = training_batches(shards, cfg.batch_size, stack=cfg.n_critic, seed=cfg.seed)
        result = WganTrainer(cfg, directory).fit(batches, progress)
        metrics = {
            "final_losses": result.history[-1] if result.history else {},
            "history": result.history,
            "samples_png": str(directory / "samples.png"),
            "n_train_images": count_images(shards),
            "resumed_from_step": result.resumed_from,
        }
        return registry.register(conn, "wgan", cfg, directory, sample_id=sample_id, metrics=metrics)


def train_encoder(url: str, wgan_id: int, progress: Progress | None = None, steps: int | None = None) -> int:
    """Train (or resume, or reuse) the encoder of WGAN ``wgan_id`` on its training sample."""
    from hscanom.ml.data import training_batches
    from hscanom.ml.train import EncoderTrainer, load_wgan

    with psycopg.connect(url, autocommit=True) as conn:
        wgan = registry.get(conn, wgan_id, "wgan")
        cfg = wgan.wgan_config.with_(encoder_steps=steps)
        directory = wgan.directory / f"encoder-{_config_tag(cfg)}"
        existing = registry.find(conn, "encoder", directory, parent_model_id=wgan_id)
        if existing:
            return existing
        generator, critic = load_wgan(cfg, wgan.directory)
        training_sample = conn.execute("SELECT name FROM sample WHERE id = %s", (wgan.sample_id,)).fetchone()[0]
        shards = packed_shards(url, training_sample, cfg.image_size)
        result = EncoderTrainer(cfg, directory, generator, critic).fit(training_batches(shards, cfg.batch_size, seed=cfg.seed), progress)
        metrics = {"final_loss": result.history[-1]["loss"] if result.history else None, "history": result.history}
        return registry.register(conn, "encoder", cfg, directory, sample_id=wgan.sample_id, metrics=metrics, parent_model_id=wgan_id)


def load_scorer(url: str, wgan_id: int, encoder_id: int):
    """(Scorer, config) of a registered WGAN and encoder; deterministic ops enabled."""
    import tensorflow as tf

    from hscanom.ml.score import Scorer
    from hscanom.ml.train import load_encoder, load_wgan

    tf.config.experimental.enable_op_determinism()
    with psycopg.connect(url) as conn:
        wgan = registry.get(conn, wgan_id, "wgan")
        encoder = registry.get(conn, encoder_id, "encoder")
    cfg = wgan.wgan_config
    generator, critic = load_wgan(cfg, wgan.directory)
    return Scorer(cfg, generator, critic, load_encoder(cfg, encoder.directory)), cfg


def score_params(cfg: WganConfig, encoder_id: int, batch_size: int) -> dict:
    """What a score run records about how it scores (its identity with model and sample)."""
    return {
        "lambda_anom": cfg.lambda_anom,
        "iterations": cfg.score_iterations,
        "optimizer": {"name": "adam", "learning_rate": cfg.score_learning_rate, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
        "encoder_id": encoder_id,
        "batch_size": batch_size,
        "image_size": cfg.image_size,
    }


def score(
    url: str,
    wgan_id: int,
    sample: str,
    home: Path,
    *,
    workers: int = 1,
    batch_size: int = 256,
    scheduler: str | None = None,
    lease_seconds: float = 600.0,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Score every member of ``sample`` with WGAN ``wgan_id`` (and its newest encoder).

    Args:
        workers: worker processes (local) or Dask tasks (with ``scheduler``).
        batch_size: sample members per claimed batch.
        scheduler: address of a Dask scheduler (``tcp://host:8786``) to run the workers on.
        on_batch: progress callback (objects per stored batch; in-process scoring only).

    Returns:
        The run id. When the run is complete, the sample ``run<ID>-disc3sigma`` holds its
        high-anomaly objects (s_disc > 3 sigma).
    """
    with psycopg.connect(url, autocommit=True) as conn:
        wgan = registry.get(conn, wgan_id, "wgan")
        encoder_id = registry.encoder_of(conn, wgan_id)
        if encoder_id is None:
            raise LookupError(f"WGAN {wgan_id} has no encoder yet (run `hscanom train encoder --model {wgan_id}`)")
        cfg = wgan.wgan_config
        run_id = jobs.create_run(conn, wgan_id, get_sample(sample, url).id, score_params(cfg, encoder_id, batch_size), batch_size)
    results_dir = Path(home) / "results" / f"run-{run_id}"
    factory = partial(load_scorer, url, wgan_id, encoder_id)
    work = partial(jobs.work, url, run_id, factory, results_dir, lease_seconds=lease_seconds)
    if scheduler:
        from dask.distributed import Client

        with Client(scheduler) as client:
            client.gather([client.submit(work, pure=False, key=f"score-run{run_id}-worker{i}") for i in range(workers)])
    elif workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
    else:
        work(on_batch=on_batch)
    with psycopg.connect(url, autocommit=True) as conn:
        complete = jobs.finish_run_if_done(conn, run_id)
    if complete:
        high_anomaly_sample(url, run_id)
    return run_id


def high_anomaly_sample(url: str, run_id: int, sigma: float = 3.0) -> str:
    """Create (once) the sample of a run's objects with s_disc above ``sigma``; returns its name."""
    from hscanom.samples import SampleError, create_sample

    name = f"run{run_id}-disc{sigma:g}sigma"
    try:
        return get_sample(name, url).name
    except SampleError:
        pass
    sql = "SELECT object_id FROM anomaly_score_normalized WHERE run_id = %(run_id)s AND s_disc_sigma > %(sigma)s"
    create_sample(
        name, sql, description=f"High-anomaly objects of score run {run_id}: s_disc > {sigma:g} sigma",
        params={"run_id": int(run_id), "sigma": float(sigma)}, url=url,
    )
    return name
