"""The one image preprocessing of hscanom: g, r, i flux images to an RGB image in [0, 1].

Training, scoring and rendering all call :func:`preprocess` (or :func:`preprocess_gri` for
band-stacked arrays), so a model always sees exactly the pixels a person sees.

A foundation module (docs/architecture.md): pure numpy, importable from every layer --
packing (``ingest``), the simulator, releases and the explorer use it without importing
``hscanom.ml``. ``hscanom.ml.preprocess`` re-exports it under its historical name (packings
record ``hscanom.ml.preprocess.preprocess`` as their function, see :data:`RECORDED_NAME`).

Method (Storey-Fisher et al. 2021, MNRAS 508, 2946; docs/architecture.md): the Lupton et al. (2004) asinh colour mapping with
``stretch = 0.5``, ``Q = 15`` and ``minimum = 0``, red = i, green = r, blue = g. The arithmetic
is that of :func:`astropy.visualization.make_lupton_rgb` (astropy >= 6.1, class
``RGBImageMappingLupton``), written out here so that it runs on a whole batch ``(N, H, W)`` at
once:

1. ``x_b = band_b - minimum`` for each band;
2. intensity ``I = (R + G + B) / 3``;
3. stretched intensity ``f(I) = asinh(I * Q / stretch) * frac / asinh(frac * Q)``, ``frac = 0.1``;
4. ``X_b = max(x_b * f(I) / I, 0)`` (``0`` where ``I <= 0``);
5. where ``max(R, G, B) > 1`` all three channels are divided by that maximum (colour-preserving
   saturation), so every channel lies in ``[0, 1]``.

Scaling to ``[0, 1]``: the original code (kstoreyf/anomalies-GAN-HSC, ``gans/tflib/datautils.py``,
``DataGenerator.process_image``) took the 8-bit ``make_lupton_rgb`` image and divided it by 255,
i.e. the per-image Lupton mapping above (step 5 bounds each image to ``[0, 1]``) followed by 8-bit
quantisation. :func:`preprocess` does the same: ``floor(255 * X) / 255``. There is deliberately
no division by each image's own maximum: that would blow the noise of an empty cutout up to full
brightness and erase the absolute surface-brightness information (bright-star halos, empty
fields) that makes such cutouts anomalous.

Non-finite input pixels (NaN, +-inf: e.g. ``NO_DATA`` pixels of a cutout) are replaced by 0, the
sky level of a background-subtracted coadd, in that band before the mapping; they come out black
(or coloured only by the other bands), never NaN. An all-zero image maps to all zeros.

This module is pure numpy and must not import tensorflow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "RECORDED_NAME",
    "LUPTON_MINIMUM",
    "LUPTON_Q",
    "LUPTON_STRETCH",
    "lupton_rgb",
    "preprocess",
    "preprocess_gri",
    "to_uint8",
]

#: Linear stretch of the asinh mapping, in image flux units (HSC coadd counts, zero point 27).
LUPTON_STRETCH: float = 0.5
#: Asinh softening parameter.
LUPTON_Q: float = 15.0
#: Flux mapped to black, in image flux units.
LUPTON_MINIMUM: float = 0.0

#: The name packings record for :func:`preprocess` (``pack_config()['preprocessing']['function']``,
#: part of each packing's key): the module it was first defined in, kept so that existing
#: packings keep their key now that the function lives here.
RECORDED_NAME = "hscanom.ml.preprocess.preprocess"

_FRAC = 0.1  # astropy LuptonAsinhStretch: the slope is fixed by f(frac * stretch)
_UINT8_MAX = 255.0


def _validated_q(Q: float) -> float:
    """Clamp ``Q`` exactly as astropy's ``LuptonAsinhStretch`` does."""
    if Q < 0:
        raise ValueError(f"Q must be non-negative, got {Q!r}")
    if abs(Q) < 1.0 / 2**23:
        return 0.1
    return min(float(Q), 1e10)


def _minima(minimum: float | Sequence[float]) -> tuple[float, float, float]:
    """Return the per-band minima in (g, r, i) order."""
    values = np.atleast_1d(np.asarray(minimum, dtype=np.float64))
    if values.size == 1:
        return (float(values[0]),) * 3
    if values.size != 3:
        raise ValueError(f"minimum must be a scalar or 3 values (g, r, i), got {values.size}")
    return float(values[0]), float(values[1]), float(values[2])


def _lupton_float64(g, r, i, stretch: float, Q: float, minimum) -> np.ndarray:
    """Lupton RGB in float64, shape ``g.shape + (3,)``; see the module docstring."""
    g = np.asarray(g)
    r = np.asarray(r)
    i = np.asarray(i)
    if not (g.shape == r.shape == i.shape):
        raise ValueError(f"band shapes differ: g {g.shape}, r {r.shape}, i {i.shape}")
    if g.ndim not in (2, 3):
        raise ValueError(f"bands must be (H, W) or (N, H, W) arrays, got shape {g.shape}")
    if stretch <= 0:
        raise ValueError(f"stretch must be positive, got {stretch!r}")
    Q = _validated_q(Q)
    min_g, min_r, min_i = _minima(minimum)

    # Channel order R, G, B = i, r, g, as make_lupton_rgb(image_r=i, image_g=r, image_b=g).
    rgb = np.empty((3,) + g.shape, dtype=np.float64)
    for channel, (band, band_min) in enumerate(((i, min_i), (r, min_r), (g, min_g))):
        band = np.asarray(band, dtype=np.float64)
        np.subtract(np.where(np.isfinite(band), band, 0.0), band_min, out=rgb[channel])

    intensity = (rgb[0] + rgb[1] + rgb[2]) / 3.0
    stretched = intensity * (Q / float(stretch))
    np.arcsinh(stretched, out=stretched)
    stretched *= _FRAC / np.arcsinh(_FRAC * Q)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(intensity <= 0, 0.0, np.true_divide(stretched, intensity))
    rgb *= factor
    rgb = np.clip(rgb, 0.0, None)
    max_rgb = np.max(rgb, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rgb = np.where(max_rgb > 1.0, np.true_divide(rgb, max_rgb), rgb)
    return np.moveaxis(rgb, 0, -1)


def lupton_rgb(
    g,
    r,
    i,
    *,
    stretch: float = LUPTON_STRETCH,
    Q: float = LUPTON_Q,
    minimum: float | Sequence[float] = LUPTON_MINIMUM,
    dtype=np.float32,
) -> np.ndarray:
    """Lupton et al. (2004) asinh colour image of g, r, i flux images, unquantised.

    Equal (to float precision) to ``make_lupton_rgb(i, r, g, stretch=stretch, Q=Q,
    minimum=minimum, output_dtype=float)`` of astropy, applied image by image.

    Args:
        g, r, i: flux images in the same linear units (HSC coadd counts, zero point 27 AB mag),
            each of shape ``(H, W)`` or ``(N, H, W)``. Non-finite pixels count as 0.
        stretch: linear stretch, in flux units.
        Q: asinh softening parameter.
        minimum: flux mapped to black: a scalar or three values in (g, r, i) order.
        dtype: floating dtype of the result.

    Returns:
        Array of shape ``g.shape + (3,)``, channels (R, G, B) = (i, r, g), values in ``[0, 1]``.
    """
    return _lupton_float64(g, r, i, stretch, Q, minimum).astype(dtype, copy=False)


def to_uint8(rgb) -> np.ndarray:
    """Map an RGB image with values in ``[0, 1]`` to 8 bits (nearest level, clipped).

    Use it to render the output of :func:`preprocess`, a reconstruction or a residual:
    ``to_uint8(preprocess(g, r, i))`` is exactly the 8-bit image of astropy's
    ``make_lupton_rgb(i, r, g, stretch=0.5, Q=15, minimum=0)``.

    Args:
        rgb: float array of any shape, nominally in ``[0, 1]``; NaN maps to 0.

    Returns:
        ``uint8`` array of the same shape.
    """
    values = np.nan_to_num(np.asarray(rgb, dtype=np.float64), nan=0.0)
    return np.rint(np.clip(values, 0.0, 1.0) * _UINT8_MAX).astype(np.uint8)


def preprocess(
    g,
    r,
    i,
    *,
    stretch: float = LUPTON_STRETCH,
    Q: float = LUPTON_Q,
    minimum: float | Sequence[float] = LUPTON_MINIMUM,
) -> np.ndarray:
    """The hscanom preprocessing: 8-bit Lupton RGB of g, r, i, scaled to ``[0, 1]``.

    ``preprocess(g, r, i) == make_lupton_rgb(i, r, g, stretch=0.5, Q=15, minimum=0) / 255``
    for each image, as in the original training and scoring code.

    Args:
        g, r, i: flux images (HSC coadd counts), each ``(H, W)`` or ``(N, H, W)``; non-finite
            pixels count as 0.
        stretch, Q, minimum: as in :func:`lupton_rgb`; keep the defaults (the paper's).

    Returns:
        ``float32`` array of shape ``g.shape + (3,)``, channels (R, G, B) = (i, r, g), values
        ``k / 255`` for integer ``k`` in ``[0, 255]``.
    """
    rgb = _lupton_float64(g, r, i, stretch, Q, minimum)
    rgb *= _UINT8_MAX
    quantised = rgb.astype(np.uint8)  # truncation, as astropy's 8-bit output
    return (quantised.astype(np.float32) / np.float32(_UINT8_MAX)).astype(np.float32)


def preprocess_gri(images, *, band_axis: int = -1) -> np.ndarray:
    """:func:`preprocess` for band-stacked arrays in (g, r, i) order.

    Args:
        images: array of shape ``(H, W, 3)`` / ``(N, H, W, 3)`` (``band_axis=-1``) or
            ``(3, H, W)`` / ``(N, 3, H, W)`` (``band_axis=0`` / ``1``), bands g, r, i.
        band_axis: axis that holds the three bands.

    Returns:
        ``float32`` array ``(H, W, 3)`` or ``(N, H, W, 3)``, channels (R, G, B) = (i, r, g).
    """
    images = np.asarray(images)
    if images.shape[band_axis] != 3:
        raise ValueError(f"axis {band_axis} must hold the 3 bands g, r, i; shape is {images.shape}")
    g, r, i = np.moveaxis(images, band_axis, 0)
    return preprocess(g, r, i)
