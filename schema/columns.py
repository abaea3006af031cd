"""The HSC PDR2 CAS columns that hscanom stores as typed columns of ``hsc_object``.

This is the one list of catalog columns in the project: the ORM model, the migration, the
catalog ingest (name matching and parsing) and the simulator (which writes CAS-format files)
all read it. The column set is the one of the Storey-Fisher et al. query on
``pdr2_wide.forced`` / ``forced2`` / ``meas`` (see docs/architecture.md, "Conventions the code cites").

Each entry is a :class:`HscColumn` with the SQL type, the unit (``None`` when dimensionless)
and a one-line description, which also becomes the PostgreSQL column comment. Its base,
:class:`ColumnSpec`, is the project's one column-description type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


_UNIT_SUFFIX = re.compile(r"(.*\S)\s+\[([^\[\],]+)\]")


@dataclass(frozen=True)
class ColumnSpec:
    """What a column means, for every reader: its name, a one-line description and the unit.

    The one description type of the project: the HSC input columns (:class:`HscColumn`), the
    release files' columns (:mod:`hscanom.catalog.formats`) and the named queries' output
    columns (:class:`hscanom.sql.OutputColumn`) are all column specs. In PostgreSQL the same
    two live in the column comment, written ``description [unit]`` (:attr:`comment`) and read
    back by :meth:`from_comment`.

    Attributes:
        name: column name.
        description: one line, without the unit.
        unit: physical unit as an astropy (and, where FITS knows it, FITS) unit string, or
            ``None`` when dimensionless.
    """

    name: str
    description: str = ""
    unit: str | None = None

    @property
    def comment(self) -> str:
        """The PostgreSQL column comment: ``description [unit]``, or the description alone."""
        return f"{self.description} [{self.unit}]" if self.unit else self.description

    @classmethod
    def from_comment(cls, name: str, comment: str) -> ColumnSpec:
        """The spec a column comment written as :attr:`comment` writes it describes: a final
        ``[unit]`` (without commas, so that ``in [0, 1]`` stays text) is the unit."""
        m = _UNIT_SUFFIX.fullmatch(comment)
        return cls(name, m.group(1), m.group(2).strip()) if m else cls(name, comment)


@dataclass(frozen=True)
class HscColumn(ColumnSpec):
    """One typed catalog column: a :class:`ColumnSpec` (``name`` is the CAS column name, lower
    case, also the ``hsc_object`` column name; the description and unit become its comment)
    with how it is stored.

    Attributes:
        kind: storage type: ``bigint``, ``integer``, ``double``, ``boolean`` or ``text``.
        required: the row is rejected when this value is missing.
    """

    kind: Kind = field(kw_only=True)
    required: bool = field(default=False, kw_only=True)


def _per_band(pattern: str, kind: Kind, unit: str | None, description: str, bands=BANDS) -> list[HscColumn]:
    return [HscColumn(pattern.format(b=b), description.format(b=b), unit, kind=kind) for b in bands]


def _build() -> tuple[HscColumn, ...]:
    cols: list[HscColumn] = [
        HscColumn("object_id", "HSC object id (64-bit integer)", None, kind="bigint", required=True),
        HscColumn("ra", "Right ascension (ICRS)", "deg", kind="double", required=True),
        HscColumn("dec", "Declination (ICRS)", "deg", kind="double", required=True),
        HscColumn("tract", "Sky-map tract", None, kind="integer"),
        HscColumn("patch", "Sky-map patch (100*x + y)", None, kind="integer"),
        HscColumn("parent_id", "Deblender parent object id (0 if none)", None, kind="bigint"),
        HscColumn("isprimary", "Primary detection (inner tract/patch, not a deblend parent)", None, kind="boolean"),
        HscColumn("nchild", "Number of deblended children", None, kind="integer"),
    ]
    cols += _per_band("a_{b}", "double", "mag", "Galactic extinction in {b}")
    for b in BANDS:
        cols += [
            HscColumn(f"{b}_cmodel_mag", f"CModel AB magnitude in {b}", "mag", kind="double"),
            HscColumn(f"{b}_cmodel_magsigma", f"CModel magnitude error in {b}", "mag", kind="double"),
            HscColumn(f"{b}_cmodel_fracdev", f"CModel fraction of flux in the de Vaucouleurs component, {b}", None, kind="double"),
            HscColumn(f"{b}_cmodel_flag", f"CModel failure flag in {b}", None, kind="boolean"),
            HscColumn(f"{b}_psfflux_mag", f"PSF AB magnitude in {b} (forced2)", "mag", kind="double"),
            HscColumn(f"{b}_psfflux_magsigma", f"PSF magnitude error in {b} (forced2)", "mag", kind="double"),
            HscColumn(f"{b}_psfflux_flag", f"PSF flux failure flag in {b} (forced2)", None, kind="boolean"),
        ]
        cols += [
            HscColumn(f"{b}_pixelflags_{f}", f"Pixel flag '{f}' set in {b}", None, kind="boolean")
            for f in PIXEL_FLAGS
        ]
        cols += [
            HscColumn(f"{b}_blendedness_abs_flux", f"Blendedness (absolute flux) in {b} (meas)", None, kind="double"),
            HscColumn(f"{b}_blendedness_flag", f"Blendedness failure flag in {b} (meas)", None, kind="boolean"),
            HscColumn(f"{b}_inputcount_value", f"Number of input visits at the centre in {b}", None, kind="integer"),
            HscColumn(f"{b}_extendedness_value", f"Extendedness (0 point source, 1 extended) in {b}", None, kind="double"),
            HscColumn(f"{b}_extendedness_flag", f"Extendedness failure flag in {b}", None, kind="boolean"),
            HscColumn(f"{b}_localbackground_flux", f"Local background flux in {b}", "nJy", kind="double"),
        ]
    for b in ("i", "r"):
        for model, label in (("exp_ellipse", "exponential"), ("dev_ellipse", "de Vaucouleurs"), ("ellipse", "combined")):
            cols += [
                HscColumn(f"{b}_cmodel_{model}_{m}", f"CModel {label} ellipse second moment I{m} in {b} (meas)", "arcsec2", kind="double")
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
