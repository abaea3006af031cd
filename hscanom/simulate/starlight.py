"""Scattered light of bright stars on a cutout: extended PSF wings, ghost rings, spikes.

The stellar core is drawn by GalSim with the PSF (see :mod:`hscanom.simulate.cutouts`); this
module adds the analytic large-scale light that reaches cutouts far from the star:

* wing: a broad Moffat (scale 8", index 1.5: surface brightness ~ r^-3) carrying ~1% of the
  flux, more in the red (:data:`WING_FRACTION`);
* ghost (i < 10): a ring of radius 0.35-0.6 mask radii, offset from the star, with
  ``GHOST_SB * flux`` counts per pixel at its crest;
* diffraction spikes (i < 10): four narrow spikes fading as ``distance**-1.5``.

All functions return counts per pixel on a ``(size, size)`` grid; positions are in cutout pixels
(0-based, x west, y north).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hscanom.simulate.survey import CUTOUT_SIZE, PIXEL_SCALE

WING_FRACTION: dict[str, float] = {"g": 0.007, "r": 0.008, "i": 0.010, "z": 0.012, "y": 0.014}
WING_SCALE_ARCSEC: float = 8.0
WING_INDEX: float = 1.5
#: Stars fainter than this get no wing (it is far below the noise).
WING_MAG_LIMIT: float = 16.0
GHOST_SB: float = 1.5e-8
SPIKE_AMPLITUDE: float = 1.8e-4
SPIKE_SIGMA_PIX: float = 1.2


@dataclass(frozen=True)
class NearbyStar:
    """A catalogued bright star seen from one cutout.

    Attributes:
        dx, dy: star position relative to the object, arcsec (x west, y north).
        flux: counts per band.
        mag: i-band magnitude.
        zone_radius: radius of the pipeline bright_object zone, arcsec.
        ghost: (dx, dy, radius, width) of the ghost ring relative to the star, arcsec, or None.
        spike_angle: spike orientation, deg (counter-clockwise from x).
    """

    dx: float
    dy: float
    flux: dict[str, float]
    mag: float
    zone_radius: float
    ghost: tuple[float, float, float, float] | None
    spike_angle: float


def _grid(size: int):
    j, i = np.mgrid[0:size, 0:size]
    return i.astype(np.float64), j.astype(np.float64)


def star_light(star: NearbyStar, band: str, x0: float, y0: float, size: int = CUTOUT_SIZE) -> np.ndarray:
    """Wing + ghost + spike light of ``star`` in ``band`` on a cutout whose object is at (x0, y0).

    Args:
        star: the star.
        band: band name.
        x0, y0: object position in the cutout, pixels (0-based).
        size: cutout side, pixels.

    Returns:
        float64 ``(size, size)`` array, counts per pixel.
    """
    xs = x0 + star.dx / PIXEL_SCALE
    ys = y0 + star.dy / PIXEL_SCALE
    x, y = _grid(size)
    dx, dy = x - xs, y - ys
    flux = star.flux[band]
    out = np.zeros((size, size))
    if star.mag < WING_MAG_LIMIT:
        a = WING_SCALE_ARCSEC / PIXEL_SCALE
        norm = flux * WING_FRACTION[band] * (WING_INDEX - 1.0) / (np.pi * a * a)
        out += norm * (1.0 + (dx * dx + dy * dy) / (a * a)) ** (-WING_INDEX)
    if star.ghost is not None:
        gx, gy, radius, width = (v / PIXEL_SCALE for v in star.ghost)
        rho = np.hypot(dx - gx, dy - gy)
        out += GHOST_SB * flux * np.exp(-0.5 * ((rho - radius) / width) ** 2)
        length = 400.0 * 10.0 ** (0.2 * (9.0 - star.mag))
        for k in range(4):
            theta = np.radians(star.spike_angle + 90.0 * k)
            along = dx * np.cos(theta) + dy * np.sin(theta)
            perp = -dx * np.sin(theta) + dy * np.cos(theta)
            with np.errstate(invalid="ignore", divide="ignore"):
                spike = np.where(
                    along > 3.0, SPIKE_AMPLITUDE * flux * np.abs(along) ** -1.5 * np.exp(-along / length), 0.0
                )
            out += spike * np.exp(-0.5 * (perp / SPIKE_SIGMA_PIX) ** 2)
    return out


def zone_mask(star: NearbyStar, x0: float, y0: float, size: int = CUTOUT_SIZE) -> np.ndarray:
    """Boolean ``(size, size)`` map of the pipeline bright_object zone of ``star``."""
    xs = x0 + star.dx / PIXEL_SCALE
    ys = y0 + star.dy / PIXEL_SCALE
    x, y = _grid(size)
    return np.hypot(x - xs, y - ys) < star.zone_radius / PIXEL_SCALE
