"""The sample selection of Storey-Fisher et al. as named cuts on CAS catalog columns.

A row is in the sample when it fails none of :data:`CUTS`. Columns are given as a mapping from
column name to array (a pandas DataFrame works), booleans as bool arrays.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hscanom.schema.columns import BANDS

#: Name -> description of every cut, in the order of the paper's query.
CUTS: dict[str, str] = {
    "isprimary": "isprimary is true",
    "nchild": "nchild = 0",
    "inputcount": "{band}_inputcount_value >= 3 in g, r, i, z and y",
    "bright_object": "no {band}_pixelflags_bright_object or _bright_objectcenter in any band",
    "edge": "no {band}_pixelflags_edge in any band",
    "saturatedcenter": "no {band}_pixelflags_saturatedcenter in any band",
    "interpolatedcenter": "no {band}_pixelflags_interpolatedcenter in any band",
    "crcenter": "no {band}_pixelflags_crcenter in any band",
    "cmodel_flag": "no {band}_cmodel_flag in any band",
    "i_cmodel_mag": "20.0 <= i_cmodel_mag < 20.5",
}
I_MAG_RANGE: tuple[float, float] = (20.0, 20.5)


def _any_band(columns: Mapping[str, np.ndarray], pattern: str) -> np.ndarray:
    return np.any([np.asarray(columns[pattern.format(b=b)], dtype=bool) for b in BANDS], axis=0)


def cut_failures(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """For each cut of :data:`CUTS`, a boolean array that is True where the row fails it."""
    i_mag = np.asarray(columns["i_cmodel_mag"], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        in_range = (i_mag >= I_MAG_RANGE[0]) & (i_mag < I_MAG_RANGE[1])
    return {
        "isprimary": ~np.asarray(columns["isprimary"], dtype=bool),
        "nchild": np.asarray(columns["nchild"], dtype=np.int64) != 0,
        "inputcount": np.any([np.asarray(columns[f"{b}_inputcount_value"], dtype=np.int64) < 3 for b in BANDS], axis=0),
        "bright_object": (
            _any_band(columns, "{b}_pixelflags_bright_object")
            | _any_band(columns, "{b}_pixelflags_bright_objectcenter")
        ),
        "edge": _any_band(columns, "{b}_pixelflags_edge"),
        "saturatedcenter": _any_band(columns, "{b}_pixelflags_saturatedcenter"),
        "interpolatedcenter": _any_band(columns, "{b}_pixelflags_interpolatedcenter"),
        "crcenter": _any_band(columns, "{b}_pixelflags_crcenter"),
        "cmodel_flag": _any_band(columns, "{b}_cmodel_flag"),
        "i_cmodel_mag": ~in_range,
    }


def passes_cuts(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Boolean array: the row passes every cut."""
    return ~np.any(list(cut_failures(columns).values()), axis=0)
