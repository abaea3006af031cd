"""The anomaly loss of Storey-Fisher et al., shared by encoder training and scoring.

For an image x and a latent z, with reconstruction G(z) and critic features d(.)::

    s_gen  = sum |x - G(z)|            over the image pixels and channels
    s_disc = sum |d(x) - d(G(z))|      over the critic feature map (6 x 6 x 512)
    L      = (1 - lambda) * s_gen + lambda * s_disc
"""

from __future__ import annotations

import tensorflow as tf


def anomaly_terms(x, reconstruction, features_x, features_rec, lambda_anom: float):
    """Per-object loss terms.

    Args:
        x, reconstruction: images, shape (B, H, W, C), values in [0, 1].
        features_x, features_rec: critic features of both, shape (B, h, w, c).
        lambda_anom: weight of the feature term.

    Returns:
        (s_gen, s_disc, s_anom), each of shape (B,).
    """
    s_gen = tf.reduce_sum(tf.abs(x - reconstruction), axis=[1, 2, 3])
    s_disc = tf.reduce_sum(tf.abs(features_x - features_rec), axis=[1, 2, 3])
    return s_gen, s_disc, (1.0 - lambda_anom) * s_gen + lambda_anom * s_disc


def score_terms(x, reconstruction, features_x, features_rec, cfg):
    """The anomaly scores of a fitted reconstruction, as ``cfg`` defines them.

    With ``cfg.score_radius == 0`` they are :func:`anomaly_terms` (the paper's: sums over the
    whole image and the whole critic feature map). With a radius R > 0 (the ``demo`` preset:
    R = 12 pixels = 2", R_pix = 6 pixels = 1"), for an image centred on its object (as packing
    centres it)::

        s_gen  = sum_{r <= R_pix} |x - G(z)|  +  w * sum_all max(|x - G(z)| - t, 0)
        s_disc = sum over the feature cells whose centres lie within R of the centre of |d(x) - d(G(z))|
        s_anom = (1 - lambda) * s_gen + lambda * s_disc

    with t = ``cfg.artefact_threshold``, w = ``cfg.artefact_weight`` and R_pix =
    ``cfg.pixel_radius`` (``score_pixel_radius``, else R); r is measured from the
    image centre ((H - 1) / 2, (W - 1) / 2), cell centres at (k + 1/2) H / h - 1/2. Why: a
    96 x 96 stamp is ~97% sky, and the sky noise and unrelated neighbours dominate whole-image
    sums, hiding the residual of the object itself (a blue core, clumps, a wrong colour:
    docs/demo-model.md has the measurements); the thresholded term keeps artefacts away from
    the object (satellite trails, cosmic rays) in s_gen.

    Args:
        x, reconstruction: (B, H, W, C) in [0, 1]; features_x, features_rec: (B, h, w, c).
        cfg: :class:`hscanom.ml.config.WganConfig`.

    Returns:
        (s_gen, s_disc, s_anom), each of shape (B,), float32.
    """
    if not cfg.score_radius:
        return anomaly_terms(x, reconstruction, features_x, features_rec, cfg.lambda_anom)
    residual = tf.abs(x - reconstruction)
    pixel_mask = tf.constant(_disc_mask(x.shape[1], x.shape[2], x.shape[1], cfg.pixel_radius)[None, :, :, None])
    cell_mask = tf.constant(_disc_mask(features_x.shape[1], features_x.shape[2], x.shape[1], cfg.score_radius)[None, :, :, None])
    s_gen = tf.reduce_sum(residual * pixel_mask, axis=[1, 2, 3]) + cfg.artefact_weight * tf.reduce_sum(
        tf.nn.relu(residual - cfg.artefact_threshold), axis=[1, 2, 3]
    )
    s_disc = tf.reduce_sum(tf.abs(features_x - features_rec) * cell_mask, axis=[1, 2, 3])
    return s_gen, s_disc, (1.0 - cfg.lambda_anom) * s_gen + cfg.lambda_anom * s_disc


def _disc_mask(h: int, w: int, image_size: int, radius: float):
    """(h, w) float32 mask of the cells of an h x w grid over the image whose centres lie within ``radius`` pixels of its centre."""
    import numpy as np

    cell = image_size / h
    centres_y = (np.arange(h) + 0.5) * cell - 0.5
    centres_x = (np.arange(w) + 0.5) * (image_size / w) - 0.5
    c = (image_size - 1) / 2.0
    inside = (centres_y[:, None] - c) ** 2 + (centres_x[None, :] - c) ** 2 <= radius**2
    return inside.astype("float32")
