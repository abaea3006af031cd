"""Small HSC-like cutout files for tests and benchmarks.

:func:`write_hsc_cutout` writes a FITS file laid out as the HSC cutout service returns it:
an empty primary HDU carrying the ``FILTER`` keyword (``'HSC-I'``, ...), then ``IMAGE``
(float32 flux), ``MASK`` (int32 bit planes) and ``VARIANCE`` (float32) extensions that share
one TAN WCS at 0.168 arcsec/pixel. The image holds a circular Gaussian blob at a chosen sky
position on top of Gaussian sky noise.

As in real cutouts, the WCS may be the one of the whole tract (``tract_centre``): the
reference pixel then lies far outside the cutout, so code must use the WCS, not assume
that the cutout centre is ``CRVAL``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

#: HSC pixel scale [arcsec / pixel].
PIXEL_SCALE = 0.168

#: Mask bit planes written into the ``MASK`` header (a subset of the HSC ones).
MASK_PLANES = {"BAD": 0, "SAT": 1, "INTRP": 2, "CR": 3, "EDGE": 4, "DETECTED": 5, "BRIGHT_OBJECT": 9}


def tan_wcs(crval: tuple[float, float], crpix: tuple[float, float]) -> WCS:
    """A TAN WCS at the HSC pixel scale, north up, east left.

    Args:
        crval: (ra, dec) of the reference point [deg].
        crpix: (x, y) of the reference point, 1-based FITS pixel coordinates.
    """
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(crval)
    w.wcs.crpix = list(crpix)
    w.wcs.cd = np.array([[-PIXEL_SCALE / 3600.0, 0.0], [0.0, PIXEL_SCALE / 3600.0]])
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    return w


def write_hsc_cutout(
    path: str | Path,
    *,
    ra: float,
    dec: float,
    band: str,
    shape: tuple[int, int] = (64, 64),
    blob: tuple[float, float] | None = None,
    flux: float = 500.0,
    sigma_pix: float = 2.0,
    noise: float = 0.05,
    seed: int = 0,
    tract_centre: tuple[float, float] | None = None,
    filter_keyword: bool = True,
    edit=None,
) -> Path:
    """Write one HSC-like FITS cutout and return its path.

    Args:
        path: file to write (overwritten).
        ra, dec: sky position of the cutout's central pixel [deg].
        band: one of ``grizy``; written as ``FILTER = 'HSC-<BAND>'`` in the primary header.
        shape: (ny, nx) of the image [pixels].
        blob: (ra, dec) of the Gaussian blob [deg] (default: the cutout centre).
        flux: total flux of the blob [image units].
        sigma_pix: Gaussian sigma of the blob [pixels].
        noise: standard deviation of the sky noise [image units per pixel].
        seed: seed of the noise.
        tract_centre: (ra, dec) of the WCS reference point [deg]; default the cutout centre.
        filter_keyword: write ``FILTER`` into the primary header (False: band only in the name).
        edit: called with the float32 IMAGE array before it is written (to plant NaN, inf ...).
    """
    path = Path(path)
    ny, nx = shape
    centre_pix = ((nx - 1) / 2.0, (ny - 1) / 2.0)  # 0-based
    if tract_centre is None:
        wcs = tan_wcs((ra, dec), (centre_pix[0] + 1, centre_pix[1] + 1))
    else:
        # Put the reference point where it must be so that the centre pixel sees (ra, dec).
        probe = tan_wcs(tract_centre, (0.0, 0.0))
        x0, y0 = probe.world_to_pixel_values(ra, dec)
        wcs = tan_wcs(tract_centre, (centre_pix[0] - float(x0), centre_pix[1] - float(y0)))
    bx, by = wcs.world_to_pixel_values(*(blob or (ra, dec)))
    yy, xx = np.mgrid[0:ny, 0:nx]
    profile = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * sigma_pix**2)) / (2 * np.pi * sigma_pix**2)
    rng = np.random.default_rng(seed)
    image = (flux * profile + rng.normal(0.0, noise, shape)).astype(np.float32)
    variance = np.full(shape, noise**2, np.float32) + np.float32(0.01) * np.abs(image)
    if edit is not None:
        edit(image)
    mask = np.zeros(shape, np.int32)
    mask[profile > profile.max() * 0.05] |= 1 << MASK_PLANES["DETECTED"]

    primary = fits.PrimaryHDU()
    if filter_keyword:
        primary.header["FILTER"] = (f"HSC-{band.upper()}", "Filter name")
    primary.header["FLUXMAG0"] = (10 ** (27 / 2.5), "Flux of a 0-magnitude source")
    header = wcs.to_header()
    image_hdu = fits.ImageHDU(image, header=header, name="IMAGE")
    mask_hdu = fits.ImageHDU(mask, header=header, name="MASK")
    for plane, bit in MASK_PLANES.items():
        key = f"MP_{plane}"
        mask_hdu.header[key if len(key) <= 8 else f"HIERARCH {key}"] = bit
    var_hdu = fits.ImageHDU(variance, header=header, name="VARIANCE")
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary, image_hdu, mask_hdu, var_hdu]).writeto(path, overwrite=True)
    return path


def write_rgb_png(path: str | Path, *, size: int = 96, seed: int = 0) -> Path:
    """Write a pre-rendered size x size RGB PNG (a blob on noise) and return its path."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    blob = np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (2 * 6.0**2))
    rgb = np.clip(blob[..., None] * [200, 160, 120] + rng.normal(10, 3, (size, size, 3)), 0, 255)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb.astype(np.uint8), "RGB").save(path)
    return path


def write_object_cutouts(
    directory: str | Path,
    object_id: int | None,
    *,
    ra: float,
    dec: float,
    bands: str = "gri",
    seed: int = 0,
    name: str | None = None,
    flux: float = 300.0,
    **kwargs,
) -> dict[str, Path]:
    """Write one FITS cutout per band of an object, named like the HSC cutout service output.

    Files are ``<object_id>_HSC-<BAND>.fits`` or, with ``object_id=None`` (matched by WCS
    only), ``<name or 'cutout'>-HSC-<BAND>-<ra>-<dec>.fits``. Band fluxes rise from g to i.
    Extra keyword arguments go to :func:`write_hsc_cutout`; returns band -> path.
    """
    directory = Path(directory)
    out = {}
    for k, band in enumerate(bands):
        stem = f"{object_id}_HSC-{band.upper()}" if object_id is not None else f"{name or 'cutout'}-HSC-{band.upper()}-{ra:.5f}-{dec:.5f}"
        out[band] = write_hsc_cutout(
            directory / f"{stem}.fits", ra=ra, dec=dec, band=band, flux=flux * (1.0 + 0.3 * k), seed=seed * 10 + k, **kwargs
        )
    return out
