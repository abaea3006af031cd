"""Light components of a simulated scene and their GalSim profiles.

A simulated object (and everything else drawn into its cutout) is a list of
:class:`Component`: a de Vaucouleurs bulge, an exponential disk, a Gaussian clump or a point
source, with a flux per band, a size, an ellipticity and an offset from the object's centre.
Components flagged ``in_object`` make up the catalogued object; the others (a merger companion,
an overlapping galaxy, tidal debris) are separate sources in the same pixels.

De Vaucouleurs profiles are truncated at :data:`DEV_TRUNCATION` half-light radii (GalSim keeps
the given flux and half-light radius for the truncated profile).

Conventions: offsets and sizes in arcsec; ``dx`` along the cutout x axis (west), ``dy`` north;
position angle ``beta`` in radians counter-clockwise from x; ``q = b/a``; ``r50`` is the
circularised half-light radius ``sqrt(a*b)`` of the unconvolved profile; fluxes in coadd counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import galsim
import numpy as np

from hscanom.schema.columns import BANDS
from hscanom.simulate.survey import mag_to_counts

PROFILES = ("devaucouleurs", "exponential", "gaussian", "point")

#: Sersic b_n of the exponential (n=1) and de Vaucouleurs (n=4) profiles.
_SERSIC_B = {1: 1.6783469900166612, 4: 7.669249442500805}
_RADIUS_GRID = np.geomspace(1e-3, 300.0, 6000)
#: Half-light radius given to point sources in size estimates, arcsec.
POINT_R50 = 0.05
_GAUSS_R50 = np.sqrt(2.0 * np.log(2.0))  # half-light radius / sigma of a Gaussian
_GSPARAMS = galsim.GSParams(folding_threshold=1e-2, maxk_threshold=5e-3)
#: de Vaucouleurs profiles are truncated at this many half-light radii (keeps FFTs small).
DEV_TRUNCATION = 10.0


@dataclass(frozen=True)
class Component:
    """One light component.

    Attributes:
        profile: ``devaucouleurs``, ``exponential``, ``gaussian`` or ``point``.
        flux: counts per band, for every band in :data:`BANDS`.
        r50: half-light radius, arcsec (ignored for ``point``).
        q: axis ratio b/a.
        beta: position angle, rad, counter-clockwise from the x (west) axis.
        dx, dy: offset from the object centre, arcsec (x west, y north).
        in_object: part of the catalogued object.
    """

    profile: str
    flux: dict[str, float]
    r50: float = 0.0
    q: float = 1.0
    beta: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
    in_object: bool = True

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}")

    def gsobject(self, band: str, *, centred: bool = False) -> galsim.GSObject:
        """Unconvolved GalSim profile in ``band``; shifted by (dx, dy) unless ``centred``."""
        flux = max(float(self.flux[band]), 0.0)
        if self.profile == "point":
            obj = galsim.DeltaFunction(flux=flux, gsparams=_GSPARAMS)
        else:
            if self.profile == "devaucouleurs":
                obj = galsim.DeVaucouleurs(
                    half_light_radius=self.r50, flux=flux, trunc=DEV_TRUNCATION * self.r50, gsparams=_GSPARAMS
                )
            else:
                cls = galsim.Exponential if self.profile == "exponential" else galsim.Gaussian
                obj = cls(half_light_radius=self.r50, flux=flux, gsparams=_GSPARAMS)
            if self.q < 1.0:
                obj = obj.shear(q=self.q, beta=self.beta * galsim.radians)
        if not centred and (self.dx or self.dy):
            obj = obj.shift(self.dx, self.dy)
        return obj


def fluxes_from_mags(mags: dict[str, float]) -> dict[str, float]:
    """Per-band counts of per-band AB magnitudes."""
    return {b: float(mag_to_counts(mags[b])) for b in BANDS}


def split_fraction(fraction_i: float, color_offset: dict[str, float]) -> dict[str, float]:
    """Flux fraction of component A in each band, given its fraction in i.

    Component A is ``color_offset[b]`` mag redder than component B in (b - i); the fractions
    keep the total flux of every band fixed.
    """
    out = {}
    for b in BANDS:
        a = fraction_i * 10.0 ** (-0.4 * color_offset.get(b, 0.0))
        out[b] = float(a / (a + (1.0 - fraction_i))) if a + (1.0 - fraction_i) > 0 else 0.0
    return out


def _sersic_enclosed(x, n: int) -> np.ndarray:
    """Fraction of the light of a circular Sersic profile (n = 1 or 4) within ``x`` half-light radii."""
    t = _SERSIC_B[n] * np.asarray(x, dtype=np.float64) ** (1.0 / n)
    terms = sum(t**k / factorial(k) for k in range(2 * n))
    return 1.0 - np.exp(-t) * terms


def enclosed_fraction(components: list[Component], band: str, radius) -> np.ndarray:
    """Fraction of the light of ``components`` in ``band`` within circular ``radius`` (arcsec) of the origin.

    Components are taken as circular. A component offset by ``D`` from the origin counts as a
    Gaussian with the same mean square radius (``2 sigma^2 + D^2``); a point source as a
    Gaussian of half-light radius :data:`POINT_R50` (unresolved, as CModel sees it).
    """
    radius = np.asarray(radius, dtype=np.float64)
    total = sum(c.flux[band] for c in components)
    acc = np.zeros_like(radius)
    for c in components:
        if c.flux[band] <= 0:
            continue
        r50 = POINT_R50 if c.profile == "point" else c.r50
        offset2 = c.dx**2 + c.dy**2
        if c.profile in ("gaussian", "point") or offset2 > 0:
            sigma2 = (r50 / _GAUSS_R50) ** 2 + offset2 / 2.0
            frac = 1.0 - np.exp(-0.5 * radius**2 / sigma2)
        else:
            frac = _sersic_enclosed(radius / r50, 4 if c.profile == "devaucouleurs" else 1)
        acc += c.flux[band] * frac
    return acc / total


def half_light_radius(components: list[Component], band: str) -> float:
    """Circularised half-light radius (arcsec) of concentric ``components`` in ``band``.

    Interpolated on a fine logarithmic grid of radii (relative precision ~1e-4).
    """
    fraction = enclosed_fraction(components, band, _RADIUS_GRID)
    return float(np.interp(0.5, fraction, _RADIUS_GRID))


def shape_tensor(components: list[Component], band: str) -> np.ndarray:
    """Flux-weighted shape of ``components`` in ``band``: a 2x2 tensor with determinant 1.

    Each component contributes its half-light ellipse ``(a^2, b^2)`` rotated by ``beta``,
    normalised to unit determinant, weighted by flux (point sources count as round).
    """
    acc = np.zeros((2, 2))
    for c in components:
        q = 1.0 if c.profile == "point" else c.q
        rot = np.array([[np.cos(c.beta), -np.sin(c.beta)], [np.sin(c.beta), np.cos(c.beta)]])
        acc += c.flux[band] * rot @ np.diag([1.0 / q, q]) @ rot.T
    return acc / np.sqrt(np.linalg.det(acc))


def moments(shape: np.ndarray, r_eff: float) -> tuple[float, float, float]:
    """Second moments (I11, I22, I12) in arcsec^2 of an ellipse of shape tensor ``shape``
    (unit determinant) and determinant radius ``r_eff`` = (I11*I22 - I12^2)^(1/4) arcsec."""
    m = shape * r_eff**2
    return float(m[0, 0]), float(m[1, 1]), float(m[0, 1])
