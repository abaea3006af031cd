"""Tables as CSV, Parquet and FITS: what ``hscanom sql run --out`` and releases write.

A table is a ``dict`` of column name -> 1-d numpy array (a ``numpy.ma.MaskedArray`` where
values are NULL), built from database rows by :func:`columns_from_rows` (types from the
PostgreSQL type oids). Object ids are ``bigint`` in the database and stay int64 in every
format (never a float: ids exceed 2^53):

* CSV: integers written as digits, floats as the shortest text that reads back to the same
  double, NULL as an empty field;
* Parquet (pyarrow): int64 columns, nulls as Parquet nulls; each field's ``unit`` and
  ``description`` in its field metadata, table-level key/values in the schema metadata;
* FITS (astropy): one binary-table HDU, int64 as ``K`` (TNULL for nullable integers),
  floats as ``D``/``E`` (NULL = NaN), booleans as ``I`` 1/0 with TNULL -1 (astropy cannot
  read nulls of ``L`` columns), text as ``A``; ``TUNITn`` when the unit is a FITS unit, the
  description as the ``TTYPEn`` comment (shortened to fit the card) and in full in
  ``COMMENT`` cards. No ``DATE`` card: the same table gives the same bytes.

Every writer writes ``path`` through a temporary name in the same folder and renames it, so
a failed write leaves no half file.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hscanom.atomic import atomic_path
from hscanom.schema.columns import ColumnSpec  # what a column means: name, description, unit

__all__ = ["FORMATS", "ColumnSpec", "columns_from_rows", "format_of", "write_csv", "write_fits", "write_parquet", "write_table"]

#: File suffix -> format name.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".fits": "fits", ".fit": "fits"}


# -- from database rows -------------------------------------------------------------------
#: PostgreSQL type oid -> numpy dtype of the column (anything else becomes text).
_OID_DTYPES: dict[int, str] = {
    20: "int64", 23: "int32", 21: "int16", 26: "int64",  # int8, int4, int2, oid
    700: "float32", 701: "float64", 1700: "float64",  # float4, float8, numeric
    16: "bool",
}


def _text(value: Any) -> str:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def columns_from_rows(names: Sequence[str], type_oids: Sequence[int], rows: Sequence[tuple]) -> dict[str, np.ndarray]:
    """Rows of a query as typed numpy columns (masked where NULL).

    ``bigint`` -> int64, ``integer`` -> int32, ``double precision``/``numeric`` -> float64,
    ``boolean`` -> bool, everything else -> text (``str`` objects; timestamps in ISO 8601,
    arrays and JSON as JSON text).
    """
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if list(names).count(n) > 1})
        raise ValueError(f"the result has several columns called {', '.join(dup)}: give them distinct names (AS ...)")
    out: dict[str, np.ndarray] = {}
    for k, (name, oid) in enumerate(zip(names, type_oids)):
        values = [row[k] for row in rows]
        mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        dtype = _OID_DTYPES.get(int(oid) if oid is not None else -1)
        if dtype is None:
            data = np.array([("" if v is None else _text(v)) for v in values], dtype=object)
        elif dtype == "bool":
            data = np.array([bool(v) if v is not None else False for v in values], dtype=bool)
        elif dtype.startswith("int"):
            data = np.array([int(v) if v is not None else 0 for v in values], dtype=dtype)
        else:
            data = np.array([float(v) if v is not None else math.nan for v in values], dtype=dtype)
        out[name] = np.ma.MaskedArray(data, mask=mask) if mask.any() else data
    return out


def _mask(column: np.ndarray) -> np.ndarray:
    return np.ma.getmaskarray(column) if np.ma.isMaskedArray(column) else np.zeros(len(column), bool)


def _data(column: np.ndarray) -> np.ndarray:
    return np.ma.getdata(column)


def _is_text(column: np.ndarray) -> bool:
    return _data(column).dtype.kind in "OUS"


# -- atomic writes ------------------------------------------------------------------------
_atomic = atomic_path  # the one temp-file-then-os.replace helper


# -- CSV ----------------------------------------------------------------------------------
def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, (bool, int, str, decimal.Decimal)):
        return value
    return _text(value)


def write_csv(path: str | Path, names: Sequence[str], rows: Sequence[tuple]) -> Path:
    """Rows as CSV with a header line (exact integers, round-trip floats, NULL = empty)."""
    path = Path(path)
    with _atomic(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            for row in rows:
                writer.writerow([_csv_value(v) for v in row])
    return path


# -- Parquet ------------------------------------------------------------------------------
def write_parquet(
    path: str | Path,
    table: Mapping[str, np.ndarray],
    specs: Mapping[str, ColumnSpec] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Columns as one Parquet file (zstd): units and descriptions in the field metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    specs = specs or {}
    fields, arrays = [], []
    for name, column in table.items():
        mask = _mask(column)
        if _is_text(column):
            arr = pa.array([None if m else str(v) for v, m in zip(_data(column), mask)], type=pa.string())
        else:
            arr = pa.array(_data(column), mask=mask if mask.any() else None)
        spec = specs.get(name)
        meta = {}
        if spec is not None:
            if spec.unit:
                meta[b"unit"] = spec.unit.encode()
            if spec.description:
                meta[b"description"] = spec.description.encode()
        fields.append(pa.field(name, arr.type, nullable=True, metadata=meta or None))
        arrays.append(arr)
    schema = pa.schema(fields, metadata={k.encode(): v.encode() for k, v in (metadata or {}).items()} or None)
    path = Path(path)
    with _atomic(path) as tmp:
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp, compression="zstd")
    return path


# -- FITS ---------------------------------------------------------------------------------
def _fits_unit(unit: str | None) -> str | None:
    """``unit`` if FITS readers understand it (e.g. deg, arcsec, mag), else None."""
    if not unit:
        return None
    from astropy import units as u

    try:
        u.Unit(unit, format="fits")
    except ValueError:
        return None
    return unit


def _fits_column(column: np.ndarray):
    """An astropy column for FITS: bool -> int16 (TNULL -1), nullable int -> TNULL, text -> str."""
    from astropy.table import Column, MaskedColumn

    data, mask = _data(column), _mask(column)
    if data.dtype == bool:
        data = data.astype(np.int16)
        return MaskedColumn(data, mask=mask, fill_value=-1) if mask.any() else Column(data)
    if data.dtype.kind in "OUS":
        text = np.array(["" if m else str(v) for v, m in zip(data, mask)], dtype=str)
        if text.dtype.itemsize == 0 or not len(text):
            text = text.astype("U1")
        return Column(text)
    if mask.any():
        if data.dtype.kind == "f":
            return Column(np.where(mask, np.nan, data).astype(data.dtype))
        return MaskedColumn(data, mask=mask, fill_value=np.iinfo(data.dtype).min)
    return Column(data)


def write_fits(
    path: str | Path,
    table: Mapping[str, np.ndarray],
    specs: Mapping[str, ColumnSpec] | None = None,
    *,
    extname: str = "CATALOG",
    cards: Sequence[tuple[str, Any, str]] = (),
    history: Sequence[str] = (),
) -> Path:
    """Columns as a FITS binary table (primary HDU empty, then ``extname``).

    Args:
        cards: extra (keyword, value, comment) header cards of the table HDU.
        history: free text lines, written as ``HISTORY`` cards (ASCII).
    """
    from astropy.io import fits
    from astropy.table import Table

    specs = specs or {}
    t = Table()
    for name, column in table.items():
        t[name] = _fits_column(column)
    hdu = fits.table_to_hdu(t)
    header = hdu.header
    header["EXTNAME"] = extname
    for keyword, value, comment in cards:
        header[keyword] = (value, comment)
    for k, name in enumerate(table, start=1):
        spec = specs.get(name)
        if spec is None:
            continue
        unit = _fits_unit(spec.unit)
        if unit:
            header.insert(f"TFORM{k}", (f"TUNIT{k}", unit), after=True)
        if spec.description:
            header.comments[f"TTYPE{k}"] = _fit_comment(f"TTYPE{k}", name, spec.description)
    for k, name in enumerate(table, start=1):
        spec = specs.get(name)
        if spec is not None and (spec.description or spec.unit):
            text = f"{name}: {spec.description}" + (f" [{spec.unit}]" if spec.unit and f"[{spec.unit}]" not in spec.description else "")
            header.add_comment(text)
    for line in history:
        header.add_history(line.encode("ascii", "replace").decode())
    path = Path(path)
    with _atomic(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, output_verify="exception")
    return path


def _fit_comment(keyword: str, value: str, comment: str) -> str:
    """``comment`` shortened (with '...') so that the card stays one 80-character line."""
    from astropy.io import fits

    room = 80 - len(fits.Card(keyword, value).image.rstrip()) - 3
    if len(comment) <= room:
        return comment
    return comment[: max(room - 3, 0)].rstrip() + "..." if room > 3 else ""


# -- by suffix ----------------------------------------------------------------------------
def format_of(path: str | Path) -> str:
    """``csv``, ``parquet`` or ``fits`` from the file suffix (ValueError otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unknown output format {suffix or '(no suffix)'!r}; use .csv, .parquet or .fits")
    return FORMATS[suffix]


def write_table(
    path: str | Path,
    names: Sequence[str],
    type_oids: Sequence[int],
    rows: Sequence[tuple],
    specs: Mapping[str, ColumnSpec] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Query rows to ``path`` in the format its suffix names (.csv, .parquet, .fits)."""
    kind = format_of(path)
    if kind == "csv":
        return write_csv(path, names, rows)
    table = columns_from_rows(names, type_oids, rows)
    if kind == "parquet":
        return write_parquet(path, table, specs, metadata)
    history = [f"{k}: {v}" for k, v in (metadata or {}).items()]
    return write_fits(path, table, specs, extname="RESULT", history=history)


def read_table(path: str | Path):
    """Read a table written here back as a pandas DataFrame (int64 ids kept exact)."""
    import pandas as pd

    kind = format_of(path)
    if kind == "csv":
        return pd.read_csv(path)
    if kind == "parquet":
        return pd.read_parquet(path)
    from astropy.table import Table

    return Table.read(path, hdu=1).to_pandas()

