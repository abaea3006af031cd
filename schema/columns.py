"""The HSC PDR2 CAS columns that hscanom stores as typed columns of ``hsc_object``.

This is the one list of catalog columns in the project: the ORM model, the migration, the
catalog ingest (name matching and parsing) and the simulator (which writes CAS-format files)
all read it. The column set is the one of the Storey-Fisher et al. query on
``pdr2_wide.forced`` / ``forced2`` / ``meas`` (see docs/architecture.md, "Conventions the code cites").

Each entry is a :class:`HscColumn` with the SQL type, the unit (``None`` when dimensionless)
and a one-line description, which also becomes the PostgreSQL column comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: HSC broad bands in wavelength order.
BANDS: tuple[str, ...] = ("g", "r", "i", "z", "y")

#: Pixel-flag suffixes of ``{band}_pixelflags_{suffix}`` in PDR2 ``forced``.
PIXEL_FLAGS: tuple[str, ...] = (
    "edge",
    "interpolated",
    "saturated",
    "cr",
    "clipped",
    "rejected",
    "inexact_psf",
    "interpolatedcenter",
    "saturatedcenter",
    "crcenter",
    "clippedcenter",
    "rejectedcenter",
    "inexact_psfcenter",
    "bright_object",
    "bright_objectcenter",
)

Kind = Literal["bigint", "integer", "double", "boolean", "text"]


@dataclass(frozen=True)
class HscColumn:
    """One typed catalog column.

    Attributes:
        name: CAS column name (lower case), also the ``hsc_object`` column name.
        kind: storage type: ``bigint``, ``integer``, ``double``, ``boolean`` or ``text``.
        unit: physical unit as an astropy unit string, or ``None``.
        description: one line for the column comment and the release README.
        required: the row is rejected when this value is missing.
    """

    name: str
    kind: Kind
    unit: str | None
    description: str
    required: bool = False


def _per_band(pattern: str, kind: Kind, unit: str | None, description: str, bands=BANDS) -> list[HscColumn]:
    return [HscColumn(pattern.format(b=b), kind, unit, description.format(b=b)) for b in bands]


def _build() -> tuple[HscColumn, ...]:
    cols: list[HscColumn] = [
        HscColumn("object_id", "bigint", None, "HSC object id (64-bit integer)", required=True),
        HscColumn("ra", "double", "deg", "Right ascension (ICRS)", required=True),
        HscColumn("dec", "double", "deg", "Declination (ICRS)", required=True),
        HscColumn("tract", "integer", None, "Sky-map tract"),
        HscColumn("patch", "integer", None, "Sky-map patch (100*x + y)"),
        HscColumn("parent_id", "bigint", None, "Deblender parent object id (0 if none)"),
        HscColumn("isprimary", "boolean", None, "Primary detection (inner tract/patch, not a deblend parent)"),
        HscColumn("nchild", "integer", None, "Number of deblended children"),
    ]
    cols += _per_band("a_{b}", "double", "mag", "Galactic extinction in {b}")
    for b in BANDS:
        cols += [
            HscColumn(f"{b}_cmodel_mag", "double", "mag", f"CModel AB magnitude in {b}"),
            HscColumn(f"{b}_cmodel_magsigma", "double", "mag", f"CModel magnitude error in {b}"),
            HscColumn(f"{b}_cmodel_fracdev", "double", None, f"CModel fraction of flux in the de Vaucouleurs component, {b}"),
            HscColumn(f"{b}_cmodel_flag", "boolean", None, f"CModel failure flag in {b}"),
            HscColumn(f"{b}_psfflux_mag", "double", "mag", f"PSF AB magnitude in {b} (forced2)"),
            HscColumn(f"{b}_psfflux_magsigma", "double", "mag", f"PSF magnitude error in {b} (forced2)"),
            HscColumn(f"{b}_psfflux_flag", "boolean", None, f"PSF flux failure flag in {b} (forced2)"),
        ]
        cols += [
            HscColumn(f"{b}_pixelflags_{f}", "boolean", None, f"Pixel flag '{f}' set in {b}")
            for f in PIXEL_FLAGS
        ]
        cols += [
            HscColumn(f"{b}_blendedness_abs_flux", "double", None, f"Blendedness (absolute flux) in {b} (meas)"),
            HscColumn(f"{b}_blendedness_flag", "boolean", None, f"Blendedness failure flag in {b} (meas)"),
            HscColumn(f"{b}_inputcount_value", "integer", None, f"Number of input visits at the centre in {b}"),
            HscColumn(f"{b}_extendedness_value", "double", None, f"Extendedness (0 point source, 1 extended) in {b}"),
            HscColumn(f"{b}_extendedness_flag", "boolean", None, f"Extendedness failure flag in {b}"),
            HscColumn(f"{b}_localbackground_flux", "double", "nJy", f"Local background flux in {b}"),
        ]
    for b in ("i", "r"):
        for model, label in (("exp_ellipse", "exponential"), ("dev_ellipse", "de Vaucouleurs"), ("ellipse", "combined")):
            cols += [
                HscColumn(f"{b}_cmodel_{model}_{m}", "double", "arcsec2", f"CModel {label} ellipse second moment I{m} in {b} (meas)")
                for m in ("11", "22", "12")
            ]
    cols += _per_band("{b}_convolvedflux_3_20_flux", "double", "nJy", "Flux in a 2.0 arcsec aperture after PSF convolution to 3 arcsec (kron3_20) in {b}", bands=("r", "i"))
    cols += _per_band("{b}_cmodel_flux", "double", "nJy", "CModel flux in {b}", bands=("g", "r", "i"))
    return tuple(cols)


#: Every typed HSC column, in the order the CAS query returns them.
HSC_COLUMNS: tuple[HscColumn, ...] = _build()

#: Look-up by name.
HSC_COLUMNS_BY_NAME: dict[str, HscColumn] = {c.name: c for c in HSC_COLUMNS}

#: Columns without which a row cannot be stored.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in HSC_COLUMNS if c.required)
