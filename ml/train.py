"""Training of the WGAN-GP and of its encoder, resumable from checkpoints.

Both trainers read images through a ``tf.data`` pipeline (see :mod:`hscanom.ml.data`) and
write into a model folder::

    <dir>/checkpoints/       tf.train.Checkpoint files (every ``checkpoint_every`` steps)
    <dir>/generator.weights.h5, critic.weights.h5   (WGAN, when finished)
    <dir>/encoder.weights.h5                        (encoder, when finished)
    <dir>/samples.png        a grid of generated images (WGAN)
    <dir>/history.json       losses per logged step

A killed training restarts from the newest checkpoint: networks, optimiser states, the step
counter and the random-number generator are all restored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from hscanom.ml.config import WganConfig
from hscanom.ml.losses import anomaly_terms
from hscanom.ml.networks import build_critic, build_encoder, build_generator

Progress = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainResult:
    """What a finished training leaves behind.

    Attributes:
        directory: the model folder.
        weight_files: the final weight files, in a fixed order.
        history: logged losses, a list of {"step": int, <loss name>: float}.
        resumed_from: the step the run resumed from (0 for a fresh start).
    """

    directory: Path
    weight_files: list[Path]
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0


@contextmanager
def dtype_policy(name: str):
    """Build Keras layers under the dtype policy ``name`` (``float32``, ``mixed_bfloat16`` ...)."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _adam(cfg: WganConfig, lr: float | None = None) -> tf.keras.optimizers.Optimizer:
    import keras

    return keras.optimizers.Adam(learning_rate=lr or cfg.learning_rate, beta_1=cfg.beta1, beta_2=cfg.beta2)


def _history(directory: Path) -> list[dict[str, float]]:
    path = directory / "history.json"
    return json.loads(path.read_text()) if path.exists() else []


def _save_history(directory: Path, history: list[dict[str, float]]) -> None:
    (directory / "history.json").write_text(json.dumps(history))


def _run_steps(directory, manager, start, total, checkpoint_every, step_fn, batches, progress, log_every):
    """The loop both trainers share: steps ``start + 1 .. total`` with logging and checkpoints.

    ``step_fn(batch)`` runs one compiled step and returns its losses as floats. Losses are
    logged every ``log_every`` steps; a checkpoint (and ``history.json``) is written every
    ``checkpoint_every`` steps and at the end. Returns the whole history, earlier runs included.
    """
    history = [h for h in _history(directory) if h["step"] <= start]
    iterator = iter(batches)
    for step in range(start + 1, total + 1):
        losses = step_fn(next(iterator))
        if step % log_every == 0 or step == total:
            history.append({"step": step, **losses})
        if step % checkpoint_every == 0 or step == total:
            manager.save(checkpoint_number=step)
            _save_history(directory, history)
        if progress:
            progress(step, total, losses)
    _save_history(directory, history)
    return history


class WganTrainer:
    """WGAN-GP training (Gulrajani et al. 2017) with the paper's settings.

    Each generator iteration does ``n_critic`` critic updates on ``n_critic`` real batches,
    then one generator update, all inside one compiled ``tf.function``.
    """

    def __init__(self, cfg: WganConfig, directory: Path):
        self.cfg = cfg
        self.directory = Path(directory)
        tf.keras.utils.set_random_seed(cfg.seed)
        with dtype_policy(cfg.precision):
            self.generator = build_generator(cfg)
            self.critic = build_critic(cfg)
        self.g_opt = _adam(cfg)
        self.d_opt = _adam(cfg)
        self.step = tf.Variable(0, dtype=tf.int64, name="step")
        self.rng = tf.random.Generator.from_seed(cfg.seed)
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, critic=self.critic, g_opt=self.g_opt, d_opt=self.d_opt, step=self.step, rng=self.rng
        )
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory / "checkpoints"), max_to_keep=2)

    def restore(self) -> int:
        """Restore the newest checkpoint if any; returns the step reached."""
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        return int(self.step.numpy())

    def _critic_loss(self, real, z):
        cfg = self.cfg
        fake = self.generator(z, training=True)
        score_real, _ = self.critic(real, training=True)
        score_fake, _ = self.critic(fake, training=True)
        eps = self.rng.uniform([tf.shape(real)[0], 1, 1, 1])
        mixed = eps * real + (1.0 - eps) * fake
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(mixed)
            score_mixed, _ = self.critic(mixed, training=True)
        grads = gp_tape.gradient(score_mixed, mixed)
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        penalty = tf.reduce_mean(tf.square(norms - 1.0))
        wasserstein = tf.reduce_mean(score_real) - tf.reduce_mean(score_fake)
        return -wasserstein + cfg.gp_lambda * penalty, wasserstein, penalty

    @tf.function(reduce_retracing=True)
    def train_iteration(self, real_batches):
        """One generator iteration. ``real_batches``: (n_critic, B, H, W, C) float32 in [0, 1]."""
        cfg = self.cfg
        batch = tf.shape(real_batches)[1]
        d_loss = wasserstein = penalty = tf.constant(0.0)
        for k in range(cfg.n_critic):
            z = self.rng.normal([batch, cfg.latent_dim])
            with tf.GradientTape() as tape:
                d_loss, wasserstein, penalty = self._critic_loss(real_batches[k], z)
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_opt.apply_gradients(zip(grads, self.critic.trainable_variables))
        z = self.rng.normal([batch, cfg.latent_dim])
        with tf.GradientTape() as tape:
            score_fake, _ = self.critic(self.generator(z, training=True), training=True)
            g_loss = -tf.reduce_mean(score_fake)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_opt.apply_gradients(zip(grads, self.generator.trainable_variables))
        self.step.assign_add(1)
        return {"d_loss": d_loss, "g_loss": g_loss, "wasserstein": wasserstein, "gradient_penalty": penalty}

    def fit(self, batches: tf.data.Dataset, progress: Progress | None = None, log_every: int = 10) -> TrainResult:
        """Train until ``cfg.iterations``, resuming from the newest checkpoint.

        Args:
            batches: repeated dataset of (n_critic, B, H, W, C) float32 stacks.
            progress: called as ``progress(step, total, losses)`` after each iteration.
        """
        cfg = self.cfg
        start = self.restore()
        step_fn = lambda batch: {k: float(v) for k, v in self.train_iteration(batch).items()}  # noqa: E731
        history = _run_steps(self.directory, self.manager, start, cfg.iterations, cfg.checkpoint_every, step_fn, batches, progress, log_every)
        files = [self.directory / "generator.weights.h5", self.directory / "critic.weights.h5"]
        self.generator.save_weights(files[0])
        self.critic.save_weights(files[1])
        write_sample_grid(self.generator, cfg, self.directory / "samples.png")
        return TrainResult(self.directory, files, history, resumed_from=start)


def load_wgan(cfg: WganConfig, directory: Path) -> tuple[tf.keras.Model, tf.keras.Model]:
    """The trained (generator, critic) from a finished WGAN folder."""
    generator, critic = build_generator(cfg), build_critic(cfg)
    generator.load_weights(Path(directory) / "generator.weights.h5")
    critic.load_weights(Path(directory) / "critic.weights.h5")
    return generator, critic


def load_encoder(cfg: WganConfig, directory: Path) -> tf.keras.Model:
    encoder = build_encoder(cfg)
    encoder.load_weights(Path(directory) / "encoder.weights.h5")
    return encoder


class EncoderTrainer:
    """Trains E so that G(E(x)) reconstructs real images x, with G and d frozen.

    The loss is the anomaly loss itself (the izi_f scheme of Schlegl et al. 2019,
    f-AnoGAN), so E gives the starting guess that scoring then refines.
    """

    def __init__(self, cfg: WganConfig, directory: Path, generator, critic):
        self.cfg = cfg
        self.directory = Path(directory)
        tf.keras.utils.set_random_seed(cfg.seed + 1)
        self.generator, self.critic = generator, critic
        with dtype_policy(cfg.precision):
            self.encoder = build_encoder(cfg)
        self.opt = _adam(cfg, cfg.encoder_learning_rate)
        self.step = tf.Variable(0, dtype=tf.int64, name="step")
        self.checkpoint = tf.train.Checkpoint(encoder=self.encoder, opt=self.opt, step=self.step)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory / "checkpoints"), max_to_keep=2)

    @tf.function(reduce_retracing=True)
    def train_step(self, x):
        with tf.GradientTape() as tape:
            rec = self.generator(self.encoder(x, training=True), training=False)
            _, fx = self.critic(x, training=False)
            _, fr = self.critic(rec, training=False)
            _, _, loss = anomaly_terms(x, rec, fx, fr, self.cfg.lambda_anom)
            loss = tf.reduce_mean(loss)
        grads = tape.gradient(loss, self.encoder.trainable_variables)
        self.opt.apply_gradients(zip(grads, self.encoder.trainable_variables))
        self.step.assign_add(1)
        return loss

    def fit(self, batches: tf.data.Dataset, progress: Progress | None = None, log_every: int = 10) -> TrainResult:
        """Train for ``cfg.encoder_steps`` on a repeated dataset of (B, H, W, C) batches."""
        cfg = self.cfg
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        start = int(self.step.numpy())
        step_fn = lambda batch: {"loss": float(self.train_step(batch))}  # noqa: E731
        history = _run_steps(self.directory, self.manager, start, cfg.encoder_steps, cfg.checkpoint_every, step_fn, batches, progress, log_every)
        weights = self.directory / "encoder.weights.h5"
        self.encoder.save_weights(weights)
        return TrainResult(self.directory, [weights], history, resumed_from=start)


def write_sample_grid(generator, cfg: WganConfig, path: Path, n: int = 36) -> Path:
    """Write a PNG grid of ``n`` generated images (fixed latent seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = np.random.default_rng(cfg.seed).standard_normal((n, cfg.latent_dim)).astype(np.float32)
    images = np.clip(generator(z, training=False).numpy(), 0, 1)
    side = int(np.ceil(np.sqrt(n)))
    fig, axes = plt.subplots(side, side, figsize=(1.2 * side, 1.2 * side))
    for ax, img in zip(axes.flat, images):
        ax.imshow(img, origin="lower")
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle("WGAN generated images", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
