"""HSC Wide survey and instrument numbers used by the simulator, and photometric conversions.

Units: magnitudes are AB; "counts" are HSC coadd pixel values, calibrated to a zero point of
27.0 AB mag (``FLUXMAG0 = 10**(0.4 * 27)``), so ``counts = 10**(-0.4 * (mag - 27))``; catalog
fluxes are in nJy, ``flux_nJy = 10**(-0.4 * (mag - 31.4))``. Angles are in arcsec unless
stated otherwise.
"""

from __future__ import annotations

import numpy as np

from hscanom.schema.columns import BANDS

#: Coadd pixel scale, arcsec per pixel.
PIXEL_SCALE: float = 0.168
#: Photometric zero point of coadd pixel values (AB mag of one count).
ZERO_POINT: float = 27.0
#: AB magnitude of 1 nJy.
NJY_ZERO_POINT: float = 31.4
#: Side of a simulated cutout, pixels.
CUTOUT_SIZE: int = 128

#: Cutout service filter names.
FILTER_NAMES: dict[str, str] = {b: f"HSC-{b.upper()}" for b in BANDS}

#: Median PSF FWHM of HSC Wide coadds per band, arcsec.
PSF_FWHM: dict[str, float] = {"g": 0.75, "r": 0.70, "i": 0.60, "z": 0.65, "y": 0.68}
#: Moffat index of the PSF model.
PSF_BETA: float = 3.0
#: 5-sigma point-source depth of HSC Wide (full depth), AB mag.
DEPTH_5SIGMA: dict[str, float] = {"g": 26.5, "r": 26.1, "i": 25.9, "z": 25.1, "y": 24.4}
#: Dark-sky surface brightness before background subtraction, AB mag / arcsec^2; sets the
#: effective gain, i.e. how much source photon noise adds to the sky noise.
SKY_BRIGHTNESS: dict[str, float] = {"g": 22.0, "r": 21.2, "i": 20.4, "z": 19.5, "y": 18.9}
#: A_band / E(B-V) for the HSC filters (Schlafly & Finkbeiner 2011 coefficients).
EXTINCTION_COEFF: dict[str, float] = {"g": 3.240, "r": 2.276, "i": 1.633, "z": 1.263, "y": 1.075}
#: Coadd pixel value above which a pixel is flagged SAT (and INTRP) and clipped, counts.
SATURATION_COUNTS: float = 450.0
#: Typical number of visits per band in HSC Wide (g, r: 4 x 150 s; i, z, y: 6 x 200 s).
NOMINAL_VISITS: dict[str, int] = {"g": 4, "r": 4, "i": 6, "z": 6, "y": 6}

#: Pixel values per nJy: 1 count is ``10**(0.4 * (31.4 - 27))`` nJy.
NJY_PER_COUNT: float = 10.0 ** (0.4 * (NJY_ZERO_POINT - ZERO_POINT))


def mag_to_counts(mag):
    """AB magnitude -> coadd counts (zero point 27)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - ZERO_POINT))


def counts_to_mag(counts):
    """Coadd counts -> AB magnitude; NaN for non-positive counts."""
    counts = np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, ZERO_POINT - 2.5 * np.log10(counts), np.nan)


def mag_to_njy(mag):
    """AB magnitude -> flux in nJy."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - NJY_ZERO_POINT))


def moffat_alpha(fwhm: float, beta: float = PSF_BETA) -> float:
    """Moffat scale radius (same unit as ``fwhm``)."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def psf_effective_pixels(fwhm: float, beta: float = PSF_BETA) -> float:
    """Noise-equivalent area ``1 / sum(P**2)`` of a Moffat PSF, in pixels.

    Args:
        fwhm: PSF FWHM, arcsec.
        beta: Moffat index.
    """
    alpha_pix = moffat_alpha(fwhm, beta) / PIXEL_SCALE
    return float(np.pi * alpha_pix**2 * (2.0 * beta - 1.0) / (beta - 1.0) ** 2)


def sky_sigma(band: str) -> float:
    """Sky noise per pixel (counts) that gives the nominal 5-sigma point-source depth.

    A PSF-fit flux has error ``sigma_pix * sqrt(n_eff)``; ``n_eff`` is the PSF noise-equivalent
    area at the nominal seeing.
    """
    five_sigma_counts = mag_to_counts(DEPTH_5SIGMA[band])
    return float(five_sigma_counts / (5.0 * np.sqrt(psf_effective_pixels(PSF_FWHM[band]))))


def effective_gain(band: str) -> float:
    """Counts^-1: source photon-noise variance is ``counts / effective_gain``.

    Chosen so that the (subtracted) sky level gives the sky noise of :func:`sky_sigma`.
    """
    sky_counts = mag_to_counts(SKY_BRIGHTNESS[band]) * PIXEL_SCALE**2
    return float(sky_counts / sky_sigma(band) ** 2)
