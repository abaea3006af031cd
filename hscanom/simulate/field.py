"""Sky geometry of a simulated field: footprint, HSC-like tracts and patches, WCS, object ids.

The tract layout is a simplified HSC "rings" sky map: rings of 1.5 deg in declination, each cut
into tracts of about 1.48 deg in right ascension and numbered so that the field (RA ~130 deg,
Dec 0-1.5 deg, near GAMA09H) gets tract numbers of the real Wide layout (~9556-9565). Each tract
has its own TAN projection (north up, east left, 0.168"/pixel) centred on the tract, 36000 x 36000
pixels cut into 9 x 9 patches of 4000 pixels. Object ids are encoded as in HSC PDR2:
``tract << 42 | patch_x << 37 | patch_y << 32 | serial``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hscanom.simulate.survey import CUTOUT_SIZE, PIXEL_SCALE

#: Galaxies per deg^2 passing the paper's cuts (942,782 over ~1,100 deg^2 of PDR2 Wide).
SAMPLE_DENSITY: float = 850.0

RING_HEIGHT_DEG: float = 1.5
TRACT_WIDTH_DEG: float = 1.48
#: Number of the first tract (RA = 0) of ring 0 (Dec 0 to 1.5 deg).
RING0_FIRST_TRACT: int = 9470
TRACT_PIXELS: int = 36000
PATCH_PIXELS: int = 4000
#: 1-based reference pixel of every tract WCS.
TRACT_CRPIX: float = 18000.0
_MAX_RING = 58  # |Dec| < 87.75 deg


def _ring_center(k):
    return 0.75 + RING_HEIGHT_DEG * np.asarray(k)


@lru_cache(maxsize=1)
def _ring_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring index, number of tracts and first tract id of every ring."""
    rings = np.arange(-_MAX_RING, _MAX_RING + 1)
    n_tracts = np.maximum(1, np.floor(360.0 * np.cos(np.radians(_ring_center(rings))) / TRACT_WIDTH_DEG)).astype(
        np.int64
    )
    first = np.zeros_like(n_tracts)
    zero = _MAX_RING
    first[zero:] = RING0_FIRST_TRACT + np.concatenate(([0], np.cumsum(n_tracts[zero:-1])))
    first[:zero] = RING0_FIRST_TRACT - np.cumsum(n_tracts[:zero][::-1])[::-1]
    return rings, n_tracts, first


def tract_of(ra, dec) -> np.ndarray:
    """Tract number (int64) containing each position (deg)."""
    rings, n_tracts, first = _ring_table()
    k = np.floor((np.asarray(dec, dtype=np.float64)) / RING_HEIGHT_DEG).astype(np.int64)
    row = np.clip(k + _MAX_RING, 0, rings.size - 1)
    width = 360.0 / n_tracts[row]
    column = np.floor(np.mod(np.asarray(ra, dtype=np.float64), 360.0) / width).astype(np.int64)
    return first[row] + np.minimum(column, n_tracts[row] - 1)


def tract_center(tract: int) -> tuple[float, float]:
    """(RA, Dec) in deg of the centre of ``tract``."""
    rings, n_tracts, first = _ring_table()
    row = int(np.searchsorted(first, tract, side="right") - 1)
    if row < 0 or tract - first[row] >= n_tracts[row]:
        raise ValueError(f"tract {tract} is outside the simulated sky map")
    width = 360.0 / n_tracts[row]
    return float((tract - first[row] + 0.5) * width), float(_ring_center(rings[row]))


def tract_wcs_header(tract: int) -> dict[str, object]:
    """FITS WCS keywords (TAN, north up, east left) of a tract's pixel grid."""
    ra, dec = tract_center(tract)
    scale_deg = PIXEL_SCALE / 3600.0
    return {
        "WCSAXES": 2,
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "CRVAL1": ra,
        "CRVAL2": dec,
        "CRPIX1": TRACT_CRPIX,
        "CRPIX2": TRACT_CRPIX,
        "CD1_1": -scale_deg,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": scale_deg,
        "RADESYS": "ICRS",
        "EQUINOX": 2000.0,
    }


def sky_to_tangent(ra, dec, ra0, dec0) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic projection about (ra0, dec0): (xi east, eta north), in arcsec. All in deg."""
    ra, dec = np.radians(ra), np.radians(dec)
    ra0, dec0 = np.radians(ra0), np.radians(dec0)
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    return np.degrees(xi) * 3600.0, np.degrees(eta) * 3600.0


def tangent_to_sky(xi, eta, ra0, dec0) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`sky_to_tangent`: (xi, eta) in arcsec about (ra0, dec0) deg -> (ra, dec) deg."""
    xi = np.radians(np.asarray(xi, dtype=np.float64) / 3600.0)
    eta = np.radians(np.asarray(eta, dtype=np.float64) / 3600.0)
    ra0r, dec0r = np.radians(ra0), np.radians(dec0)
    denom = np.cos(dec0r) - eta * np.sin(dec0r)
    ra = ra0r + np.arctan2(xi, denom)
    dec = np.arctan2(np.sin(dec0r) + eta * np.cos(dec0r), np.hypot(xi, denom))
    return np.mod(np.degrees(ra), 360.0), np.degrees(dec)


def tract_pixels(tract: int, ra, dec) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel coordinates (x, y) of positions in the tract's TAN grid."""
    ra_c, dec_c = tract_center(tract)
    xi, eta = sky_to_tangent(ra, dec, ra_c, dec_c)
    scale = PIXEL_SCALE
    return TRACT_CRPIX - 1.0 - xi / scale, TRACT_CRPIX - 1.0 + eta / scale


def patch_of(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Patch indices (patch_x, patch_y) of 0-based tract pixel coordinates."""
    last = TRACT_PIXELS // PATCH_PIXELS - 1
    px = np.clip(np.floor(np.asarray(x) / PATCH_PIXELS), 0, last).astype(np.int64)
    py = np.clip(np.floor(np.asarray(y) / PATCH_PIXELS), 0, last).astype(np.int64)
    return px, py


def encode_object_id(tract, patch_x, patch_y, serial) -> np.ndarray:
    """HSC PDR2 object ids (int64): ``tract << 42 | patch_x << 37 | patch_y << 32 | serial``."""
    tract = np.asarray(tract, dtype=np.int64)
    return (
        (tract << np.int64(42))
        | (np.asarray(patch_x, dtype=np.int64) << np.int64(37))
        | (np.asarray(patch_y, dtype=np.int64) << np.int64(32))
        | np.asarray(serial, dtype=np.int64)
    )


def cutout_wcs_header(tract: int, origin_x: int, origin_y: int) -> dict[str, object]:
    """WCS keywords of a cutout whose pixel (0, 0) is tract pixel (origin_x, origin_y).

    Besides the celestial TAN WCS, writes the LSST/HSC ``LTV`` offsets and the alternate linear
    WCS ``A`` (``PARENT``) that map cutout pixels back to tract pixels.
    """
    header = tract_wcs_header(tract)
    header["CRPIX1"] = TRACT_CRPIX - origin_x
    header["CRPIX2"] = TRACT_CRPIX - origin_y
    header.update(
        {
            "LTV1": -float(origin_x),
            "LTV2": -float(origin_y),
            "WCSNAMEA": "PARENT",
            "CTYPE1A": "LINEAR",
            "CTYPE2A": "LINEAR",
            "CRPIX1A": 1.0,
            "CRPIX2A": 1.0,
            "CRVAL1A": float(origin_x),
            "CRVAL2A": float(origin_y),
            "CUNIT1A": "PIXEL",
            "CUNIT2A": "PIXEL",
        }
    )
    return header


def cutout_origin(x: float, y: float, shift_x: int, shift_y: int) -> tuple[int, int]:
    """Tract pixel of a cutout's pixel (0, 0) for an object at tract pixel (x, y).

    The object lands at cutout pixel ``(size/2 - 1 - shift + frac)``: a few whole pixels
    (``shift``) plus its sub-pixel part away from the centre.
    """
    half = CUTOUT_SIZE // 2 - 1
    return int(np.floor(x)) - half + int(shift_x), int(np.floor(y)) - half + int(shift_y)


@dataclass(frozen=True)
class Field:
    """Rectangular (in RA, Dec) footprint of a simulation, degrees."""

    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float

    @classmethod
    def for_rows(
        cls,
        n_rows: int,
        *,
        density: float = SAMPLE_DENSITY,
        ra_start: float = 130.0,
        dec_start: float = 0.05,
        max_height: float = 1.4,
        max_width: float = 90.0,
    ) -> "Field":
        """Footprint holding ``n_rows`` catalog rows at the sample's sky density (deg^-2)."""
        area = max(n_rows, 1) / density
        height = max(min(np.sqrt(area), max_height), area / max_width)
        dec_mid = dec_start + height / 2.0
        width = area / height / np.cos(np.radians(dec_mid))
        return cls(float(ra_start), float(ra_start + width), float(dec_start), float(dec_start + height))

    @property
    def area(self) -> float:
        """Solid angle, deg^2."""
        d_sin = np.sin(np.radians(self.dec_max)) - np.sin(np.radians(self.dec_min))
        return float(np.degrees(1.0) * (self.ra_max - self.ra_min) * d_sin)

    def uniform(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` positions (ra, dec) in deg, uniform on the sphere within the footprint."""
        ra = rng.uniform(self.ra_min, self.ra_max, n)
        s0, s1 = np.sin(np.radians(self.dec_min)), np.sin(np.radians(self.dec_max))
        dec = np.degrees(np.arcsin(rng.uniform(s0, s1, n)))
        return ra, dec
