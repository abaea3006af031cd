"""Training and scoring as database-recorded jobs: what ``hscanom train`` and ``hscanom score`` run.

* :func:`train_wgan` trains the WGAN-GP on a sample's packed shards (resuming a killed
  training from its checkpoint) and registers it; training the same sample with the same
  configuration again returns the registered model.
* :func:`train_encoder` trains the encoder of a registered WGAN on the same sample.
* :func:`train_dcae` trains (resumes, or reuses) the second detector, the DCAE of Tanaka et al.
* :func:`score` creates (or reuses) a score run of either method (``wgan``, ``dcae``) and
  drives workers over its batches: in this process, in local worker processes, or as tasks
  on a Dask cluster (``scheduler``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

import psycopg

from hscanom import db
from hscanom.ml import jobs, registry
from hscanom.ml.config import WganConfig
from hscanom.records import get_run
from hscanom.samples import get_sample
from hscanom.scores import SCORES

Progress = Callable[[int, int, dict], None]


def packed_shards(url: str, sample: str, image_size: int) -> list[str]:
    """Paths of the complete packed shards of ``sample`` at ``image_size``, in order."""
    from hscanom.ingest.pack import sample_shards

    paths = sample_shards(sample, size=image_size, url=url)
    if not paths:
        raise LookupError(f"sample {sample!r} has no packed {image_size}-pixel shards (run `hscanom cutouts pack`)")
    return [str(p) for p in paths]


def _config_tag(cfg) -> str:
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


class TrainResult(NamedTuple):
    """What :func:`train_wgan`, :func:`train_encoder` and :func:`train_dcae` return.

    Attributes:
        model_id: id of the registered model (``model.id``).
        directory: folder of its weights, checkpoints and ``history.json``.
        trained: ``True`` when this call trained (or resumed) it, ``False`` when the same
            sample and configuration were already registered and nothing was trained.
    """

    model_id: int
    directory: Path
    trained: bool


class ScoreResult(NamedTuple):
    """What :func:`score` returns.

    Attributes:
        run_id: id of the score run (``score_run.id``).
        method: ``wgan`` or ``dcae``.
        status: the run's status after the call (``complete`` unless workers left batches).
        n_scored: objects with an ``anomaly_score`` row in the run.
        n_high: of them, objects above 3 sigma in the method's own score (:data:`METHODS`);
            ``0`` until the run is complete.
        high_anomaly_sample: name of the sample of those objects (``run<ID>-disc3sigma`` or
            ``run<ID>-anom3sigma``), ``None`` until the run is complete.
        reused: ``True`` when the run was already complete before the call (nothing scored).
    """

    run_id: int
    method: str
    status: str
    n_scored: int
    n_high: int
    high_anomaly_sample: str | None
    reused: bool


def _registered_or_trained(
    url: str, kind: str, cfg, directory: Path, fit: Callable[[], dict], *, sample_id: int, parent_model_id: int | None = None
) -> TrainResult:
    """The model of ``kind`` registered for ``directory``, else ``fit()`` (-> metrics) and register it."""
    with db.connect(url, autocommit=True) as conn:
        existing = registry.find(conn, kind, directory, parent_model_id=parent_model_id)
        if existing:
            return TrainResult(existing, directory, False)
        metrics = fit()
        model_id = registry.register(conn, kind, cfg, directory, sample_id=sample_id, metrics=metrics, parent_model_id=parent_model_id)
    return TrainResult(model_id, directory, True)


def train_wgan(url: str, sample: str, cfg: WganConfig, home: Path, progress: Progress | None = None) -> TrainResult:
    """Train (or resume, or reuse) the WGAN-GP of ``sample`` (Storey-Fisher et al. 2021, sec. 3).

    Raises:
        SampleError: no such sample. LookupError: the sample has no packed shards of
            ``cfg.image_size`` pixels.
    """
    from hscanom.ml.data import count_images, training_batches
    from hscanom.ml.train import WganTrainer

    sample_id = get_sample(sample, url).id
    shards = packed_shards(url, sample, cfg.image_size)
    directory = Path(home) / "models" / f"wgan-{sample}-{_config_tag(cfg)}"

    def fit() -> dict:
        batches = training_batches(shards, cfg.batch_size, stack=cfg.n_critic, seed=cfg.seed)
        result = WganTrainer(cfg, directory).fit(batches, progress)
        return {
            "final_losses": result.history[-1] if result.history else {},
            "history": result.history,
            "samples_png": str(directory / "samples.png"),
            "n_train_images": count_images(shards),
            "resumed_from_step": result.resumed_from,
        }

    return _registered_or_trained(url, "wgan", cfg, directory, fit, sample_id=sample_id)


def train_encoder(url: str, wgan_id: int, progress: Progress | None = None, steps: int | None = None) -> TrainResult:
    """Train (or resume, or reuse) the encoder of WGAN ``wgan_id`` on its training sample.

    Raises:
        LookupError: no WGAN ``wgan_id``, or its sample has no packed shards.
    """
    from hscanom.ml.data import training_batches
    from hscanom.ml.train import EncoderTrainer, load_wgan

    with db.connect(url) as conn:
        wgan = registry.get(conn, wgan_id, "wgan")
        training_sample = conn.execute("SELECT name FROM sample WHERE id = %s", (wgan.sample_id,)).fetchone()[0]
    cfg = wgan.wgan_config.with_(encoder_steps=steps)
    directory = wgan.directory / f"encoder-{_config_tag(cfg)}"

    def fit() -> dict:
        generator, critic = load_wgan(cfg, wgan.directory)
        shards = packed_shards(url, training_sample, cfg.image_size)
        result = EncoderTrainer(cfg, directory, generator, critic).fit(training_batches(shards, cfg.batch_size, seed=cfg.seed), progress)
        return {"final_loss": result.history[-1]["loss"] if result.history else None, "history": result.history}

    return _registered_or_trained(url, "encoder", cfg, directory, fit, sample_id=wgan.sample_id, parent_model_id=wgan_id)


def train_dcae(url: str, sample: str, cfg, home: Path, progress: Progress | None = None) -> TrainResult:
    """Train (or resume, or reuse) the DCAE (:class:`hscanom.ml.dcae.DcaeConfig`) of ``sample``
    (Tanaka et al. 2022, sec. 3).

    Raises:
        SampleError: no such sample. LookupError: no packed shards of ``cfg.image_size`` pixels.
    """
    from hscanom.ml import dcae
    from hscanom.ml.data import count_images, training_batches

    sample_id = get_sample(sample, url).id
    shards = packed_shards(url, sample, cfg.image_size)
    directory = Path(home) / "models" / f"dcae-{sample}-{_config_tag(cfg)}"

    def fit() -> dict:
        n_images = count_images(shards)
        steps = dcae.steps_per_epoch(n_images, cfg.batch_size)
        result = dcae.DcaeTrainer(cfg, directory, steps).fit(training_batches(shards, cfg.batch_size, seed=cfg.seed), progress)
        return {
            "final_loss": result.history[-1]["loss"] if result.history else None,
            "history": result.history,
            "n_train_images": n_images,
            "steps_per_epoch": steps,
            "resumed_from_step": result.resumed_from,
        }

    return _registered_or_trained(url, "dcae", cfg, directory, fit, sample_id=sample_id)


def load_dcae_scorer(url: str, dcae_id: int):
    """(DcaeScorer, DcaeConfig) of a registered DCAE; deterministic ops enabled."""
    import tensorflow as tf

    from hscanom.ml import dcae

    tf.config.experimental.enable_op_determinism()
    with db.connect(url) as conn:
        record = registry.get(conn, dcae_id, "dcae")
    cfg = dcae.DcaeConfig(**record.config)
    return dcae.DcaeScorer(cfg, dcae.load_dcae(cfg, record.directory)), cfg


def load_scorer(url: str, wgan_id: int, encoder_id: int, precision: str = "float32"):
    """(Scorer, config) of a registered WGAN and encoder; deterministic ops enabled.

    ``precision`` is the Keras dtype policy the networks compute in: ``float32`` (exactly
    reproducible), ``mixed_float16`` (GPUs) or ``mixed_bfloat16`` (CPUs with AVX512-BF16 or
    AMX). Weights stay float32; z, the scores and the reconstructions are float32.
    """
    import keras
    import tensorflow as tf

    from hscanom.ml.score import Scorer
    from hscanom.ml.train import load_encoder, load_wgan

    tf.config.experimental.enable_op_determinism()
    with db.connect(url) as conn:
        wgan = registry.get(conn, wgan_id, "wgan")
        encoder = registry.get(conn, encoder_id, "encoder")
    cfg = wgan.wgan_config
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        generator, critic = load_wgan(cfg, wgan.directory)
        encoder_net = load_encoder(cfg, encoder.directory)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return Scorer(cfg, generator, critic, encoder_net), cfg


#: Dtype policies a WGAN score run can compute in.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def score_params(cfg: WganConfig, encoder_id: int, batch_size: int, precision: str = "float32") -> dict:
    """What a score run records about how it scores (its identity with model and sample)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return {
        "precision": precision,
        "lambda_anom": cfg.lambda_anom,
        "iterations": cfg.score_iterations,
        "optimizer": {"name": "adam", "learning_rate": cfg.score_learning_rate, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
        "encoder_id": encoder_id,
        "batch_size": batch_size,
        "image_size": cfg.image_size,
        "score_radius": cfg.score_radius,
        **({"artefact_threshold": cfg.artefact_threshold, "artefact_weight": cfg.artefact_weight} if cfg.score_radius else {}),
        **({"score_pixel_radius": cfg.score_pixel_radius} if cfg.score_pixel_radius else {}),
    }


#: Score methods, and the score column each one's high-anomaly sample selects on.
METHODS: dict[str, str] = {"wgan": "s_disc", "dcae": "s_anom"}


def _method_run(conn: psycopg.Connection, url: str, method: str, model_id: int, batch_size: int, precision: str):
    """(run params, scorer factory) of scoring with ``model_id`` by ``method``."""
    if method == "wgan":
        wgan = registry.get(conn, model_id, "wgan")
        encoder_id = registry.encoder_of(conn, model_id)
        if encoder_id is None:
            raise LookupError(f"WGAN {model_id} has no encoder yet (run `hscanom train encoder --model {model_id}`)")
        params = score_params(wgan.wgan_config, encoder_id, batch_size, precision)
        return params, partial(load_scorer, url, model_id, encoder_id, precision)
    if method == "dcae":
        from hscanom.ml import dcae

        if precision != "float32":
            raise ValueError("dcae runs compute in float32 only")
        record = registry.get(conn, model_id, "dcae")
        return dcae.score_params(dcae.DcaeConfig(**record.config), batch_size), partial(load_dcae_scorer, url, model_id)
    raise ValueError(f"unknown score method {method!r}; choose one of {', '.join(METHODS)}")


def score(
    url: str,
    model_id: int,
    sample: str,
    home: Path,
    *,
    method: str = "wgan",
    workers: int = 1,
    batch_size: int = 256,
    scheduler: str | None = None,
    lease_seconds: float = 600.0,
    precision: str = "float32",
    on_batch: Callable[[int], None] | None = None,
) -> ScoreResult:
    """Score every member of ``sample`` with model ``model_id`` by ``method``.

    Args:
        method: ``wgan`` (the WGAN ``model_id`` and its newest encoder) or ``dcae`` (the
            DCAE ``model_id``; s_disc is NULL).
        workers: worker processes (local) or Dask tasks (with ``scheduler``).
        batch_size: sample members per claimed batch.
        scheduler: address of a Dask scheduler (``tcp://host:8786``) to run the workers on.
        precision: dtype policy of a wgan run (:data:`PRECISIONS`; part of the run's identity).
        on_batch: progress callback (objects per stored batch; in-process scoring only).

    Returns:
        A :class:`ScoreResult`. When the run is complete, the sample ``run<ID>-disc3sigma``
        (wgan; s_disc > 3 sigma) or ``run<ID>-anom3sigma`` (dcae; s_anom) holds its
        high-anomaly objects.

    Raises:
        SampleError: no such sample. LookupError: no such model, or a WGAN without encoder.
        ValueError: an unknown method or precision.
    """
    with db.connect(url, autocommit=True) as conn:
        jobs.recover_stale_runs(conn)
        params, factory = _method_run(conn, url, method, model_id, batch_size, precision)
        run_id = jobs.create_run(conn, model_id, get_sample(sample, url).id, params, batch_size, method=method)
        reused = get_run(conn, run_id).status == "complete"
    results_dir = Path(home) / "results" / f"run-{run_id}"
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
    with db.connect(url, autocommit=True) as conn:
        complete = jobs.finish_run_if_done(conn, run_id)
    own = METHODS[method]  # _method_run refused any other method
    high = high_anomaly_sample(url, run_id, score=own) if complete else None
    with db.connect(url) as conn:
        n_scored, n_high = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {own}_sigma > 3) FROM anomaly_score_normalized WHERE run_id = %s", (run_id,)
        ).fetchone()
        status = get_run(conn, run_id).status
    return ScoreResult(run_id, method, status, int(n_scored), int(n_high) if complete else 0, high, reused)


def high_anomaly_sample(url: str, run_id: int, sigma: float = 3.0, score: str | None = None) -> str:
    """Create (once) the sample of a run's objects with ``score`` above ``sigma``; returns its name.

    Args:
        score: ``s_gen``, ``s_disc`` or ``s_anom``; default the run method's own
            (:data:`METHODS`: s_disc for wgan runs, s_anom for dcae runs).

    The sample is named ``run<ID>-<gen|disc|anom><sigma>sigma`` (e.g. ``run3-disc3sigma``).
    """
    from hscanom.samples import SampleError, create_sample

    if score is None:
        with db.connect(url) as conn:
            score = METHODS.get(get_run(conn, run_id).method, "s_disc")  # LookupError: no such run
    if score not in SCORES:
        raise ValueError(f"unknown score column {score!r}; choose s_gen, s_disc or s_anom")
    name = f"run{run_id}-{score[2:]}{sigma:g}sigma"
    try:
        return get_sample(name, url).name
    except SampleError:
        pass
    sql = f"SELECT object_id FROM anomaly_score_normalized WHERE run_id = %(run_id)s AND {score}_sigma > %(sigma)s"
    create_sample(
        name, sql, description=f"High-anomaly objects of score run {run_id}: {score} > {sigma:g} sigma",
        params={"run_id": int(run_id), "sigma": float(sigma)}, url=url,
    )
    return name
