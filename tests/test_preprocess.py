"""The shared preprocessing equals astropy's make_lupton_rgb (stretch 0.5, Q 15, minimum 0)."""

import subprocess
import sys

import numpy as np
import pytest
from astropy.visualization import make_lupton_rgb

from hscanom.ml.preprocess import lupton_rgb, preprocess, preprocess_gri, to_uint8

PARAMS = dict(stretch=0.5, Q=15, minimum=0)


def _bands(n=4, size=48, seed=0, dtype=np.float64):
    """Noisy sky (counts) with a few bright, coloured sources, including saturating ones."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    out = []
    for scale in (0.6, 1.0, 1.4):  # g, r, i
        img = rng.normal(0.0, 0.08, (n, size, size))
        for k in range(n):
            cx, cy = rng.uniform(10, size - 10, 2)
            img[k] += scale * rng.uniform(5, 3000) * np.exp(-0.5 * ((x - cx) ** 2 + (y - cy) ** 2) / 4.0) / (8 * np.pi)
        out.append(img.astype(dtype))
    return out


def test_float_equals_astropy_per_image():
    g, r, i = _bands()
    ours = lupton_rgb(g, r, i, dtype=np.float64)
    ours32 = lupton_rgb(g, r, i)
    assert ours32.dtype == np.float32 and ours32.shape == g.shape + (3,)
    for k in range(g.shape[0]):
        ref = make_lupton_rgb(i[k], r[k], g[k], output_dtype=float, **PARAMS)
        np.testing.assert_allclose(ours[k], ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours32[k], ref, rtol=0, atol=1e-6)


def test_preprocess_is_astropy_uint8_over_255():
    g, r, i = _bands(seed=1)
    out = preprocess(g, r, i)
    assert out.dtype == np.float32
    for k in range(g.shape[0]):
        ref = make_lupton_rgb(i[k], r[k], g[k], **PARAMS)
        assert ref.dtype == np.uint8
        np.testing.assert_array_equal(to_uint8(out[k]), ref)
        np.testing.assert_allclose(out[k], ref / 255.0, atol=1e-7)


def test_float32_input_within_one_level():
    g, r, i = _bands(seed=2, dtype=np.float32)
    out = to_uint8(preprocess(g, r, i)).astype(int)
    for k in range(g.shape[0]):
        ref = make_lupton_rgb(i[k], r[k], g[k], **PARAMS).astype(int)
        assert np.abs(out[k] - ref).max() <= 1


def test_batch_equals_single_images():
    g, r, i = _bands(seed=3)
    batch = preprocess(g, r, i)
    for k in range(g.shape[0]):
        np.testing.assert_array_equal(batch[k], preprocess(g[k], r[k], i[k]))


def test_range_and_quantisation():
    g, r, i = _bands(seed=4)
    out = preprocess(g, r, i)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() == 1.0  # the bright sources saturate
    levels = out.astype(np.float64) * 255.0
    np.testing.assert_allclose(levels, np.rint(levels), atol=1e-4)


def test_zero_image_gives_zeros():
    zero = np.zeros((2, 16, 16))
    out = preprocess(zero, zero, zero)
    assert np.all(out == 0.0) and not np.isnan(out).any()
    assert not np.isnan(lupton_rgb(zero, zero, zero)).any()


def test_nan_and_inf_pixels_count_as_zero():
    g, r, i = _bands(n=1, seed=5)
    bad = g.copy()
    bad[0, 10, 11] = np.nan
    bad[0, 20, 21] = np.inf
    out = preprocess(bad, r, i)
    assert np.isfinite(out).all()
    fixed = g.copy()
    fixed[0, 10, 11] = 0.0
    fixed[0, 20, 21] = 0.0
    np.testing.assert_array_equal(out, preprocess(fixed, r, i))


def test_band_stacked_layouts():
    g, r, i = _bands(seed=6)
    expected = preprocess(g, r, i)
    np.testing.assert_array_equal(preprocess_gri(np.stack([g, r, i], axis=-1)), expected)
    np.testing.assert_array_equal(preprocess_gri(np.stack([g, r, i], axis=1), band_axis=1), expected)
    np.testing.assert_array_equal(preprocess_gri(np.stack([g[0], r[0], i[0]]), band_axis=0), expected[0])


def test_bad_input_is_refused():
    a = np.zeros((8, 8))
    with pytest.raises(ValueError, match="shapes differ"):
        preprocess(a, a, np.zeros((8, 9)))
    with pytest.raises(ValueError, match="3 bands"):
        preprocess_gri(np.zeros((8, 8, 4)))
    with pytest.raises(ValueError, match="stretch"):
        preprocess(a, a, a, stretch=0)


def test_does_not_import_tensorflow():
    code = "import sys, hscanom.ml.preprocess; sys.exit(1 if 'tensorflow' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
