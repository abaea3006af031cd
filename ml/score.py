"""Anomaly scores of a batch of images: the computational core of a score run.

For a batch x (B, H, W, C) the scorer takes the encoder's latent guess z0 = E(x), then runs
``score_iterations`` Adam steps on z for the whole batch at once, minimising the anomaly loss
of :mod:`hscanom.ml.losses` (per-object losses are independent, so the gradient of their sum
is each object's own gradient). The raw scores are taken at the final z. With the paper's
definition (``score_radius`` 0, the ``paper`` preset) they are the loss terms themselves:

* ``s_gen``  = sum |x - G(z)|            (pixel term)
* ``s_disc`` = sum |d(x) - d(G(z))|      (critic-feature term)
* ``s_anom`` = (1 - lambda) s_gen + lambda s_disc

with a ``score_radius`` (the ``demo`` preset) they look at the object's central aperture
(:func:`hscanom.ml.losses.score_terms`); the fit of z still minimises the whole-image loss.

The whole optimisation (encoder, every Adam step and the final terms) is one compiled
``tf.function``, traced once per batch shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from hscanom.ml.config import WganConfig
from hscanom.ml.losses import anomaly_terms, score_terms

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-7


@dataclass
class BatchScores:
    """Scores of one batch; arrays of length B, images (B, H, W, C) float32 in [0, 1].

    ``s_disc`` is ``None`` for methods without a feature term (stored as NULL).
    """

    s_gen: np.ndarray
    s_disc: np.ndarray | None
    s_anom: np.ndarray
    reconstruction: np.ndarray
    z: np.ndarray


class Scorer:
    """Scores batches of images with a trained generator, critic and encoder."""

    def __init__(self, cfg: WganConfig, generator, critic, encoder):
        self.cfg, self.generator, self.critic, self.encoder = cfg, generator, critic, encoder

    @tf.function(reduce_retracing=True)
    def _score(self, x):
        cfg = self.cfg
        lam, lr = cfg.lambda_anom, cfg.score_learning_rate
        _, fx = self.critic(x, training=False)
        z = self.encoder(x, training=False)
        m = tf.zeros_like(z)
        v = tf.zeros_like(z)
        for t in range(1, cfg.score_iterations + 1):
            with tf.GradientTape() as tape:
                tape.watch(z)
                rec = self.generator(z, training=False)
                _, fr = self.critic(rec, training=False)
                _, _, loss = anomaly_terms(x, rec, fx, fr, lam)
                total = tf.reduce_sum(loss)
            g = tape.gradient(total, z)
            m = _BETA1 * m + (1.0 - _BETA1) * g
            v = _BETA2 * v + (1.0 - _BETA2) * tf.square(g)
            m_hat = m / (1.0 - _BETA1**t)
            v_hat = v / (1.0 - _BETA2**t)
            z = z - lr * m_hat / (tf.sqrt(v_hat) + _EPS)
        rec = self.generator(z, training=False)
        _, fr = self.critic(rec, training=False)
        s_gen, s_disc, s_anom = score_terms(x, rec, fx, fr, cfg)
        return s_gen, s_disc, s_anom, rec, z

    def __call__(self, images: np.ndarray) -> BatchScores:
        """Score ``images`` (B, H, W, C) float32 in [0, 1]."""
        out = self._score(tf.convert_to_tensor(images, tf.float32))
        s_gen, s_disc, s_anom, rec, z = (t.numpy() for t in out)
        return BatchScores(s_gen.astype(np.float64), s_disc.astype(np.float64), s_anom.astype(np.float64), rec, z)

    def flops_per_image(self) -> float:
        """Floating-point operations of scoring one image (convolutions and dense layers).

        Forward passes: d(x), E(x), then per Adam step G(z) and d(G(z)) and their backward
        pass to z, and a final G and d. The backward pass needs input gradients only (the
        weights are fixed; the compiled graph prunes weight gradients), about one forward
        pass's work per layer.
        """
        g, d, e = (model_flops(m) for m in (self.generator, self.critic, self.encoder))
        return d + e + self.cfg.score_iterations * 2 * (g + d) + (g + d)


def model_flops(model) -> float:
    """Forward-pass multiply-add FLOPs (2 per MAC) of one image through ``model``."""
    total = 0.0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("Conv2D", "Conv2DTranspose"):
            kh, kw, c_in, c_out = layer.kernel.shape
            if kind == "Conv2DTranspose":
                c_in, c_out = c_out, c_in
                h, w = layer.input.shape[1:3]
            else:
                h, w = layer.output.shape[1:3]
            total += 2.0 * kh * kw * c_in * c_out * h * w
        elif kind == "Dense":
            total += 2.0 * np.prod(layer.kernel.shape)
    return total
