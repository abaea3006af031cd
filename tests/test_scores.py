"""The score definitions of ml/losses.py against hand-computed cases, and the demo generator."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hscanom.ml.config import WganConfig, preset
from hscanom.ml.losses import anomaly_terms, score_terms
from hscanom.ml.networks import build_generator


def _terms(cfg, x, rec, fx, fr):
    return [t.numpy() for t in score_terms(tf.constant(x), tf.constant(rec), tf.constant(fx), tf.constant(fr), cfg)]


def test_radius_zero_is_the_papers_whole_image_score():
    rng = np.random.default_rng(0)
    x, rec = rng.uniform(size=(2, 2, 32, 32, 3)).astype(np.float32)
    fx, fr = rng.normal(size=(2, 2, 2, 2, 8)).astype(np.float32)
    cfg = WganConfig(image_size=32, width=1)
    got = _terms(cfg, x, rec, fx, fr)
    want = [t.numpy() for t in anomaly_terms(x, rec, fx, fr, cfg.lambda_anom)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got[0], np.abs(x - rec).sum((1, 2, 3)), rtol=1e-5)


@pytest.mark.parametrize("pixel_radius", [6.0, 0.0])
def test_aperture_scores_by_hand(pixel_radius):
    """96-pixel image, R = 12 (critic cells) and R_pix = 6 (the demo's) or 12 (0: the same).

    Centre (47.5, 47.5); feature cells 16 px, centres 7.5, 23.5, ... 87.5.
    """
    cfg = preset("demo", score_pixel_radius=pixel_radius)
    assert cfg.score_radius == 12 and cfg.artefact_threshold == 0.3 and cfg.artefact_weight == 0.1
    assert preset("demo").pixel_radius == 6.0 and cfg.pixel_radius == (pixel_radius or 12.0)
    x = np.zeros((1, 96, 96, 3), np.float32)
    rec = np.zeros_like(x)
    rec[0, 47, 47, 0] = 0.2   # inside the aperture, below the threshold: counts 0.2
    rec[0, 47, 53, 1] = 0.3   # distance 5.5: inside both: 0.3
    rec[0, 47, 59, 1] = 0.25  # distance 11.5: inside R = 12 only: 0.25 there, else 0
    rec[0, 47, 61, 1] = 0.25  # distance 13.5: outside and below the threshold: 0
    rec[0, 5, 5, 2] = 0.8     # far outside, above the threshold: 0.1 * (0.8 - 0.3) = 0.05
    rec[0, 50, 50, 2] = 0.5   # inside and above: 0.5 + 0.1 * 0.2 = 0.52
    fx = np.zeros((1, 6, 6, 4), np.float32)
    fr = np.zeros_like(fx)
    fr[0, 2, 3, 0] = 1.0   # cell centre (39.5, 55.5): distance 11.3, inside
    fr[0, 3, 3, 1] = -2.0  # inside
    fr[0, 1, 2, 2] = 5.0   # cell centre (23.5, 39.5): distance 25.3, outside
    s_gen, s_disc, s_anom = _terms(cfg, x, rec, fx, fr)
    assert s_gen[0] == pytest.approx(0.2 + 0.3 + (0.25 if cfg.pixel_radius == 12 else 0.0) + 0.05 + 0.52, abs=1e-5)
    assert s_disc[0] == pytest.approx(3.0, abs=1e-6)
    assert s_anom[0] == pytest.approx(0.7 * s_gen[0] + 0.3 * 3.0, abs=1e-5)


def test_config_refuses_unknown_choices():
    with pytest.raises(ValueError, match="upsample"):
        WganConfig(upsample="bilinear")
    with pytest.raises(ValueError, match="precision"):
        WganConfig(precision="float16")
    with pytest.raises(ValueError, match="score_pixel_radius needs a score_radius"):
        WganConfig(score_pixel_radius=6.0)


def test_demo_generator_upsamples_without_transposed_convolutions():
    cfg = preset("demo", width=2)
    generator = build_generator(cfg)
    kinds = {type(layer).__name__ for layer in generator.layers}
    assert "Conv2DTranspose" not in kinds and "UpSampling2D" in kinds
    assert generator.output_shape == (None, 96, 96, 3)
    paper = build_generator(preset("paper", width=2))
    assert "Conv2DTranspose" in {type(layer).__name__ for layer in paper.layers}
