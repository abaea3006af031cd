"""Catalog measurements made on noiseless model images, so catalog and pixels agree.

Images are 2-d float arrays in counts; positions in pixels (0-based).
"""

from __future__ import annotations

import numpy as np

from hscanom.simulate.survey import PIXEL_SCALE

#: Target PSF FWHM of ``convolvedflux_3_20`` (seeing index 3: 8 pixels), arcsec.
CONVOLVED_FWHM: float = 8.0 * PIXEL_SCALE
#: Aperture radius of ``convolvedflux_3_20``, arcsec.
CONVOLVED_APERTURE: float = 2.0
#: Annulus of the local background measurement, pixels (HSC base_LocalBackground).
LOCAL_BACKGROUND_ANNULUS: tuple[float, float] = (7.0, 15.0)


def radius_map(shape: tuple[int, int], x0: float, y0: float) -> np.ndarray:
    """Distance of every pixel centre from (x0, y0), pixels."""
    j, i = np.indices(shape)
    return np.hypot(i - x0, j - y0)


def psf_flux(model: np.ndarray, psf: np.ndarray) -> float:
    """PSF-fit flux ``sum(M P) / sum(P^2)`` of a noiseless image ``model`` with unit-flux PSF image ``psf``."""
    return float(np.sum(model * psf) / np.sum(psf * psf))


def noise_equivalent_pixels(model: np.ndarray) -> float:
    """Noise-equivalent area ``(sum M)^2 / sum(M^2)`` of an optimally weighted flux, pixels."""
    return float(np.sum(model) ** 2 / np.sum(model * model))


def blendedness(model: np.ndarray, others: np.ndarray) -> float:
    """HSC blendedness ``1 - flux(child) / flux(parent)``, both weighted by the child's profile.

    Args:
        model: noiseless image of the object alone.
        others: noiseless image of everything else in the same pixels.
    """
    child = float(np.sum(model * model))
    parent = child + float(np.sum(model * np.clip(others, 0.0, None)))
    return 1.0 - child / parent


def aperture_flux(image: np.ndarray, x0: float, y0: float, radius_pix: float) -> float:
    """Sum of ``image`` within ``radius_pix`` of (x0, y0) (pixel centres)."""
    return float(np.sum(image[radius_map(image.shape, x0, y0) < radius_pix]))


def annulus_mean(image: np.ndarray, x0: float, y0: float, inner: float, outer: float) -> float:
    """Mean of ``image`` in the annulus ``inner <= r < outer`` pixels around (x0, y0)."""
    r = radius_map(image.shape, x0, y0)
    return float(np.mean(image[(r >= inner) & (r < outer)]))
