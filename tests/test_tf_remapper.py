"""TensorFlow's 'remapper failed: INVALID_ARGUMENT ... LeakyReluGrad ... BiasAdd' log line is
harmless: Grappler's remapper declines to fuse Conv2D + BiasAdd + LeakyReLU where the
gradient tape also reads the BiasAdd output, and the graph runs unfused. Scores and training
steps are the same with the remapper switched off."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from hscanom.ml.config import preset
from hscanom.ml.networks import build_encoder
from hscanom.ml.score import Scorer
from hscanom.ml.train import WganTrainer


def _score_and_train(tmp_path, name: str):
    cfg = preset("test", image_size=32, seed=1)
    trainer = WganTrainer(cfg, tmp_path / name)
    tf.keras.utils.set_random_seed(2)
    encoder = build_encoder(cfg)
    x = np.random.default_rng(0).uniform(size=(cfg.batch_size, 32, 32, 3)).astype(np.float32)
    scores = Scorer(cfg, trainer.generator, trainer.critic, encoder)(x)
    losses = [float(trainer.train_iteration(tf.convert_to_tensor(np.stack([x] * cfg.n_critic)))["d_loss"]) for _ in range(2)]
    return scores, losses


def test_scores_and_training_do_not_depend_on_the_remapper(tmp_path):
    before = tf.config.optimizer.get_experimental_options()
    try:
        tf.config.optimizer.set_experimental_options({"remapping": True})
        on, losses_on = _score_and_train(tmp_path, "on")
        tf.config.optimizer.set_experimental_options({"remapping": False})
        off, losses_off = _score_and_train(tmp_path, "off")
    finally:
        tf.config.optimizer.set_experimental_options({"remapping": before.get("remapping", True)})
    np.testing.assert_allclose(on.s_gen, off.s_gen, rtol=1e-5)
    np.testing.assert_allclose(on.s_disc, off.s_disc, rtol=1e-5)
    np.testing.assert_allclose(on.reconstruction, off.reconstruction, atol=1e-5)
    np.testing.assert_allclose(losses_on, losses_off, rtol=1e-5)
