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
