"""The three networks of the method: generator G, critic d and encoder E (Keras 3).

Shapes for the paper configuration (``width`` 64, 96 x 96 x 3 images, latent 128):

* generator: z (B, 128) -> dense 6 x 6 x 512 -> 4 transposed convolutions (stride 2) ->
  (B, 96, 96, 3) with a sigmoid output (images are scaled to [0, 1]). With
  ``upsample="resize"`` (the ``demo`` preset) each transposed convolution is replaced by a
  nearest-neighbour 2x upsampling followed by a stride-1 convolution of the same width, which
  cannot produce the checkerboard pattern of transposed convolutions whose kernel is not a
  multiple of the stride (Odena, Dumoulin & Olah 2016, Distill).
* critic: x (B, 96, 96, 3) -> 4 convolutions (stride 2, LeakyReLU; no batch norm, as the
  gradient penalty requires) -> features (B, 6, 6, 512) -> dense -> score (B, 1). It returns
  both the score and the features d(x), which the anomaly score compares.
* encoder: x (B, 96, 96, 3) -> 4 convolutions (stride 2) -> dense -> z (B, 128).
"""

from __future__ import annotations

import keras
from keras import layers

from hscanom.ml.config import WganConfig


def _up(x, filters: int, cfg: WganConfig, name: str):
    """Double the grid: a stride-2 transposed convolution, or nearest upsampling + convolution."""
    if cfg.upsample == "resize":
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
        return layers.Conv2D(filters, cfg.kernel, padding="same", name=name)(x)
    return layers.Conv2DTranspose(filters, cfg.kernel, strides=2, padding="same", name=name)(x)


def build_generator(cfg: WganConfig) -> keras.Model:
    """G: latent (B, latent_dim) -> image (B, size, size, channels) in [0, 1]."""
    side = cfg.image_size // 16
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense(side * side * 8 * cfg.width, name="project")(z)
    x = layers.Reshape((side, side, 8 * cfg.width))(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for i, mult in enumerate((4, 2, 1)):
        x = _up(x, mult * cfg.width, cfg, f"up{i + 1}")
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = _up(x, cfg.channels, cfg, "up4")
    image = layers.Activation("sigmoid", name="image", dtype="float32")(x)
    return keras.Model(z, image, name="generator")


def _conv_stack(x, cfg: WganConfig, prefix: str):
    for i, mult in enumerate((1, 2, 4, 8)):
        x = layers.Conv2D(mult * cfg.width, cfg.kernel, strides=2, padding="same", name=f"{prefix}{i + 1}")(x)
        x = layers.LeakyReLU(0.2)(x)
    return x


def build_critic(cfg: WganConfig) -> keras.Model:
    """d: image (B, size, size, channels) -> [score (B, 1), features (B, size/16, size/16, 8 width)]."""
    image = keras.Input((cfg.image_size, cfg.image_size, cfg.channels), name="image")
    features = _conv_stack(image, cfg, "conv")
    score = layers.Dense(1, name="score", dtype="float32")(layers.Flatten()(features))
    features = layers.Activation("linear", name="features", dtype="float32")(features)
    return keras.Model(image, [score, features], name="critic")


def build_encoder(cfg: WganConfig) -> keras.Model:
    """E: image (B, size, size, channels) -> latent guess (B, latent_dim)."""
    image = keras.Input((cfg.image_size, cfg.image_size, cfg.channels), name="image")
    x = layers.Flatten()(_conv_stack(image, cfg, "enc"))
    z = layers.Dense(cfg.latent_dim, name="z", dtype="float32")(x)
    return keras.Model(image, z, name="encoder")
