"""Render one object's cutouts, write them as HSC cutout-service FITS files, and measure them.

A cutout file ``{object_id}_HSC-{G,R,I}.fits`` holds, like the HSC data access service output:

* primary HDU: header only (``FILTER``, ``OBJECTID``, ``TRACT``, ``PATCH``, ``FLUXMAG0``);
* ``IMAGE``: float32 flux, coadd counts with zero point 27 AB mag, background-subtracted, with a
  TAN WCS (0.168"/pixel, north up, east left) of the tract, the ``LTV`` offsets and the
  alternate ``PARENT`` WCS (``A``) giving tract pixel coordinates;
* ``MASK``: int32 bit mask with the LSST/HSC plane bits (``MP_*`` header keywords);
* ``VARIANCE``: float32 variance, counts^2 (sky plus source photon noise).

The object is placed a few pixels plus a sub-pixel fraction away from the cutout centre; its
catalog position maps through the WCS to that pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import galsim
import numpy as np

from hscanom.schema.columns import BANDS, PIXEL_FLAGS
from hscanom.simulate import measure
from hscanom.simulate.anomalies import ObjectModel
from hscanom.simulate.artifacts import streak_image
from hscanom.simulate.components import DEV_TRUNCATION, Component
from hscanom.simulate.fitsfile import write_fits
from hscanom.simulate.galaxies import draw_neighbours
from hscanom.simulate.seeding import Stream, rng
from hscanom.simulate.starlight import NearbyStar, star_light, zone_mask
from hscanom.simulate.survey import (
    CUTOUT_SIZE,
    FILTER_NAMES,
    PIXEL_SCALE,
    PSF_BETA,
    SATURATION_COUNTS,
    ZERO_POINT,
    effective_gain,
    moffat_alpha,
)

#: Mask plane bits of LSST/HSC coadds.
MASK_PLANES: dict[str, int] = {
    "BAD": 0,
    "SAT": 1,
    "INTRP": 2,
    "CR": 3,
    "EDGE": 4,
    "DETECTED": 5,
    "DETECTED_NEGATIVE": 6,
    "SUSPECT": 7,
    "NO_DATA": 8,
    "BRIGHT_OBJECT": 9,
    "CLIPPED": 10,
    "CROSSTALK": 11,
    "INEXACT_PSF": 12,
    "NOT_DEBLENDED": 13,
    "REJECTED": 14,
    "SENSOR_EDGE": 15,
    "UNMASKEDNAN": 16,
}
#: Mask plane behind each catalog pixel flag (the ``...center`` flags use the central 3x3 pixels).
FLAG_PLANES: dict[str, str] = {
    "edge": "EDGE",
    "interpolated": "INTRP",
    "saturated": "SAT",
    "cr": "CR",
    "clipped": "CLIPPED",
    "rejected": "REJECTED",
    "inexact_psf": "INEXACT_PSF",
    "bright_object": "BRIGHT_OBJECT",
}
#: Stamp side for measurements in bands without cutouts, pixels.
_STAMP = 64
#: Stars closer than this to the cutout (pixels beyond its edge) get their PSF core drawn.
_CORE_MARGIN = 40
#: Per cutout and band: probability of a region of INEXACT_PSF, of REJECTED, and of a CR residue.
DEFECT_RATES: dict[str, float] = {"INEXACT_PSF": 0.03, "REJECTED": 0.015, "CR": 0.02}
#: Point sources brighter than this (counts; i = 18.75) are drawn in real space.
_BRIGHT_POINT_COUNTS = 2000.0
#: Sources outside the object fainter than this (counts; i = 24.5) are drawn as Gaussians.
_FAINT_COUNTS = 10.0


def cutout_filename(object_id: int, band: str) -> str:
    """File name of a cutout, e.g. ``36411448540270969_HSC-I.fits``."""
    return f"{int(object_id)}_{FILTER_NAMES[band]}.fits"


@dataclass(frozen=True)
class CutoutSpec:
    """Everything a worker needs to render and measure one object (picklable).

    Attributes:
        index: object index in the simulation (seeds its random stream).
        seed: simulation seed.
        object_id: HSC object id.
        model: the object's light model.
        x0, y0: object position in the cutout, pixels (0-based).
        wcs: FITS WCS keywords of the cutout.
        tract, patch: sky-map tract and patch ``(x, y)``.
        psf_fwhm: PSF FWHM per band, arcsec.
        sky_sigma: sky noise per band, counts per pixel.
        pedestal: residual background per band, counts per pixel.
        stars: catalogued bright stars whose light reaches the cutout.
        footprint_radius: radius of the object's footprint for the pixel flags, pixels.
        bands: bands to write.
        out_dir: directory of the cutout files.
    """

    index: int
    seed: int
    object_id: int
    model: ObjectModel
    x0: float
    y0: float
    wcs: dict[str, object]
    tract: int
    patch: tuple[int, int]
    psf_fwhm: dict[str, float]
    sky_sigma: dict[str, float]
    pedestal: dict[str, float]
    stars: tuple[NearbyStar, ...]
    footprint_radius: float
    bands: tuple[str, ...]
    out_dir: str


@dataclass
class BandMeasurement:
    """Measurements of one object in one band (fluxes in counts).

    ``blendedness`` and ``flags`` are ``None`` for bands without cutouts.
    """

    psf_flux: float
    n_eff: float
    local_background: float
    aperture_flux: float | None = None
    blendedness: float | None = None
    flags: dict[str, bool] | None = None


@dataclass
class ObjectMeasurement:
    """Measurements of one object: per band, and whether a source sits within 3"."""

    index: int
    bands: dict[str, BandMeasurement] = field(default_factory=dict)
    close_neighbour: bool = False


def _psf(fwhm: float) -> galsim.GSObject:
    return galsim.Moffat(beta=PSF_BETA, fwhm=fwhm)


def _extent(component: Component) -> float:
    """Radius (arcsec) that holds essentially all of a component's light before convolution."""
    factor = {"devaucouleurs": DEV_TRUNCATION, "exponential": 6.0, "gaussian": 3.0, "point": 0.0}[component.profile]
    return factor * component.r50


def _psf_reach(flux: float, fwhm: float) -> float:
    """Radius (arcsec) beyond which the Moffat PSF of a ``flux``-count source is below 0.005 counts/pixel."""
    alpha = moffat_alpha(fwhm, PSF_BETA)
    peak = flux * (PSF_BETA - 1.0) / (np.pi * (alpha / PIXEL_SCALE) ** 2)
    reach = alpha * np.sqrt(max((peak / 0.005) ** (1.0 / PSF_BETA) - 1.0, 0.0))
    return float(max(4.0 * fwhm, reach))


def _sources(components: list[Component]) -> list[list[Component]]:
    """Group components by position: one group per source (e.g. a bulge and its disk)."""
    groups: dict[tuple[float, float], list[Component]] = {}
    for c in components:
        groups.setdefault((c.dx, c.dy), []).append(c)
    return list(groups.values())


def _add_gaussian(image: np.ndarray, flux: float, sigma_pix: float, x: float, y: float) -> None:
    """Add a round Gaussian (pixel-centre sampled, normalised on its stamp) to ``image``."""
    half = int(np.ceil(4.0 * sigma_pix))
    ix, iy = int(round(x)), int(round(y))
    x0, x1 = max(ix - half, 0), min(ix + half + 1, image.shape[1])
    y0, y1 = max(iy - half, 0), min(iy + half + 1, image.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    j, i = np.mgrid[iy - half : iy + half + 1, ix - half : ix + half + 1]
    g = np.exp(-0.5 * ((i - x) ** 2 + (j - y) ** 2) / sigma_pix**2)
    g *= flux / g.sum()
    image[y0:y1, x0:x1] += g[y0 - (iy - half) : y1 - (iy - half), x0 - (ix - half) : x1 - (ix - half)]


def _draw(
    components: list[Component], band: str, psf: galsim.GSObject, fwhm: float, size: int, x: float, y: float
) -> np.ndarray:
    """Image (counts, ``(size, size)``) of ``components`` convolved with ``psf``; their origin at pixel (x, y).

    Each source is drawn by GalSim on a stamp just large enough for it and added in place; bright
    point sources are the PSF profile evaluated at pixel centres.
    Faint sources outside the object (under :data:`_FAINT_COUNTS`) are drawn as Gaussians of the
    same second moments, which is invisible at their signal-to-noise.
    """
    image = np.zeros((size, size))
    for group in _sources(components):
        flux = sum(c.flux[band] for c in group)
        if flux <= 0:
            continue
        cx = x + group[0].dx / PIXEL_SCALE
        cy = y + group[0].dy / PIXEL_SCALE
        if not any(c.in_object for c in group) and flux < _FAINT_COUNTS:
            r50 = sum(c.flux[band] * c.r50 for c in group) / flux
            sigma = np.hypot(r50 / 1.1774, fwhm / 2.3548) / PIXEL_SCALE
            _add_gaussian(image, flux, sigma, cx, cy)
            continue
        radius = max(_extent(c) for c in group) + _psf_reach(flux, fwhm)
        half = int(min(max(np.ceil(radius / PIXEL_SCALE), 12), size))
        ix, iy = int(round(cx)), int(round(cy))
        x0, x1 = max(ix - half, 0), min(ix + half, size)
        y0, y1 = max(iy - half, 0), min(iy + half, size)
        if x0 >= x1 or y0 >= y1:
            continue
        stamp = galsim.ImageF(2 * half, 2 * half, scale=PIXEL_SCALE)
        # stamp pixel k covers cutout pixel ix - half + k; its true centre is at index half - 0.5
        offset = (cx - ix + 0.5, cy - iy + 0.5)
        if len(group) == 1 and group[0].profile == "point" and flux > _BRIGHT_POINT_COUNTS:
            # bright stars: the PSF evaluated in real space (an FFT's relative errors would show)
            psf.withFlux(flux).drawImage(image=stamp, offset=offset, method="no_pixel")
        else:
            objs = [c.gsobject(band, centred=True) for c in group]
            profile = galsim.Convolve(galsim.Add(objs) if len(objs) > 1 else objs[0], psf)
            profile.drawImage(image=stamp, offset=offset)
        image[y0:y1, x0:x1] += stamp.array[y0 - (iy - half) : y1 - (iy - half), x0 - (ix - half) : x1 - (ix - half)]
    return image


def _star_cores(spec: CutoutSpec) -> list[Component]:
    """Point components of catalogued stars close enough to the cutout to show their core."""
    out = []
    for s in spec.stars:
        xs, ys = spec.x0 + s.dx / PIXEL_SCALE, spec.y0 + s.dy / PIXEL_SCALE
        if -_CORE_MARGIN < xs < CUTOUT_SIZE + _CORE_MARGIN and -_CORE_MARGIN < ys < CUTOUT_SIZE + _CORE_MARGIN:
            out.append(Component("point", s.flux, dx=s.dx, dy=s.dy, in_object=False))
    return out


def _flags(mask: np.ndarray, x0: float, y0: float, footprint_radius: float) -> dict[str, bool]:
    """Catalog pixel flags from the mask plane: any bit in the footprint / the central 3x3."""
    footprint = measure.radius_map(mask.shape, x0, y0) <= footprint_radius
    ci, cj = int(round(x0)), int(round(y0))
    centre = mask[cj - 1 : cj + 2, ci - 1 : ci + 2]
    out = {}
    for flag in PIXEL_FLAGS:
        base = flag.removesuffix("center")
        bit = np.int32(1 << MASK_PLANES[FLAG_PLANES[base]])
        region = centre if flag.endswith("center") else mask[footprint]
        out[flag] = bool(np.any(region & bit))
    return out


def write_cutout(
    path: Path,
    *,
    image: np.ndarray,
    mask: np.ndarray,
    variance: np.ndarray,
    wcs: dict[str, object],
    band: str,
    object_id: int,
    tract: int,
    patch: tuple[int, int],
) -> None:
    """Write one cutout file (primary header + IMAGE, MASK, VARIANCE)."""
    primary = [
        ("FILTER", FILTER_NAMES[band], "HSC filter"),
        ("OBJECTID", int(object_id), "HSC object_id of the requested object"),
        ("TRACT", int(tract), "Sky-map tract"),
        ("PATCH", f"{patch[0]},{patch[1]}", "Sky-map patch (x,y)"),
        ("FLUXMAG0", 10.0 ** (0.4 * ZERO_POINT), "Flux of a zero-magnitude (AB) source"),
        ("TELESCOP", "Subaru", ""),
        ("INSTRUME", "Hyper Suprime-Cam", ""),
        ("ORIGIN", "hscanom simulator", ""),
    ]
    wcs_cards = [(k, v, "") for k, v in wcs.items()]
    mask_cards = [(f"MP_{name}", bit, "") for name, bit in MASK_PLANES.items()]
    write_fits(
        path,
        primary,
        [
            ("IMAGE", image.astype(np.float32), wcs_cards),
            ("MASK", mask.astype(np.int32), wcs_cards + mask_cards),
            ("VARIANCE", variance.astype(np.float32), wcs_cards),
        ],
    )


def _coadd_defects(random: np.random.Generator, mask: np.ndarray, artefacts: np.ndarray, x0: float, y0: float) -> None:
    """Everyday coadd defects, at :data:`DEFECT_RATES` per cutout and band.

    A half-plane of ``INEXACT_PSF`` (a PSF-model discontinuity between input visits) or of
    ``REJECTED`` (inputs rejected there), and a small cosmic-ray residue (2-4 pixels, flagged
    ``CR``) at least 4 pixels from the object. ``artefacts`` receives the residue's counts.
    """
    size = mask.shape[0]
    draws = random.random(len(DEFECT_RATES))
    j, i = np.indices(mask.shape)
    for (plane, rate), u in zip(DEFECT_RATES.items(), draws):
        if u >= rate:
            continue
        if plane == "CR":
            while True:
                cx, cy = (int(v) for v in random.integers(2, size - 3, 2))
                if abs(cx - x0) > 4 or abs(cy - y0) > 4:
                    break
            hits = [(cy, cx)] + [
                (cy + int(a), cx + int(b)) for a, b in random.integers(-1, 2, (int(random.integers(1, 4)), 2))
            ]
            for py, px in hits:
                artefacts[py, px] += random.uniform(2.0, 20.0)
                mask[py, px] |= 1 << MASK_PLANES["CR"]
        else:
            theta = random.uniform(0, 2 * np.pi)
            a, b = random.uniform(0, size, 2)
            mask[(i - a) * np.cos(theta) + (j - b) * np.sin(theta) > 0] |= 1 << MASK_PLANES[plane]


def render_object(spec: CutoutSpec) -> ObjectMeasurement:
    """Render, write and measure one object. Deterministic in ``(spec.seed, spec.index)``."""
    random = rng(spec.seed, Stream.RENDER, spec.index)
    model = spec.model
    neighbours = draw_neighbours(random, exclusion=3.0, close_probability=model.close_probability)
    obj = [c for c in model.components if c.in_object]
    others = [c for c in model.components if not c.in_object] + neighbours + _star_cores(spec)
    close = any(np.hypot(c.dx, c.dy) < 3.0 and c.flux["i"] > 10.0 for c in others)
    result = ObjectMeasurement(spec.index, close_neighbour=close)

    size = CUTOUT_SIZE
    stamp_half = (_STAMP - 1) / 2.0
    lo = _STAMP // 2 - 1  # the object's whole pixel in a measurement stamp
    stamp_x = lo + (spec.x0 - np.floor(spec.x0))
    stamp_y = lo + (spec.y0 - np.floor(spec.y0))
    out_dir = Path(spec.out_dir)
    for band in BANDS:
        fwhm = spec.psf_fwhm[band]
        psf = _psf(fwhm)
        psf_stamp = psf.drawImage(
            nx=_STAMP, ny=_STAMP, scale=PIXEL_SCALE, offset=(stamp_x - stamp_half, stamp_y - stamp_half)
        ).array.astype(np.float64)
        aperture = None
        if band in ("r", "i"):
            target = galsim.Gaussian(fwhm=measure.CONVOLVED_FWHM)
            convolved = _draw(obj, band, target, measure.CONVOLVED_FWHM, _STAMP, stamp_half, stamp_half)
            aperture = measure.aperture_flux(
                convolved, stamp_half, stamp_half, measure.CONVOLVED_APERTURE / PIXEL_SCALE
            )
        light = np.zeros((size, size))
        for star in spec.stars:
            light += star_light(star, band, spec.x0, spec.y0, size)
        local_bg = spec.pedestal[band] + measure.annulus_mean(
            light, spec.x0, spec.y0, *measure.LOCAL_BACKGROUND_ANNULUS
        )

        if band not in spec.bands:
            stamp = _draw(obj, band, psf, fwhm, _STAMP, stamp_x, stamp_y)
            result.bands[band] = BandMeasurement(
                measure.psf_flux(stamp, psf_stamp), measure.noise_equivalent_pixels(stamp), local_bg, aperture
            )
            continue

        model_obj = _draw(obj, band, psf, fwhm, size, spec.x0, spec.y0)
        model_other = _draw(others, band, psf, fwhm, size, spec.x0, spec.y0)
        artefacts = np.zeros((size, size))
        mask = np.zeros((size, size), dtype=np.int32)
        sigma = spec.sky_sigma[band]
        for streak in model.streaks:
            if streak.band != band:
                continue
            trail = streak_image(streak, spec.x0, spec.y0, size)
            artefacts += trail
            plane = "CR" if streak.kind == "cosmic_ray" else "CLIPPED"
            mask[trail > 3.0 * sigma] |= 1 << MASK_PLANES[plane]
        _coadd_defects(random, mask, artefacts, spec.x0, spec.y0)
        sources = model_obj + model_other
        total = sources + light + artefacts
        saturated = total > SATURATION_COUNTS
        total = np.minimum(total, SATURATION_COUNTS)
        mask[saturated] |= (1 << MASK_PLANES["SAT"]) | (1 << MASK_PLANES["INTRP"])
        mask[sources > sigma] |= 1 << MASK_PLANES["DETECTED"]
        for star in spec.stars:
            mask[zone_mask(star, spec.x0, spec.y0, size)] |= 1 << MASK_PLANES["BRIGHT_OBJECT"]

        variance = sigma**2 + np.clip(total, 0.0, None) / effective_gain(band)
        noise = random.standard_normal((size, size)) * np.sqrt(variance)
        image = total + spec.pedestal[band] + noise
        write_cutout(
            out_dir / cutout_filename(spec.object_id, band),
            image=image,
            mask=mask,
            variance=variance,
            wcs=spec.wcs,
            band=band,
            object_id=spec.object_id,
            tract=spec.tract,
            patch=spec.patch,
        )

        ix, iy = int(np.floor(spec.x0)), int(np.floor(spec.y0))
        window = np.zeros((_STAMP, _STAMP))
        src = model_obj[max(iy - lo, 0) : iy - lo + _STAMP, max(ix - lo, 0) : ix - lo + _STAMP]
        window[max(lo - iy, 0) : max(lo - iy, 0) + src.shape[0], max(lo - ix, 0) : max(lo - ix, 0) + src.shape[1]] = src
        result.bands[band] = BandMeasurement(
            psf_flux=measure.psf_flux(window, psf_stamp),
            n_eff=measure.noise_equivalent_pixels(model_obj),
            local_background=local_bg,
            aperture_flux=aperture,
            blendedness=measure.blendedness(model_obj, model_other + light + artefacts),
            flags=_flags(mask, spec.x0, spec.y0, spec.footprint_radius),
        )
    return result
