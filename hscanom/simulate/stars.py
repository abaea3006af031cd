"""Bright stars of a simulated field and the geometry of their masks.

Stars brighter than i = 18 are drawn with Galactic high-latitude number counts. Each star gets
the regions of the HSC bright-star masks:

* a circular halo mask whose radius follows the PDR1-era law (docs/architecture.md)
  ``r = 200 * 10**(0.25 * (7 - m)) + 12 * 10**(0.05 * (16 - m))`` arcsec;
* for stars brighter than :data:`BOX_MAG_LIMIT`, a rotated box covering the bleed trail and
  channel stop, ``max(4", 0.16 r)`` wide and ``2.4 r`` long.

The pipeline's own ``bright_object`` pixel mask (which sets ``pixelflags_bright_object``) is
smaller than these published masks: it covers the inner :data:`PIPELINE_ZONE_FRACTION` of the
halo radius. Galaxies between the two radii pass the paper's cuts yet lie inside the DS9 masks,
as 8.5% of the paper's sample does.

Stars brighter than :data:`GHOST_MAG_LIMIT` also have an optical ghost (a ring of scattered
light, offset from the star) and diffraction spikes; see :mod:`hscanom.simulate.starlight`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hscanom.simulate.field import Field, sky_to_tangent

#: i-band magnitude range of the star list.
MAG_BRIGHT: float = 7.5
MAG_FAINT: float = 18.0
#: Stars per deg^2 brighter than i = 18 (high Galactic latitude), and the slope d log N / dm.
DENSITY_AT_FAINT: float = 400.0
COUNT_SLOPE: float = 0.3
#: Stars brighter than this get a bleed/channel-stop box in the mask file.
BOX_MAG_LIMIT: float = 12.5
#: Stars brighter than this have a ghost ring and diffraction spikes.
GHOST_MAG_LIMIT: float = 10.0
#: The pipeline bright_object mask covers this fraction of the halo radius.
PIPELINE_ZONE_FRACTION: float = 0.25


def mask_radius(mag) -> np.ndarray:
    """Halo mask radius in arcsec for i-band magnitude ``mag`` (PDR1-era law)."""
    mag = np.asarray(mag, dtype=np.float64)
    return 200.0 * 10.0 ** (0.25 * (7.0 - mag)) + 12.0 * 10.0 ** (0.05 * (16.0 - mag))


def box_size(mag) -> tuple[np.ndarray, np.ndarray]:
    """(width, height) in arcsec of the bleed/channel-stop box of a star."""
    radius = mask_radius(mag)
    return np.maximum(4.0, 0.16 * radius), 2.4 * radius


@dataclass
class Stars:
    """Bright stars of a field; every attribute is an array with one entry per star.

    Attributes:
        star_id: int64 identifier.
        ra, dec: position, deg.
        mag: i-band AB magnitude.
        color_g, color_r, color_z, color_y: colours (band - i), mag.
        box_angle: rotation of the mask box, deg, counter-clockwise from the x (west) axis in
            a north-up, east-left image.
        spike_angle: orientation of the diffraction spikes, deg, same convention.
        ghost_dx, ghost_dy: ghost centre offset from the star (x west, y north), arcsec.
        ghost_radius, ghost_width: ghost ring radius and Gaussian width, arcsec.
    """

    star_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray
    color_g: np.ndarray
    color_r: np.ndarray
    color_z: np.ndarray
    color_y: np.ndarray
    box_angle: np.ndarray
    spike_angle: np.ndarray
    ghost_dx: np.ndarray
    ghost_dy: np.ndarray
    ghost_radius: np.ndarray
    ghost_width: np.ndarray

    def __len__(self) -> int:
        return int(self.star_id.size)

    @property
    def radius(self) -> np.ndarray:
        """Halo mask radius, arcsec."""
        return mask_radius(self.mag)

    @property
    def has_box(self) -> np.ndarray:
        return self.mag < BOX_MAG_LIMIT

    @property
    def has_ghost(self) -> np.ndarray:
        return self.mag < GHOST_MAG_LIMIT

    def band_mag(self, band: str) -> np.ndarray:
        """Magnitude in ``band``."""
        return self.mag if band == "i" else self.mag + getattr(self, f"color_{band}")

    def take(self, index) -> "Stars":
        """Subset of the stars (index array or boolean mask)."""
        return Stars(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def draw_stars(rng: np.random.Generator, field: Field, *, min_bright: int = 0) -> Stars:
    """Bright stars in ``field``, with at least ``min_bright`` stars brighter than i = 10.5.

    Args:
        rng: random generator.
        field: footprint.
        min_bright: minimum number of stars with 8 <= i < 10.5 (bright-star anomalies need them).
    """
    n_expected = DENSITY_AT_FAINT * field.area
    n = int(rng.poisson(n_expected))
    # N(<m) ~ 10**(slope m) between MAG_BRIGHT and MAG_FAINT: inverse-CDF sampling.
    lo, hi = 10.0 ** (COUNT_SLOPE * MAG_BRIGHT), 10.0 ** (COUNT_SLOPE * MAG_FAINT)
    mag = np.log10(rng.uniform(lo, hi, n)) / COUNT_SLOPE
    n_missing = max(0, min_bright - int(np.count_nonzero((mag >= 8.0) & (mag < 10.5))))
    mag = np.concatenate([mag, rng.uniform(8.0, 10.5, n_missing)])
    n = mag.size
    ra, dec = field.uniform(rng, n)
    g_i = rng.uniform(0.3, 2.6, n)
    ghost_offset = rng.uniform(0.1, 0.3, n) * mask_radius(mag)
    ghost_pa = rng.uniform(0.0, 2.0 * np.pi, n)
    order = np.argsort(mag, kind="stable")
    stars = Stars(
        star_id=np.arange(1, n + 1, dtype=np.int64),
        ra=ra,
        dec=dec,
        mag=np.round(mag, 3),
        color_g=g_i,
        color_r=0.36 * g_i - 0.05,
        color_z=-0.17 * g_i,
        color_y=-0.24 * g_i,
        box_angle=np.where(rng.random(n) < 0.5, 0.0, 90.0) + rng.normal(0.0, 2.0, n),
        spike_angle=rng.uniform(0.0, 90.0, n),
        ghost_dx=ghost_offset * np.cos(ghost_pa),
        ghost_dy=ghost_offset * np.sin(ghost_pa),
        ghost_radius=rng.uniform(0.35, 0.6, n) * mask_radius(mag),
        ghost_width=rng.uniform(0.015, 0.03, n) * mask_radius(mag),
    ).take(order)
    stars.star_id = np.arange(1, n + 1, dtype=np.int64)
    return stars


def star_offsets(stars: Stars, ra: float, dec: float) -> tuple[np.ndarray, np.ndarray]:
    """Position of each star relative to (ra, dec) in cutout axes: (x west, y north), arcsec."""
    xi, eta = sky_to_tangent(stars.ra, stars.dec, ra, dec)
    return -xi, eta


def mask_membership(stars: Stars, ra, dec, *, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Which positions lie inside the DS9 masks.

    Args:
        stars: the star list.
        ra, dec: positions, deg (arrays of equal length).

    Returns:
        ``(in_circle, in_box)`` boolean arrays: inside some halo circle; inside some box.
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    in_circle = np.zeros(ra.size, dtype=bool)
    in_box = np.zeros(ra.size, dtype=bool)
    radius = stars.radius
    width, height = box_size(stars.mag)
    angle = np.radians(stars.box_angle)
    for start in range(0, ra.size, chunk):
        sl = slice(start, start + chunk)
        # offsets of the positions from each star (x west, y north), arcsec: (n_pos, n_star)
        xi, eta = sky_to_tangent(ra[sl, None], dec[sl, None], stars.ra[None, :], stars.dec[None, :])
        x, y = -xi, eta
        in_circle[sl] = np.any(x**2 + y**2 < radius**2, axis=1)
        u = x * np.cos(angle) + y * np.sin(angle)
        v = -x * np.sin(angle) + y * np.cos(angle)
        inside = (np.abs(u) < width / 2) & (np.abs(v) < height / 2) & stars.has_box
        in_box[sl] = np.any(inside, axis=1)
    return in_circle, in_box


def nearest_zone_distance(stars: Stars, ra, dec, *, chunk: int = 2048) -> np.ndarray:
    """Distance (arcsec) from each position to the nearest pipeline bright_object zone edge.

    Negative inside a zone (the inner :data:`PIPELINE_ZONE_FRACTION` of a halo radius).
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    zone = PIPELINE_ZONE_FRACTION * stars.radius
    out = np.empty(ra.size)
    for start in range(0, ra.size, chunk):
        sl = slice(start, start + chunk)
        xi, eta = sky_to_tangent(ra[sl, None], dec[sl, None], stars.ra[None, :], stars.dec[None, :])
        out[sl] = np.min(np.hypot(xi, eta) - zone, axis=1)
    return out
