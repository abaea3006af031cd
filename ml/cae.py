"""The convolutional autoencoder (CAE) that characterises anomalies (Keras 3).

Storey-Fisher et al. map each high-anomaly object's |residual| image (real minus WGAN
reconstruction) to a 64-d vector with a convolutional autoencoder: 4 convolutional
encoding layers, 4 decoding layers, MSE loss, batch 30, trained until the loss stops
improving. The same network trained on the real images gives the comparison embedding.

Shapes (``width`` w, images S x S x C, S divisible by 16):

* encoder: x (B, S, S, C) -> 4 convolutions (3 x 3, stride 2, ReLU; w, 2w, 4w, 8w
  channels) -> flatten -> dense -> latent (B, 64), linear.
* decoder: latent (B, 64) -> dense (ReLU) -> (S/16, S/16, 8w) -> 4 transposed convolutions
  (3 x 3, stride 2; 4w, 2w, w channels with ReLU, then C with a sigmoid) -> (B, S, S, C).

Training stops early on a held-out split (``patience`` epochs without a lower validation
loss; the best epoch's weights are kept), capped at ``max_epochs``. It is deterministic for
a seed: seeds are set and TensorFlow's deterministic ops are enabled.

A trained CAE's folder holds ``cae.weights.h5`` (the whole autoencoder), ``config.json``
and ``history.json`` (losses per epoch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from hscanom.ml import registry

#: Weight file of a trained CAE, inside its model folder (``registry.WEIGHT_FILES``).
(WEIGHTS,) = registry.WEIGHT_FILES["cae"]

#: Input kinds: |residual| images of a score run, or the real (packed) images.
KINDS = ("residual", "real")

#: Called as ``progress(epoch, max_epochs, {"loss": ..., "val_loss": ...})`` after each epoch.
EpochProgress = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class CaeConfig:
    """Hyper-parameters of one CAE and what it was trained on.

    Attributes:
        image_size: side of the square input images [pixels]; divisible by 16.
        channels: image channels (3 for gri).
        latent_dim: size of the bottleneck vector (64 in the paper).
        width: channels of the first convolution (then 2w, 4w, 8w).
        kernel: convolution kernel side [pixels].
        batch_size: training batch size (30 in the paper).
        learning_rate: Adam learning rate.
        max_epochs: upper bound on training epochs.
        patience: epochs without a lower validation loss before training stops.
        validation_fraction: share of the objects held out for early stopping (at least 1).
        seed: initialisation, split and shuffling seed.
        run_id: the score run whose objects (and residuals) it was trained on.
        kind: ``residual`` (|real - reconstruction|) or ``real`` (the input images).
        sample: name of the sample of objects it was trained on.
        clustering: settings of the clusterings made in this model's latent space (the
            residual CAE's GMM and HDBSCAN); part of the model's identity, so that other
            settings give other ``cluster_label`` rows.
    """

    image_size: int
    channels: int = 3
    latent_dim: int = 64
    width: int = 16
    kernel: int = 3
    batch_size: int = 30
    learning_rate: float = 1e-3
    max_epochs: int = 50
    patience: int = 5
    validation_fraction: float = 0.1
    seed: int = 0
    run_id: int | None = None
    kind: str = "residual"
    sample: str | None = None
    clustering: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image_size % 16:
            raise ValueError(f"image_size must be divisible by 16 (4 stride-2 layers), got {self.image_size}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> "CaeConfig":
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def tag(self) -> str:
        """Short hash of the configuration (names the model folder)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


def build_cae(cfg: CaeConfig) -> keras.Model:
    """The autoencoder (B, S, S, C) -> (B, S, S, C); its layer ``encoder`` gives the latent (B, 64)."""
    side = cfg.image_size // 16
    image = keras.Input((cfg.image_size, cfg.image_size, cfg.channels), name="image")
    x = image
    for i, mult in enumerate((1, 2, 4, 8)):
        x = layers.Conv2D(mult * cfg.width, cfg.kernel, strides=2, padding="same", activation="relu", name=f"enc{i + 1}")(x)
    latent = layers.Dense(cfg.latent_dim, name="latent", dtype="float32")(layers.Flatten()(x))
    encoder = keras.Model(image, latent, name="encoder")

    z = keras.Input((cfg.latent_dim,), name="z")
    y = layers.Dense(side * side * 8 * cfg.width, activation="relu", name="project")(z)
    y = layers.Reshape((side, side, 8 * cfg.width))(y)
    for i, mult in enumerate((4, 2, 1)):
        y = layers.Conv2DTranspose(mult * cfg.width, cfg.kernel, strides=2, padding="same", activation="relu", name=f"dec{i + 1}")(y)
    y = layers.Conv2DTranspose(cfg.channels, cfg.kernel, strides=2, padding="same", activation="sigmoid", name="dec4", dtype="float32")(y)
    decoder = keras.Model(z, y, name="decoder")
    return keras.Model(image, decoder(encoder(image)), name="cae")


@dataclass
class CaeTraining:
    """A finished training.

    Attributes:
        directory: the model folder.
        history: per epoch ``{"epoch": n, "loss": ..., "val_loss": ...}`` (MSE per pixel).
        best_epoch: the epoch whose weights were kept (1-based).
        stopped_early: True when the validation loss stopped improving before ``max_epochs``.
    """

    directory: Path
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool

    def metrics(self, n_train: int, n_val: int) -> dict[str, Any]:
        best = self.history[self.best_epoch - 1] if self.history else {}
        return {
            "history": self.history,
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "best_loss": best.get("loss"),
            "best_val_loss": best.get("val_loss"),
            "stopped_early": self.stopped_early,
            "n_train": n_train,
            "n_val": n_val,
        }


class _EpochCallback(keras.callbacks.Callback):
    def __init__(self, progress: EpochProgress | None, total: int):
        super().__init__()
        self.progress, self.total = progress, total

    def on_epoch_end(self, epoch, logs=None):
        if self.progress:
            self.progress(epoch + 1, self.total, {k: float(v) for k, v in (logs or {}).items()})


def train_cae(cfg: CaeConfig, train, validation, directory: Path, progress: EpochProgress | None = None) -> CaeTraining:
    """Train a CAE on ``train`` with early stopping on ``validation``; write its folder.

    Args:
        train: finite ``tf.data`` dataset of (x, x) batches, x float32 (B, S, S, C) in [0, 1]
            (one pass = one epoch; it should reshuffle on each pass).
        validation: the same for the held-out objects.
        directory: model folder (created; earlier files are replaced).
        progress: called after each epoch.
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)
    model = build_cae(cfg)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate), loss="mse")
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    fit = model.fit(train, validation_data=validation, epochs=cfg.max_epochs, callbacks=[stopper, _EpochCallback(progress, cfg.max_epochs)], shuffle=False, verbose=0)
    losses, val_losses = fit.history.get("loss", []), fit.history.get("val_loss", [])
    history = [{"epoch": i + 1, "loss": float(a), "val_loss": float(b)} for i, (a, b) in enumerate(zip(losses, val_losses))]
    best_epoch = int(np.argmin(val_losses)) + 1 if val_losses else 0
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_weights(directory / WEIGHTS)
    (directory / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, sort_keys=True))
    (directory / "history.json").write_text(json.dumps(history))
    return CaeTraining(directory, history, best_epoch, stopped_early=len(history) < cfg.max_epochs)


def load_encoder(cfg: CaeConfig, directory: Path) -> keras.Model:
    """The encoder (B, S, S, C) -> (B, latent_dim) of a trained CAE folder."""
    model = build_cae(cfg)
    model.load_weights(Path(directory) / WEIGHTS)
    return model.get_layer("encoder")


def config_from_dict(config: dict[str, Any]) -> CaeConfig:
    """The :class:`CaeConfig` stored in a ``model`` row."""
    return CaeConfig(**config)
