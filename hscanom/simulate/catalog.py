"""CAS catalog rows of simulated objects, and the CAS CSV format.

Every value of a catalogued object comes from its light model or from measurements on its
noiseless model images (:mod:`hscanom.simulate.measure`):

* ``{band}_cmodel_mag``: the model's total magnitude (the flux drawn in the pixels);
  ``_magsigma`` from the sky noise over the model's noise-equivalent area plus photon noise;
  ``_fracdev``: the de Vaucouleurs share of the flux;
* ``{band}_psfflux_mag``: PSF-weighted flux of the PSF-convolved model;
* ``{band}_extendedness_value``: 1 when ``psf_flux / cmodel_flux < 0.985`` (the HSC definition);
* ``{band}_blendedness_abs_flux``: ``1 - flux(child) / flux(parent)`` weighted by the child's
  model, from the noiseless images of the object and of everything else in its cutout, plus a
  noise floor of order ``1 / S/N``;
* ``{i,r}_cmodel_exp_ellipse_*``: second moments (arcsec^2) of the half-light ellipse of the
  unconvolved model, so ``(I11*I22 - I12^2)**0.25`` is its half-light radius; the de Vaucouleurs
  ellipse is larger by ``1 + 0.35 * (1 - fracdev)``; ``_ellipse`` is their fracdev-weighted mean;
* ``{r,i}_convolvedflux_3_20_flux``: flux within 2" of the model convolved to a 1.344" Gaussian;
* pixel flags: bits of the MASK plane in the object's footprint (or central 3x3 pixels);
* ``{band}_localbackground_flux``: residual background plus scattered star light in a 7-15 pixel
  annulus, nJy per pixel.

Bands without cutouts take blendedness and the band-independent pixel flags (edge, saturated,
interpolated, bright_object) from the i band (or the first band with cutouts). Fluxes are in
nJy, magnitudes AB, moments arcsec^2, angles deg.

CSV format (:func:`format_csv`): the header line is ``# `` followed by the comma-separated
:data:`~hscanom.schema.columns.HSC_COLUMNS` names; booleans are ``True``/``False``; a failed
measurement is ``NaN``; a missing value (SQL NULL, e.g. no forced2 match) is an empty field;
integers are written exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hscanom.schema.columns import BANDS, HSC_COLUMNS, PIXEL_FLAGS
from hscanom.simulate.anomalies import ObjectModel
from hscanom.simulate.components import half_light_radius, moments, shape_tensor
from hscanom.simulate.cutouts import BandMeasurement, CutoutSpec, ObjectMeasurement
from hscanom.simulate.survey import (
    EXTINCTION_COEFF,
    NJY_PER_COUNT,
    NOMINAL_VISITS,
    counts_to_mag,
    effective_gain,
    mag_to_njy,
    psf_effective_pixels,
)

_MAG_ERR = 2.5 / np.log(10.0)
#: Flags that depend on the band's own data (not copied to bands without cutouts).
_BAND_SPECIFIC = {
    "cr",
    "crcenter",
    "clipped",
    "clippedcenter",
    "rejected",
    "rejectedcenter",
    "inexact_psf",
    "inexact_psfcenter",
}
#: Per-row probabilities of the CAS oddities in columns no cut uses.
NULL_RATES: dict[str, float] = {
    "no_forced2": 0.002,  # no forced2 match: every psfflux column empty (NULL)
    "psf_failed": 0.004,  # z or y PSF flux failed: NaN with the flag set
    "blendedness_failed": 0.005,  # y blendedness failed
    "extendedness_failed": 0.005,  # z or y extendedness failed
    "no_localbackground": 0.003,  # z or y local background NULL
}


def _reference_band(bands: tuple[str, ...]) -> str | None:
    return "i" if "i" in bands else (bands[0] if bands else None)


def _ellipses(model: ObjectModel, band: str, fracdev: float) -> dict[str, tuple[float, float, float]]:
    obj = [c for c in model.components if c.in_object]
    shape = shape_tensor(obj, band)
    r50 = half_light_radius(obj, band)
    exp = np.array(moments(shape, r50))
    dev = np.array(moments(shape, r50 * (1.0 + 0.35 * (1.0 - fracdev))))
    return {"exp_ellipse": tuple(exp), "dev_ellipse": tuple(dev), "ellipse": tuple(fracdev * dev + (1 - fracdev) * exp)}


def catalog_row(
    *,
    object_id: int,
    parent_id: int,
    ra: float,
    dec: float,
    tract: int,
    patch: tuple[int, int],
    model: ObjectModel,
    spec: CutoutSpec,
    measurement: ObjectMeasurement,
    ebv: float,
    rng: np.random.Generator,
) -> dict[str, object]:
    """All :data:`HSC_COLUMNS` of one object that passes the cuts (Python scalars; None = NULL).

    Args:
        object_id, parent_id: ids; ``parent_id`` is used when the object has a close neighbour.
        ra, dec: position, deg.
        tract, patch: sky-map tract and patch ``(x, y)``.
        model: the object's light model.
        spec: its render spec (noise levels, PSF, bands with cutouts).
        measurement: measurements on its model images.
        ebv: Galactic E(B-V) at the position, mag.
        rng: the row's random generator (input counts, noise floor, CAS oddities).
    """
    row: dict[str, object] = {
        "object_id": int(object_id),
        "ra": float(ra),
        "dec": float(dec),
        "tract": int(tract),
        "patch": int(100 * patch[0] + patch[1]),
        "parent_id": int(parent_id) if measurement.close_neighbour else 0,
        "isprimary": True,
        "nchild": 0,
    }
    obj = [c for c in model.components if c.in_object]
    ref = _reference_band(spec.bands)
    ref_meas = measurement.bands[ref] if ref else None
    for b in BANDS:
        row[f"a_{b}"] = float(EXTINCTION_COEFF[b] * ebv)
    for b in BANDS:
        m: BandMeasurement = measurement.bands[b]
        flux = sum(c.flux[b] for c in obj)
        fracdev = sum(c.flux[b] for c in obj if c.profile == "devaucouleurs") / flux
        sigma, gain = spec.sky_sigma[b], effective_gain(b)
        flux_err = np.sqrt(sigma**2 * m.n_eff + flux / gain)
        psf_err = np.sqrt(sigma**2 * psf_effective_pixels(spec.psf_fwhm[b]) + max(m.psf_flux, 0.0) / gain)
        row[f"{b}_cmodel_mag"] = float(counts_to_mag(flux))
        row[f"{b}_cmodel_magsigma"] = float(_MAG_ERR * flux_err / flux)
        row[f"{b}_cmodel_fracdev"] = float(fracdev)
        row[f"{b}_cmodel_flag"] = False
        row[f"{b}_psfflux_mag"] = float(counts_to_mag(m.psf_flux))
        row[f"{b}_psfflux_magsigma"] = float(_MAG_ERR * psf_err / m.psf_flux) if m.psf_flux > 0 else float("nan")
        row[f"{b}_psfflux_flag"] = False
        flags = (
            m.flags
            if m.flags is not None
            else {f: (False if f in _BAND_SPECIFIC or ref_meas is None else ref_meas.flags[f]) for f in PIXEL_FLAGS}
        )
        for f in PIXEL_FLAGS:
            row[f"{b}_pixelflags_{f}"] = bool(flags[f])
        if m.blendedness is not None:
            blend = m.blendedness
        elif ref_meas is not None:
            blend = ref_meas.blendedness
        else:
            blend = float(rng.uniform(0.0, 0.02) + (rng.uniform(0.02, 0.2) if measurement.close_neighbour else 0.0))
        row[f"{b}_blendedness_abs_flux"] = float(blend + abs(rng.normal(0.0, 0.3 * flux_err / flux)))
        row[f"{b}_blendedness_flag"] = False
        visits = int(np.clip(rng.normal(NOMINAL_VISITS[b], 1.0), 3, 2 * NOMINAL_VISITS[b]))
        row[f"{b}_inputcount_value"] = 3 if b in model.low_coverage_bands else visits
        row[f"{b}_extendedness_value"] = 1.0 if m.psf_flux / flux < 0.985 else 0.0
        row[f"{b}_extendedness_flag"] = False
        row[f"{b}_localbackground_flux"] = float(m.local_background * NJY_PER_COUNT)
    for b in ("i", "r"):
        for name, values in _ellipses(model, b, row[f"{b}_cmodel_fracdev"]).items():
            for key, v in zip(("11", "22", "12"), values):
                row[f"{b}_cmodel_{name}_{key}"] = float(v)
    for b in ("r", "i"):
        row[f"{b}_convolvedflux_3_20_flux"] = float(measurement.bands[b].aperture_flux * NJY_PER_COUNT)
    for b in ("g", "r", "i"):
        row[f"{b}_cmodel_flux"] = float(mag_to_njy(row[f"{b}_cmodel_mag"]))
    _inject_oddities(row, rng)
    return {c.name: row[c.name] for c in HSC_COLUMNS}


def _inject_oddities(row: dict[str, object], rng: np.random.Generator) -> None:
    """NULLs and failed measurements in columns no cut uses, at :data:`NULL_RATES`."""
    draws = rng.random(len(NULL_RATES))
    odd = dict(zip(NULL_RATES, draws < np.array(list(NULL_RATES.values()))))
    band = str(rng.choice(["z", "y"]))
    if odd["no_forced2"]:
        for b in BANDS:
            for suffix in ("psfflux_mag", "psfflux_magsigma", "psfflux_flag"):
                row[f"{b}_{suffix}"] = None
    elif odd["psf_failed"]:
        row[f"{band}_psfflux_mag"] = row[f"{band}_psfflux_magsigma"] = float("nan")
        row[f"{band}_psfflux_flag"] = True
    if odd["blendedness_failed"]:
        row["y_blendedness_abs_flux"] = float("nan")
        row["y_blendedness_flag"] = True
    if odd["extendedness_failed"]:
        row[f"{band}_extendedness_value"] = float("nan")
        row[f"{band}_extendedness_flag"] = True
    if odd["no_localbackground"]:
        row[f"{band}_localbackground_flux"] = None


def apply_failure(row: dict[str, object], cut: str, rng: np.random.Generator) -> None:
    """Make ``row`` fail exactly the cut ``cut`` of :data:`hscanom.simulate.cuts.CUTS`.

    ``i_cmodel_mag`` and ``bright_object`` rows are made so by their model and position (an
    i magnitude outside the range; a position inside a bright_object zone); this sets the
    flags that go with them.
    """
    band = str(rng.choice(BANDS))
    if cut == "isprimary":
        row["isprimary"] = False
    elif cut == "nchild":
        row["nchild"] = int(rng.integers(2, 6))
    elif cut == "inputcount":
        row[f"{band}_inputcount_value"] = int(rng.integers(1, 3))
    elif cut == "bright_object":
        for b in BANDS:
            row[f"{b}_pixelflags_bright_object"] = True
            row[f"{b}_pixelflags_bright_objectcenter"] = True
    elif cut == "edge":
        row[f"{band}_pixelflags_edge"] = True
    elif cut == "saturatedcenter":
        row[f"{band}_pixelflags_saturated"] = row[f"{band}_pixelflags_saturatedcenter"] = True
    elif cut == "interpolatedcenter":
        row[f"{band}_pixelflags_interpolated"] = row[f"{band}_pixelflags_interpolatedcenter"] = True
    elif cut == "crcenter":
        row[f"{band}_pixelflags_cr"] = row[f"{band}_pixelflags_crcenter"] = True
    elif cut == "cmodel_flag":
        row[f"{band}_cmodel_flag"] = True
    elif cut != "i_cmodel_mag":
        raise ValueError(f"unknown cut {cut!r}")


def _format(value: object, kind: str) -> str:
    if value is None:
        return ""
    if kind == "boolean":
        return "True" if value else "False"
    if kind in ("bigint", "integer"):
        return str(int(value))
    if kind == "double":
        v = float(value)
        return "NaN" if np.isnan(v) else format(v, ".10g")
    return str(value)


def format_csv(rows: list[dict[str, object]]) -> str:
    """CAS CSV text of ``rows`` (dicts keyed by every HSC column name)."""
    kinds = [(c.name, c.kind if c.name not in ("ra", "dec") else "coordinate") for c in HSC_COLUMNS]
    lines = ["# " + ",".join(c.name for c in HSC_COLUMNS)]
    for row in rows:
        fields = []
        for name, kind in kinds:
            value = row[name]
            fields.append(format(float(value), ".10f") if kind == "coordinate" else _format(value, kind))
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


def write_catalog(path: Path, rows: list[dict[str, object]]) -> None:
    """Write ``rows`` as a CAS CSV file."""
    Path(path).write_text(format_csv(rows))


def columns_of(rows: list[dict[str, object]]) -> dict[str, np.ndarray]:
    """Column arrays of ``rows`` (object dtype where NULLs occur)."""
    return {c.name: np.array([r[c.name] for r in rows], dtype=object) for c in HSC_COLUMNS}
