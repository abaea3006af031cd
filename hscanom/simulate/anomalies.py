"""Injected anomaly classes and the model of every catalogued object.

:func:`build_object` turns a class name into an :class:`ObjectModel`: the light components of
the object and of anything overlapping it, pixel artefacts, and noise and placement settings.
Each anomaly is drawn in the pixels, and the catalog is measured from the same model, so
catalog values follow the class (bluer cores, larger red galaxies, higher blendedness, ...).

Classes (``normal`` is not an anomaly):

``merger_tidal``  a galaxy with a close companion of similar brightness and tidal tails, or
                  with shells (arcs of debris) around it.
``blue_clumpy``   an extremely blue disk dominated by 4-9 compact star-forming clumps
                  (g-r -0.15-0.25, r-i -0.3-0.1).
``blue_core``     a red, bulge-dominated host with a blue point-like (quasar-like) nucleus
                  carrying 40-70% of the i-band light.
``red_extended``  a very red (g-r 1.65-2.0, r-i 0.65-0.95), large (bulge r50 2.2-3.8",
                  with an exponential envelope 1.5x larger) galaxy with red cluster companions.
``streak``        an ordinary galaxy crossed, in one band only, by a satellite trail (a PSF-wide
                  line across the whole cutout, 0.3-1.2 counts/pixel, partly flagged CLIPPED) or a
                  cosmic-ray streak (sharp, 15-60 pixels long, 5-30 counts/pixel, flagged CR).
``bright_star``   an ordinary galaxy deep inside the mask of a bright (i < 10.5) star: its halo,
                  ghost ring and diffraction spikes put scattered light across the cutout.
``empty_noise``   a noise-dominated cutout (few input visits: sky noise 4-10x higher in some
                  bands) or an essentially empty one (a huge, very low surface-brightness source).
``bad_deblend``   an ordinary galaxy overlapped (0.7-1.6" away) by a brighter galaxy or a star,
                  with high blendedness.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from hscanom.schema.columns import BANDS
from hscanom.simulate.components import Component, fluxes_from_mags, split_fraction
from hscanom.simulate.galaxies import SAMPLE_I_RANGE, draw_galaxy, draw_magnitude, draw_sample_galaxy, mags_from_colors
from hscanom.simulate.survey import PIXEL_SCALE, PSF_FWHM

NORMAL = "normal"
ANOMALY_CLASSES: tuple[str, ...] = (
    "merger_tidal",
    "blue_clumpy",
    "blue_core",
    "red_extended",
    "streak",
    "bright_star",
    "empty_noise",
    "bad_deblend",
)
ALL_CLASSES: tuple[str, ...] = (NORMAL, *ANOMALY_CLASSES)

#: Where an object is put on the sky.
PLACE_CLEAN = "clean"  # outside every bright-star mask
PLACE_MASK = "mask"  # inside a DS9 mask, outside the pipeline bright_object zone (normal objects)
PLACE_HALO = "halo"  # deep in the halo of a bright star (bright_star class)


@dataclass(frozen=True)
class Streak:
    """A straight artefact in one band.

    Attributes:
        band: the band it appears in.
        kind: ``satellite`` (PSF-convolved trail across the cutout) or ``cosmic_ray``.
        angle: direction, rad, counter-clockwise from x.
        impact: signed distance of the line from the object centre, pixels.
        along: offset of the streak centre along the line from the foot of the impact, pixels.
        length: full length, pixels (``inf`` for a satellite trail).
        sigma: Gaussian cross-section sigma, pixels.
        amplitude: peak surface brightness, counts per pixel.
    """

    band: str
    kind: str
    angle: float
    impact: float
    along: float
    length: float
    sigma: float
    amplitude: float


@dataclass(frozen=True)
class ObjectModel:
    """Everything that makes one catalogued object's cutouts.

    Attributes:
        anomaly_class: one of :data:`ALL_CLASSES`.
        components: the object (``in_object``) and overlapping sources, arcsec offsets.
        streaks: pixel artefacts.
        noise_scale: multiplies the sky noise, per band.
        low_coverage_bands: bands with only 3 input visits.
        placement: :data:`PLACE_CLEAN`, :data:`PLACE_MASK` or :data:`PLACE_HALO`.
        close_probability: probability that a random field galaxy is put 1.2-3" away.
    """

    anomaly_class: str
    components: tuple[Component, ...]
    streaks: tuple[Streak, ...] = ()
    noise_scale: dict[str, float] = field(default_factory=lambda: {b: 1.0 for b in BANDS})
    low_coverage_bands: tuple[str, ...] = ()
    placement: str = PLACE_CLEAN
    close_probability: float = 0.15


def _arc_blobs(rng, *, center, radii, angles, total_flux, r50, q=0.35) -> list[Component]:
    """Gaussian blobs along a curve (tidal tail or shell), tangentially elongated, not in the object."""
    weights = rng.uniform(0.5, 1.5, len(radii)) * np.linspace(1.3, 0.6, len(radii))
    weights /= weights.sum()
    out = []
    for radius, angle, w in zip(radii, angles, weights):
        dx = center[0] + radius * np.cos(angle)
        dy = center[1] + radius * np.sin(angle)
        out.append(
            Component(
                "gaussian",
                {b: total_flux[b] * w for b in BANDS},
                r50=float(r50 * rng.uniform(0.8, 1.2)),
                q=q,
                beta=float(angle + np.pi / 2),
                dx=float(dx),
                dy=float(dy),
                in_object=False,
            )
        )
    return out


def _merger(rng) -> ObjectModel:
    main = draw_sample_galaxy(rng, red=bool(rng.random() < 0.3))
    comps = main.components()
    sep, phi = rng.uniform(1.2, 2.8), rng.uniform(0, 2 * np.pi)
    comp_pos = (sep * np.cos(phi), sep * np.sin(phi))
    companion = draw_galaxy(rng, main.mags["i"] + rng.uniform(-0.3, 1.0))
    comps += companion.components(*comp_pos, in_object=False)
    debris_colors = mags_from_colors(main.mags["i"] + 2.5 * np.log10(1 / rng.uniform(0.3, 0.5)), 0.6, 0.25, 0.1, 0.05)
    debris = fluxes_from_mags(debris_colors)
    if rng.random() < 0.65:  # two tidal tails, one from each galaxy, winding in opposite senses
        sense = rng.choice([-1.0, 1.0])
        for center, start, sgn in ((np.zeros(2), phi + np.pi, sense), (np.asarray(comp_pos), phi, sense)):
            n = int(rng.integers(8, 14))
            t = np.linspace(0.0, 1.0, n)
            radii = rng.uniform(0.8, 1.2) + rng.uniform(3.0, 5.5) * t
            angles = start + sgn * rng.uniform(1.0, 2.0) * t
            half = {b: debris[b] / 2 for b in BANDS}
            comps += _arc_blobs(rng, center=center, radii=radii, angles=angles, total_flux=half, r50=0.45)
    else:  # shells: arcs at increasing radii on alternating sides
        n_shells = int(rng.integers(2, 4))
        side = rng.uniform(0, 2 * np.pi)
        for k in range(n_shells):
            n = 9
            radius = 1.8 + 1.3 * k + rng.uniform(-0.2, 0.2)
            span = rng.uniform(1.8, 2.8)
            angles = side + k * np.pi + np.linspace(-span / 2, span / 2, n)
            flux = {b: debris[b] / n_shells for b in BANDS}
            comps += _arc_blobs(
                rng, center=np.zeros(2), radii=np.full(n, radius), angles=angles, total_flux=flux, r50=0.4, q=0.3
            )
    return ObjectModel("merger_tidal", tuple(comps), close_probability=0.0)


def _blue_clumpy(rng) -> ObjectModel:
    i_mag = draw_magnitude(rng, *SAMPLE_I_RANGE)
    mags = mags_from_colors(
        i_mag, rng.uniform(-0.15, 0.25), rng.uniform(-0.3, 0.1), rng.uniform(-0.2, 0.05), rng.uniform(-0.1, 0.1)
    )
    total = fluxes_from_mags(mags)
    clump_frac = split_fraction(rng.uniform(0.45, 0.7), {"g": -0.5, "r": -0.25, "z": 0.1, "y": 0.15})
    r50_disk, q, beta = rng.uniform(0.9, 1.6), rng.uniform(0.4, 0.9), rng.uniform(0, np.pi)
    comps = [Component("exponential", {b: total[b] * (1 - clump_frac[b]) for b in BANDS}, r50_disk, q, beta)]
    n = int(rng.integers(4, 10))
    shares = rng.dirichlet(np.full(n, 1.5))
    for share in shares:
        # uniform in the disk's ellipse out to 1.3 half-light radii
        rad = 1.3 * r50_disk * np.sqrt(rng.uniform(0.02, 1.0))
        ang = rng.uniform(0, 2 * np.pi)
        u, v = rad * np.cos(ang) / np.sqrt(q), rad * np.sin(ang) * np.sqrt(q)
        dx, dy = u * np.cos(beta) - v * np.sin(beta), u * np.sin(beta) + v * np.cos(beta)
        comps.append(
            Component(
                "gaussian",
                {b: total[b] * clump_frac[b] * share for b in BANDS},
                r50=float(rng.uniform(0.08, 0.2)),
                dx=float(dx),
                dy=float(dy),
            )
        )
    return ObjectModel("blue_clumpy", tuple(comps))


def _blue_core(rng) -> ObjectModel:
    i_mag = draw_magnitude(rng, *SAMPLE_I_RANGE)
    f_point = rng.uniform(0.4, 0.7)
    host = draw_galaxy(rng, i_mag - 2.5 * np.log10(1 - f_point), red=True)
    point_mags = mags_from_colors(
        i_mag - 2.5 * np.log10(f_point),
        rng.uniform(0.0, 0.25),
        rng.uniform(-0.05, 0.15),
        rng.uniform(0.0, 0.1),
        rng.uniform(0.0, 0.1),
    )
    comps = host.components() + [Component("point", fluxes_from_mags(point_mags))]
    return ObjectModel("blue_core", tuple(comps))


def _red_extended(rng) -> ObjectModel:
    i_mag = draw_magnitude(rng, *SAMPLE_I_RANGE)
    mags = mags_from_colors(
        i_mag, rng.uniform(1.65, 2.0), rng.uniform(0.65, 0.95), rng.uniform(0.4, 0.6), rng.uniform(0.2, 0.35)
    )
    total = fluxes_from_mags(mags)
    bulge = split_fraction(rng.uniform(0.55, 0.8), {"g": 0.15, "r": 0.05, "z": -0.03, "y": -0.05})
    r50, q, beta = rng.uniform(2.2, 3.8), rng.uniform(0.6, 0.95), rng.uniform(0, np.pi)
    comps = [
        Component("devaucouleurs", {b: total[b] * bulge[b] for b in BANDS}, r50, q, beta),
        Component("exponential", {b: total[b] * (1 - bulge[b]) for b in BANDS}, 1.5 * r50, q, beta),
    ]
    for _ in range(int(rng.integers(3, 7))):  # red cluster members
        sep, ang = rng.uniform(3.0, 9.0), rng.uniform(0, 2 * np.pi)
        member = draw_galaxy(rng, rng.uniform(21.0, 23.5), size_scale=0.7, red=True)
        member = replace(
            member, mags=mags_from_colors(member.mags["i"], rng.uniform(1.5, 1.8), rng.uniform(0.55, 0.8), 0.4, 0.2)
        )
        comps += member.components(sep * np.cos(ang), sep * np.sin(ang), in_object=False)
    return ObjectModel("red_extended", tuple(comps), close_probability=0.0)


def _streak(rng, bands: tuple[str, ...]) -> ObjectModel:
    band = str(rng.choice(bands))
    if rng.random() < 0.6:
        sigma = PSF_FWHM[band] / 2.3548 / PIXEL_SCALE
        streak = Streak(
            band,
            "satellite",
            float(rng.uniform(0, np.pi)),
            float(rng.choice([-1, 1]) * rng.uniform(6, 40)),
            0.0,
            float("inf"),
            float(sigma),
            float(rng.uniform(0.3, 1.2)),
        )
    else:
        streak = Streak(
            band,
            "cosmic_ray",
            float(rng.uniform(0, np.pi)),
            float(rng.choice([-1, 1]) * rng.uniform(6, 30)),
            float(rng.uniform(-30, 30)),
            float(rng.uniform(15, 60)),
            float(rng.uniform(0.4, 0.7)),
            float(rng.uniform(5, 30)),
        )
    return ObjectModel("streak", tuple(draw_sample_galaxy(rng).components()), streaks=(streak,))


def _empty_noise(rng) -> ObjectModel:
    if rng.random() < 0.55:  # noise-dominated: few visits in some bands
        noisy = tuple(b for b in BANDS if rng.random() < 0.6) or ("i",)
        scale = {b: float(rng.uniform(4.0, 10.0)) if b in noisy else float(rng.uniform(1.2, 2.0)) for b in BANDS}
        comps = draw_sample_galaxy(rng).components()
        return ObjectModel("empty_noise", tuple(comps), noise_scale=scale, low_coverage_bands=noisy)
    # empty: a huge, very diffuse source carries the catalogued flux
    i_mag = draw_magnitude(rng, *SAMPLE_I_RANGE)
    mags = mags_from_colors(i_mag, rng.uniform(0.4, 1.2), rng.uniform(0.1, 0.5), 0.2, 0.1)
    comps = (
        Component(
            "exponential",
            fluxes_from_mags(mags),
            float(rng.uniform(4.0, 8.0)),
            float(rng.uniform(0.5, 1.0)),
            float(rng.uniform(0, np.pi)),
        ),
    )
    return ObjectModel("empty_noise", comps, close_probability=0.0)


def _bad_deblend(rng) -> ObjectModel:
    main = draw_sample_galaxy(rng)
    comps = main.components()
    ang = rng.uniform(0, 2 * np.pi)
    if rng.random() < 0.7:
        sep = rng.uniform(0.7, 1.6)
        other = draw_galaxy(rng, main.mags["i"] - rng.uniform(0.5, 2.0), size_scale=rng.uniform(1.0, 1.8))
        comps += other.components(sep * np.cos(ang), sep * np.sin(ang), in_object=False)
    else:
        sep = rng.uniform(0.8, 1.5)
        g_i = rng.uniform(0.3, 2.6)
        star = mags_from_colors(rng.uniform(18.0, 19.0), 0.64 * g_i + 0.05, 0.36 * g_i - 0.05, 0.17 * g_i, 0.07 * g_i)
        comps.append(
            Component(
                "point",
                fluxes_from_mags(star),
                dx=float(sep * np.cos(ang)),
                dy=float(sep * np.sin(ang)),
                in_object=False,
            )
        )
    return ObjectModel("bad_deblend", tuple(comps), close_probability=0.0)


def build_object(
    anomaly_class: str, rng: np.random.Generator, *, bands: tuple[str, ...], in_mask: bool = False
) -> ObjectModel:
    """The model of one catalogued object of ``anomaly_class``.

    Args:
        anomaly_class: ``normal`` or one of :data:`ANOMALY_CLASSES`.
        rng: the object's random generator.
        bands: bands that get cutouts (a streak appears in one of them).
        in_mask: for ``normal`` objects, place it inside a bright-star mask.
    """
    if anomaly_class == NORMAL:
        placement = PLACE_MASK if in_mask else PLACE_CLEAN
        return ObjectModel(NORMAL, tuple(draw_sample_galaxy(rng).components()), placement=placement)
    if anomaly_class == "bright_star":
        return ObjectModel("bright_star", tuple(draw_sample_galaxy(rng).components()), placement=PLACE_HALO)
    builders = {
        "merger_tidal": _merger,
        "blue_clumpy": _blue_clumpy,
        "blue_core": _blue_core,
        "red_extended": _red_extended,
        "empty_noise": _empty_noise,
        "bad_deblend": _bad_deblend,
    }
    if anomaly_class == "streak":
        return _streak(rng, bands)
    if anomaly_class not in builders:
        raise ValueError(f"unknown anomaly class {anomaly_class!r}; expected one of {ALL_CLASSES}")
    return builders[anomaly_class](rng)
