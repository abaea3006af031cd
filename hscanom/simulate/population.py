"""Who is where: anomaly classes, sky positions, tracts, patches and object ids of every row.

Placement rules (positions in deg, distances in arcsec):

* ordinary objects and most anomalies: uniform in the field, outside every DS9 mask;
* :data:`IN_MASK_FRACTION` of all catalogued objects lie inside the DS9 masks (8.5% in the
  paper): the ``bright_star`` anomalies plus ordinary galaxies, in the outer 40% of a halo
  circle or in a bleed/channel-stop box beyond it;
* ``bright_star`` anomalies sit deep in the halo (0.3-0.55 mask radii, or on the ghost ring) of a
  star brighter than i = 10.5;
* every catalogued object keeps :data:`ZONE_MARGIN` from the pipeline bright_object zones, so it
  passes the cuts; the rows failing the ``bright_object`` cut lie inside a zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hscanom.simulate.anomalies import ANOMALY_CLASSES, NORMAL, PLACE_CLEAN, PLACE_MASK
from hscanom.simulate.field import (
    Field,
    encode_object_id,
    patch_of,
    tangent_to_sky,
    tract_of,
    tract_pixels,
)
from hscanom.simulate.stars import (
    PIPELINE_ZONE_FRACTION,
    Stars,
    box_size,
    mask_membership,
    nearest_zone_distance,
)

#: Fraction of the catalogued objects inside the DS9 bright-star masks.
IN_MASK_FRACTION: float = 0.085
#: Minimum distance of a catalogued object from a pipeline bright_object zone, arcsec.
ZONE_MARGIN: float = 5.0
#: Serial numbers of objects within a patch are drawn from 1..MAX_SERIAL.
MAX_SERIAL: int = 60000
#: Bright-star anomalies need stars brighter than this, i mag.
HALO_STAR_MAG: float = 10.5


def class_counts(n: int, anomaly_fraction: float, rng: np.random.Generator) -> dict[str, int]:
    """Number of objects per class: ``round(n * anomaly_fraction)`` anomalies spread evenly over
    the anomaly classes (the remainder goes to randomly chosen classes), the rest normal."""
    if not 0.0 <= anomaly_fraction <= 1.0:
        raise ValueError(f"anomaly_fraction must be in [0, 1], got {anomaly_fraction!r}")
    n_anomalies = int(round(n * anomaly_fraction))
    base, extra = divmod(n_anomalies, len(ANOMALY_CLASSES))
    lucky = set(rng.permutation(len(ANOMALY_CLASSES))[:extra].tolist())
    counts = {c: base + (1 if k in lucky else 0) for k, c in enumerate(ANOMALY_CLASSES)}
    return {NORMAL: n - n_anomalies, **counts}


def assign_classes(counts: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """Class name of every object (shuffled), from per-class counts."""
    labels = np.concatenate([np.full(k, name, dtype=object) for name, k in counts.items()])
    return labels[rng.permutation(labels.size)]


def choose_in_mask(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean array: normal objects to be put inside the DS9 masks."""
    n_target = int(round(IN_MASK_FRACTION * classes.size))
    n_normal_in = max(0, n_target - int(np.count_nonzero(classes == "bright_star")))
    normal = np.flatnonzero(classes == NORMAL)
    chosen = rng.choice(normal, size=min(n_normal_in, normal.size), replace=False)
    out = np.zeros(classes.size, dtype=bool)
    out[chosen] = True
    return out


def _clean_positions(rng, field: Field, stars: Stars, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform positions outside every mask and zone."""
    ra_out, dec_out = [], []
    have = 0
    while have < n:
        ra, dec = field.uniform(rng, max(64, int(1.3 * (n - have))))
        if len(stars):
            in_circle, in_box = mask_membership(stars, ra, dec)
            ok = ~in_circle & ~in_box & (nearest_zone_distance(stars, ra, dec) > ZONE_MARGIN)
            ra, dec = ra[ok], dec[ok]
        ra_out.append(ra[: n - have])
        dec_out.append(dec[: n - have])
        have += ra_out[-1].size
    return np.concatenate(ra_out), np.concatenate(dec_out)


def _around(star_ra: float, star_dec: float, x: float, y: float) -> tuple[float, float]:
    """Sky position of offset (x west, y north) arcsec from a star."""
    ra, dec = tangent_to_sky(-x, y, star_ra, star_dec)
    return float(ra), float(dec)


def _mask_position(rng, stars: Stars) -> tuple[float, float]:
    """A position inside a DS9 mask, outside the zones: outer halo or beyond the circle in a box."""
    radius = stars.radius
    while True:
        if rng.random() < 0.2 and np.any(stars.has_box):
            k = int(rng.choice(np.flatnonzero(stars.has_box)))
            width, height = box_size(stars.mag[k])
            u = rng.uniform(-0.45, 0.45) * width
            v = rng.choice([-1.0, 1.0]) * rng.uniform(radius[k] + 1.0, height / 2 - 0.5)
            angle = np.radians(stars.box_angle[k])
            x, y = u * np.cos(angle) - v * np.sin(angle), u * np.sin(angle) + v * np.cos(angle)
        else:
            k = int(rng.choice(len(stars), p=radius**2 / np.sum(radius**2)))
            inner = max(0.6 * radius[k], PIPELINE_ZONE_FRACTION * radius[k] + ZONE_MARGIN)
            d = np.sqrt(rng.uniform(inner**2, (0.97 * radius[k]) ** 2))
            phi = rng.uniform(0, 2 * np.pi)
            x, y = d * np.cos(phi), d * np.sin(phi)
        ra, dec = _around(stars.ra[k], stars.dec[k], x, y)
        if nearest_zone_distance(stars, ra, dec)[0] > ZONE_MARGIN:
            return ra, dec


def _halo_position(rng, stars: Stars) -> tuple[float, float]:
    """A position deep in the halo of a bright star (0.3-0.55 radii, or on its ghost ring)."""
    bright = np.flatnonzero(stars.mag < HALO_STAR_MAG)
    if bright.size == 0:
        raise RuntimeError("bright_star anomalies need a star brighter than i = 10.5 in the field")
    while True:
        k = int(rng.choice(bright))
        radius = stars.radius[k]
        phi = rng.uniform(0, 2 * np.pi)
        if stars.has_ghost[k] and rng.random() < 0.5:
            rho = stars.ghost_radius[k] + rng.uniform(-0.5, 0.5) * stars.ghost_width[k]
            x = stars.ghost_dx[k] + rho * np.cos(phi)
            y = stars.ghost_dy[k] + rho * np.sin(phi)
        else:
            d = rng.uniform(0.3, 0.55) * radius
            x, y = d * np.cos(phi), d * np.sin(phi)
        d = np.hypot(x, y)
        if not (PIPELINE_ZONE_FRACTION * radius + ZONE_MARGIN < d < 0.95 * radius):
            continue
        ra, dec = _around(stars.ra[k], stars.dec[k], x, y)
        if nearest_zone_distance(stars, ra, dec)[0] > ZONE_MARGIN:
            return ra, dec


def zone_position(rng, stars: Stars) -> tuple[float, float]:
    """A position inside a pipeline bright_object zone (rows failing the bright_object cut)."""
    zone = PIPELINE_ZONE_FRACTION * stars.radius
    k = int(rng.choice(len(stars), p=zone**2 / np.sum(zone**2)))
    d = np.sqrt(rng.uniform(0.1, 0.9)) * zone[k]
    phi = rng.uniform(0, 2 * np.pi)
    return _around(stars.ra[k], stars.dec[k], d * np.cos(phi), d * np.sin(phi))


def place(
    placements: Sequence[str], rng: np.random.Generator, field: Field, stars: Stars
) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions (ra, dec, deg) for objects with the given placement rules."""
    placements = np.asarray(placements, dtype=object)
    ra = np.empty(placements.size)
    dec = np.empty(placements.size)
    clean = np.flatnonzero(placements == PLACE_CLEAN)
    ra[clean], dec[clean] = _clean_positions(rng, field, stars, clean.size)
    for k in np.flatnonzero(placements != PLACE_CLEAN):
        ra[k], dec[k] = (_mask_position if placements[k] == PLACE_MASK else _halo_position)(rng, stars)
    return ra, dec


def sky_map_ids(ra: np.ndarray, dec: np.ndarray, rng: np.random.Generator):
    """Tract, patch and unique object ids of positions, plus an id for a deblend parent.

    Args:
        ra, dec: positions, deg.
        rng: random generator (serial numbers).

    Returns:
        ``(tract, patch_x, patch_y, object_id, parent_id, x, y)``: int64 arrays, except the tract
        pixel coordinates ``x, y`` (0-based); ``parent_id`` is an id in the object's own patch,
        distinct from every object id, for objects that turn out to be deblended children.
    """
    tract = tract_of(ra, dec)
    x = np.empty(ra.size)
    y = np.empty(ra.size)
    for t in np.unique(tract):
        sel = tract == t
        x[sel], y[sel] = tract_pixels(int(t), ra[sel], dec[sel])
    px, py = patch_of(x, y)
    serial = np.empty(ra.size, dtype=np.int64)
    parent_serial = np.empty(ra.size, dtype=np.int64)
    keys = tract * 100 + px * 10 + py
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        draws = rng.choice(MAX_SERIAL, size=2 * members.size, replace=False) + 1
        serial[members] = np.sort(draws[: members.size])
        parent_serial[members] = draws[members.size :]
    object_id = encode_object_id(tract, px, py, serial)
    parent = encode_object_id(tract, px, py, parent_serial)
    return tract, px, py, object_id, parent, x, y
