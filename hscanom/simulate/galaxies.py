"""Galaxy populations: the catalogued 20 <= i < 20.5 sample and the fainter field around it.

A galaxy is a de Vaucouleurs bulge plus an exponential disk sharing a position angle. Observed
colours (not extinction-corrected, like the HSC CModel magnitudes) follow a two-population model:

* red sequence (35%): g-r ~ 1.45 +- 0.12, r-i ~ 0.50 +- 0.08, bulge fraction 0.45-0.9;
* blue cloud (65%): g-r ~ 0.65 +- 0.20, r-i ~ 0.30 +- 0.08, bulge fraction 0-0.35.

The bulge is redder than the disk (:data:`BULGE_COLOR_OFFSET`); per-band bulge fractions (the
catalog's ``fracdev``) follow from it with the total magnitude of every band fixed. Sizes:
half-light radii ~0.3-1.5" for the sample, smaller for fainter neighbours; disk axis ratios from
random inclinations of thick disks (intrinsic q0 = 0.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hscanom.schema.columns import BANDS
from hscanom.simulate.components import Component, fluxes_from_mags, split_fraction
from hscanom.simulate.cuts import I_MAG_RANGE
from hscanom.simulate.survey import CUTOUT_SIZE, PIXEL_SCALE

#: Sample magnitude range (the paper's cut on i_cmodel_mag).
SAMPLE_I_RANGE: tuple[float, float] = I_MAG_RANGE
#: Bulge colour minus disk colour in (band - i), mag.
BULGE_COLOR_OFFSET: dict[str, float] = {"g": 0.30, "r": 0.12, "i": 0.0, "z": -0.05, "y": -0.08}
RED_FRACTION: float = 0.35
#: Slope d log10 N / dm of galaxy number counts.
COUNT_SLOPE: float = 0.3
#: Field galaxies (i < 25.5) per arcmin^2 and field stars (18 < i < 24) per arcmin^2.
NEIGHBOUR_DENSITY: float = 30.0
FAINT_STAR_DENSITY: float = 2.0
NEIGHBOUR_I_RANGE: tuple[float, float] = (19.0, 25.5)


@dataclass(frozen=True)
class Galaxy:
    """Intrinsic properties of one bulge + disk galaxy.

    Attributes:
        mags: total AB magnitude per band.
        bulge_fraction: bulge flux fraction in i.
        r50_bulge, r50_disk: half-light radii, arcsec.
        q_bulge, q_disk: axis ratios.
        beta: position angle, rad (x west, counter-clockwise).
    """

    mags: dict[str, float]
    bulge_fraction: float
    r50_bulge: float
    r50_disk: float
    q_bulge: float
    q_disk: float
    beta: float

    def components(self, dx: float = 0.0, dy: float = 0.0, in_object: bool = True) -> list[Component]:
        """Bulge and disk components (zero-flux components left out)."""
        total = fluxes_from_mags(self.mags)
        frac = split_fraction(self.bulge_fraction, BULGE_COLOR_OFFSET)
        out = []
        if self.bulge_fraction > 0:
            out.append(
                Component(
                    "devaucouleurs",
                    {b: total[b] * frac[b] for b in BANDS},
                    self.r50_bulge,
                    self.q_bulge,
                    self.beta,
                    dx,
                    dy,
                    in_object,
                )
            )
        if self.bulge_fraction < 1:
            out.append(
                Component(
                    "exponential",
                    {b: total[b] * (1 - frac[b]) for b in BANDS},
                    self.r50_disk,
                    self.q_disk,
                    self.beta,
                    dx,
                    dy,
                    in_object,
                )
            )
        return out


def draw_magnitude(rng: np.random.Generator, lo: float, hi: float, slope: float = COUNT_SLOPE) -> float:
    """Magnitude in [lo, hi) from counts dN/dm ~ 10**(slope * m)."""
    return float(np.log10(rng.uniform(10.0 ** (slope * lo), 10.0 ** (slope * hi))) / slope)


def mags_from_colors(i_mag: float, g_r: float, r_i: float, i_z: float, z_y: float) -> dict[str, float]:
    """Per-band magnitudes from i and the colours g-r, r-i, i-z, z-y."""
    r = i_mag + r_i
    z = i_mag - i_z
    return {"g": r + g_r, "r": r, "i": i_mag, "z": z, "y": z - z_y}


def inclined_axis_ratio(rng: np.random.Generator, q0: float = 0.2) -> float:
    """Projected axis ratio of a thick disk (intrinsic thickness q0) at random inclination."""
    cos_i = rng.uniform(0.0, 1.0)
    return float(np.sqrt(cos_i**2 * (1 - q0**2) + q0**2))


def draw_galaxy(rng: np.random.Generator, i_mag: float, *, size_scale: float = 1.0, red: bool | None = None) -> Galaxy:
    """A galaxy of i-band magnitude ``i_mag`` from the red/blue population model.

    Args:
        rng: random generator.
        i_mag: total i-band AB magnitude.
        size_scale: multiplies the half-light radii (fainter field galaxies are smaller).
        red: force the red sequence (True) or blue cloud (False); random when None.
    """
    if red is None:
        red = bool(rng.random() < RED_FRACTION)
    if red:
        colors = (
            np.clip(rng.normal(1.45, 0.12), 1.1, 1.75),
            np.clip(rng.normal(0.50, 0.08), 0.3, 0.7),
            np.clip(rng.normal(0.33, 0.06), 0.15, 0.5),
            np.clip(rng.normal(0.15, 0.05), 0.0, 0.3),
        )
        bulge_fraction = rng.uniform(0.45, 0.9)
        size = np.exp(rng.normal(np.log(0.70), 0.30))
    else:
        colors = (
            np.clip(rng.normal(0.65, 0.20), 0.3, 1.1),
            np.clip(rng.normal(0.30, 0.08), 0.1, 0.5),
            np.clip(rng.normal(0.15, 0.07), -0.05, 0.35),
            np.clip(rng.normal(0.05, 0.05), -0.1, 0.2),
        )
        bulge_fraction = rng.uniform(0.0, 0.35)
        size = np.exp(rng.normal(np.log(0.65), 0.35))
    size = float(np.clip(size * size_scale, 0.08, 3.0))
    if bulge_fraction >= 0.5:
        r50_bulge, r50_disk = size, size * rng.uniform(1.2, 2.0)
    else:
        r50_disk, r50_bulge = size, size * rng.uniform(0.25, 0.55)
    return Galaxy(
        mags=mags_from_colors(i_mag, *map(float, colors)),
        bulge_fraction=float(bulge_fraction),
        r50_bulge=float(r50_bulge),
        r50_disk=float(r50_disk),
        q_bulge=float(rng.uniform(0.6, 1.0)),
        q_disk=inclined_axis_ratio(rng),
        beta=float(rng.uniform(0.0, np.pi)),
    )


def draw_sample_galaxy(rng: np.random.Generator, *, red: bool | None = None) -> Galaxy:
    """A galaxy of the catalogued sample (20 <= i < 20.5, half-light radius ~0.3-1.5")."""
    return draw_galaxy(rng, draw_magnitude(rng, *SAMPLE_I_RANGE), red=red)


def _field_galaxy_size(i_mag: float) -> float:
    """Size scale of a field galaxy relative to the sample at i = 20.25."""
    return float(10.0 ** (-0.12 * (i_mag - 20.25)))


def draw_neighbours(rng: np.random.Generator, *, exclusion: float, close_probability: float) -> list[Component]:
    """Field galaxies and faint stars around an object (not part of it).

    Sources are spread over a square somewhat larger than the cutout; those brighter than
    i = 24 keep ``exclusion`` arcsec from the object, except that with ``close_probability`` one
    galaxy is put 1.2-3" away (a deblended close pair).

    Returns:
        Components with ``in_object=False``; offsets in arcsec from the object.
    """
    half = 0.6 * CUTOUT_SIZE * PIXEL_SCALE
    area_arcmin2 = (2 * half / 60.0) ** 2
    out: list[Component] = []

    def position(i_mag: float) -> tuple[float, float]:
        while True:
            dx, dy = rng.uniform(-half, half, 2)
            if i_mag >= 24.0 or np.hypot(dx, dy) >= exclusion:
                return float(dx), float(dy)

    for _ in range(rng.poisson(NEIGHBOUR_DENSITY * area_arcmin2)):
        i_mag = draw_magnitude(rng, *NEIGHBOUR_I_RANGE)
        dx, dy = position(i_mag)
        out += draw_galaxy(rng, i_mag, size_scale=_field_galaxy_size(i_mag)).components(dx, dy, in_object=False)
    for _ in range(rng.poisson(FAINT_STAR_DENSITY * area_arcmin2)):
        i_mag = rng.uniform(18.0, 24.0)
        dx, dy = position(i_mag)
        g_i = rng.uniform(0.3, 2.6)
        mags = mags_from_colors(i_mag, 0.64 * g_i + 0.05, 0.36 * g_i - 0.05, 0.17 * g_i, 0.07 * g_i)
        out.append(Component("point", fluxes_from_mags(mags), dx=dx, dy=dy, in_object=False))
    if rng.random() < close_probability:
        i_mag = rng.uniform(21.0, 24.0)
        sep, angle = rng.uniform(1.2, 3.0), rng.uniform(0, 2 * np.pi)
        out += draw_galaxy(rng, i_mag, size_scale=_field_galaxy_size(i_mag)).components(
            sep * np.cos(angle), sep * np.sin(angle), in_object=False
        )
    return out
