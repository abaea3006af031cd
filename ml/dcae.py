"""The second detector: the denoising convolutional autoencoder (DCAE) of Tanaka et al. (Swimmy).

Network (Keras 3), for an ``image_size`` S = s * 2^n with 8 <= s < 16 (96 = 12 * 2^3,
32 = 8 * 2^2):

* input (B, S, S, 3) -> ``GaussianNoise(noise_sigma)`` (active in training only);
* encoder: n blocks Conv2D(3x3, same) / BatchNorm / ReLU / MaxPool(2) with
  ``width * 2^k`` filters (k = 0 .. n-1): S -> S/2 -> ... -> s;
* latent: Conv2D / BatchNorm / ReLU with ``latent_channels`` (d = 8) filters to an 8 x 8 x d
  grid: a ``valid`` convolution of kernel s - 7 when s > 8 (12 -> 8 with a 5 x 5 kernel for
  96-pixel images), a 3 x 3 ``same`` convolution when s = 8;
* decoder, the mirror image: Conv2DTranspose (kernel s - 7, ``valid``; or 3 x 3 ``same``)
  / BatchNorm / ReLU back to s x s, then n blocks UpSampling2D(2) / Conv2D(3x3) / BatchNorm /
  ReLU, and a 3 x 3 convolution to 3 channels with a sigmoid: (B, S, S, 3) in [0, 1].

Training minimises the MSE between the clean image and the reconstruction of its noisy copy,
with Adam (``learning_rate`` 1e-3, then ``learning_rate_late`` 2e-4 from epoch
``lr_drop_epoch`` = 10 on). It streams the packed shards through :mod:`hscanom.ml.data` and
checkpoints and resumes with the loop the WGAN trainers share (:mod:`hscanom.ml.train`).

Score of one image x with reconstruction r (:class:`DcaeScorer`), per channel c of the
Lupton RGB composite (R, G, B = i, r, g)::

    a_c    = sum over the central aperture of (x - r)^2 / (r + epsilon)
    s_anom = a_R + a_G + a_B
    s_gen  = mean over all pixels and channels of (x - r)^2
    s_disc = NULL (the DCAE has no critic)

The aperture is the set of pixels whose centres lie within ``aperture_diameter / 2`` = 3 pixels
of the image centre ((S - 1) / 2, (S - 1) / 2): 32 pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hscanom.ml import registry

#: Final weights of a trained DCAE, inside its model folder (``registry.WEIGHT_FILES``).
(WEIGHTS,) = registry.WEIGHT_FILES["dcae"]

#: Diameter of the central scoring aperture [pixels] (Tanaka et al.).
APERTURE_DIAMETER = 6.0
#: Added to the reconstruction in the denominator of the aperture score [image units, 0..1].
EPSILON = 1e-3
#: Side of the latent grid [pixels].
LATENT_SIDE = 8


@dataclass(frozen=True)
class DcaeConfig:
    """Hyper-parameters of the DCAE.

    Attributes:
        image_size: side of the square input images [pixels]; s * 2^n with 8 <= s < 16.
        channels: image channels (3 for gri).
        width: filters of the first encoder block (doubling per block).
        latent_channels: d, channels of the 8 x 8 latent grid.
        noise_sigma: standard deviation of the Gaussian input noise (image units, 0..1).
        learning_rate: Adam learning rate of the first ``lr_drop_epoch`` epochs.
        learning_rate_late: Adam learning rate from epoch ``lr_drop_epoch`` on.
        lr_drop_epoch: epochs trained at ``learning_rate``.
        epochs: passes over the training images.
        batch_size: images per step.
        checkpoint_every_epochs: epochs between checkpoints.
        seed: random seed of initialisation, noise and data order.
    """

    image_size: int = 96
    channels: int = 3
    width: int = 32
    latent_channels: int = 8
    noise_sigma: float = 0.02
    learning_rate: float = 1e-3
    learning_rate_late: float = 2e-4
    lr_drop_epoch: int = 10
    epochs: int = 30
    batch_size: int = 64
    checkpoint_every_epochs: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        self.geometry  # validates image_size

    @property
    def geometry(self) -> tuple[int, int]:
        """(n, s): the number of 2x2 poolings and the side s (8..15) they reach."""
        side, n = self.image_size, 0
        while side % 2 == 0 and side // 2 >= LATENT_SIDE:
            side //= 2
            n += 1
        if not LATENT_SIDE <= side < 2 * LATENT_SIDE:
            raise ValueError(
                f"image_size must be s * 2^n with {LATENT_SIDE} <= s < {2 * LATENT_SIDE} (e.g. 32, 64, 96), got {self.image_size}"
            )
        return n, side

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (LATENT_SIDE, LATENT_SIDE, self.latent_channels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> "DcaeConfig":
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, DcaeConfig] = {
    "paper": DcaeConfig(),
    "demo": DcaeConfig(width=16, epochs=12, batch_size=32),
    "test": DcaeConfig(width=4, epochs=2, batch_size=8, lr_drop_epoch=1),
}


def preset(name: str, **changes: Any) -> DcaeConfig:
    """The named preset (``paper``, ``demo`` or ``test``) with ``changes`` applied."""
    try:
        return PRESETS[name].with_(**changes)
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


# -- the network ----------------------------------------------------------------------------
def build_dcae(cfg: DcaeConfig):
    """The DCAE as a Keras model: (B, S, S, C) -> [reconstruction (B, S, S, C), latent (B, 8, 8, d)]."""
    import keras
    from keras import layers

    n, side = cfg.geometry

    def conv_bn_relu(x, filters, kernel=3, padding="same", transpose=False, name=""):
        conv = layers.Conv2DTranspose if transpose else layers.Conv2D
        x = conv(filters, kernel, padding=padding, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    image = keras.Input((cfg.image_size, cfg.image_size, cfg.channels), name="image")
    x = layers.GaussianNoise(cfg.noise_sigma, seed=cfg.seed, name="noise")(image)
    widths = [cfg.width * 2**k for k in range(n)]
    for k, filters in enumerate(widths):
        x = conv_bn_relu(x, filters, name=f"enc{k + 1}")
        x = layers.MaxPooling2D(2, name=f"pool{k + 1}")(x)
    kernel, padding = (side - LATENT_SIDE + 1, "valid") if side > LATENT_SIDE else (3, "same")
    latent = conv_bn_relu(x, cfg.latent_channels, kernel, padding, name="latent")
    x = conv_bn_relu(latent, widths[-1] if widths else cfg.width, kernel, padding, transpose=True, name="unlatent")
    for k, filters in reversed(list(enumerate(widths))):
        x = layers.UpSampling2D(2, name=f"up{k + 1}")(x)
        x = conv_bn_relu(x, filters, name=f"dec{k + 1}")
    x = layers.Conv2D(cfg.channels, 3, padding="same", name="out")(x)
    reconstruction = layers.Activation("sigmoid", name="reconstruction", dtype="float32")(x)
    return keras.Model(image, [reconstruction, latent], name="dcae")


def load_dcae(cfg: DcaeConfig, directory: Path):
    """The trained DCAE of a finished model folder."""
    model = build_dcae(cfg)
    model.load_weights(Path(directory) / WEIGHTS)
    return model


# -- training -------------------------------------------------------------------------------
class DcaeTrainer:
    """Trains the DCAE in ``directory``; a killed training resumes from its newest checkpoint.

    The folder holds ``checkpoints/`` (model, optimiser with its step count, step),
    ``history.json`` (the loss once per epoch) and, when finished, ``dcae.weights.h5``.
    """

    def __init__(self, cfg: DcaeConfig, directory: Path, steps_per_epoch: int):
        import keras
        import tensorflow as tf

        self.cfg = cfg
        self.directory = Path(directory)
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        tf.keras.utils.set_random_seed(cfg.seed)
        self.model = build_dcae(cfg)
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [cfg.lr_drop_epoch * self.steps_per_epoch], [cfg.learning_rate, cfg.learning_rate_late]
        )
        self.opt = keras.optimizers.Adam(learning_rate=schedule)
        self.step = tf.Variable(0, dtype=tf.int64, name="step")
        self.checkpoint = tf.train.Checkpoint(model=self.model, opt=self.opt, step=self.step)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory / "checkpoints"), max_to_keep=2)
        self._train_step = tf.function(self._step, reduce_retracing=True)

    def _step(self, x):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            reconstruction, _ = self.model(x, training=True)
            loss = tf.reduce_mean(tf.square(x - reconstruction))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.opt.apply_gradients(zip(grads, self.model.trainable_variables))
        self.step.assign_add(1)
        return loss

    def fit(self, batches, progress=None):
        """Train for ``cfg.epochs`` epochs on a repeated dataset of (B, S, S, C) batches.

        Returns a :class:`hscanom.ml.train.TrainResult`; ``progress(step, total, losses)``
        is called after each step.
        """
        from hscanom.ml.train import TrainResult, _run_steps

        cfg = self.cfg
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        start = int(self.step.numpy())
        total = cfg.epochs * self.steps_per_epoch
        step_fn = lambda batch: {"loss": float(self._train_step(batch))}  # noqa: E731
        history = _run_steps(
            self.directory, self.manager, start, total, cfg.checkpoint_every_epochs * self.steps_per_epoch,
            step_fn, batches, progress, self.steps_per_epoch,
        )
        weights = self.directory / WEIGHTS
        self.model.save_weights(weights)
        return TrainResult(self.directory, [weights], history, resumed_from=start)


# -- scoring --------------------------------------------------------------------------------
def aperture_mask(image_size: int, diameter: float = APERTURE_DIAMETER) -> np.ndarray:
    """(S, S) bool: pixels whose centres are within ``diameter / 2`` of the image centre."""
    c = (image_size - 1) / 2.0
    yy, xx = np.mgrid[:image_size, :image_size]
    return (xx - c) ** 2 + (yy - c) ** 2 <= (diameter / 2.0) ** 2


def aperture_scores(images: np.ndarray, reconstructions: np.ndarray, diameter: float = APERTURE_DIAMETER, epsilon: float = EPSILON) -> np.ndarray:
    """Per-channel aperture residuals (B, C): sum over the aperture of (x - r)^2 / (r + epsilon).

    Args:
        images, reconstructions: (B, S, S, C) in [0, 1].
    """
    mask = aperture_mask(images.shape[1], diameter)
    x = np.asarray(images, np.float64)[:, mask]  # (B, n_pixels, C)
    r = np.asarray(reconstructions, np.float64)[:, mask]
    return np.sum((x - r) ** 2 / (r + epsilon), axis=1)


class DcaeScorer:
    """Scores batches of images with a trained DCAE (what a score run's worker calls)."""

    def __init__(self, cfg: DcaeConfig, model, *, aperture_diameter: float = APERTURE_DIAMETER, epsilon: float = EPSILON):
        import tensorflow as tf

        self.cfg, self.model = cfg, model
        self.aperture_diameter, self.epsilon = aperture_diameter, epsilon
        self._reconstruct = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def __call__(self, images: np.ndarray):
        """Score ``images`` (B, S, S, C) float32 in [0, 1] -> :class:`hscanom.ml.score.BatchScores`.

        ``s_disc`` is ``None`` (stored as NULL); ``z`` holds the latents (B, 8, 8, d).
        """
        import tensorflow as tf

        from hscanom.ml.score import BatchScores

        reconstruction, latent = (t.numpy() for t in self._reconstruct(tf.convert_to_tensor(images, tf.float32)))
        per_band = aperture_scores(images, reconstruction, self.aperture_diameter, self.epsilon)
        s_gen = np.mean((np.asarray(images, np.float64) - reconstruction) ** 2, axis=(1, 2, 3))
        return BatchScores(s_gen=s_gen, s_disc=None, s_anom=per_band.sum(axis=1), reconstruction=reconstruction, z=latent)


def score_params(cfg: DcaeConfig, batch_size: int) -> dict:
    """What a DCAE score run records about how it scores."""
    return {
        "score": "sum over bands of the central-aperture residual sum (x - r)^2 / (r + epsilon)",
        "aperture_diameter": APERTURE_DIAMETER,
        "epsilon": EPSILON,
        "batch_size": batch_size,
        "image_size": cfg.image_size,
    }


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches per pass over ``n_images`` (at least 1)."""
    return max(1, math.floor(n_images / batch_size))
