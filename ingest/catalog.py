"""Load an HSC CAS query result (CSV, gzip'd CSV or FITS) into ``hsc_object``.

One data flow, one transaction::

    file --readers--> Arrow blocks --check/convert per column--> good rows --binary COPY-->
    temp staging table --(in-file duplicates resolved)--> INSERT ... ON CONFLICT into hsc_object

* Columns are matched by name (case-insensitive). The columns of
  :data:`hscanom.schema.columns.HSC_COLUMNS` land in typed columns; any other column is kept,
  as text, in ``hsc_object.extra`` (JSONB). ``object_id``, ``ra`` and ``dec`` must be there.
* Values are checked column by column on whole blocks (Arrow compute), never value by value
  in Python except to name the bad values of a column that failed. ``object_id`` is parsed
  from its text as a 64-bit integer and never passes through a float.
* Each refused row becomes ``ingest_reject`` rows (line, field, raw value, reason): wrong
  number of fields, a value that is not of the column's type, ra outside [0, 360) or dec
  outside [-90, 90], a missing required value, or an object_id repeated in the file with
  different values (every copy is refused; exact copies are stored once).
* Re-ingesting stores nothing new; a row whose values changed is updated, and the batch's
  ``details`` record how many rows changed, which columns, and the first changed ids.
  Columns absent from the file are left as they are in existing rows.
* A failure at any point rolls the whole load back: ``hsc_object`` is as it was, and the
  ``ingest_batch`` row says ``failed`` with the error.
"""

from __future__ import annotations

import re
import tempfile
from decimal import Decimal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import psycopg
from psycopg.copy import QueuedLibpqWriter

from hscanom import db
from hscanom.ingest import pgbinary
from hscanom.ingest.batches import Reject, close_batch, ingest_batch, record_rejects
from hscanom.ingest.readers import FALSE_TOKENS, NULL_TOKENS, TRUE_TOKENS, Block, CatalogFileError, open_catalog
from hscanom.progress import Progress
from hscanom.schema.columns import HSC_COLUMNS, HSC_COLUMNS_BY_NAME, REQUIRED_COLUMNS, HscColumn

__all__ = ["CatalogFileError", "IngestResult", "ingest_catalog"]

#: Arrow type each column kind is read as.
ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
}
#: Why a text value was refused, per column kind.
_TYPE_REASONS = {
    "bigint": "not a 64-bit integer",
    "integer": "not a 32-bit integer",
    "double": "not a number",
    "boolean": "not a boolean (t/f, true/false, 1/0)",
}
_INT_TEXT = re.compile(r"[+-]?\d+")
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INT_RANGES = {"bigint": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
#: Changed object ids kept in ``ingest_batch.details`` (the counts cover all of them).
MAX_CHANGED_IDS = 1000
#: A file of at least 1/BULK_FRACTION of hsc_object's size is a bulk load (indexes rebuilt).
BULK_FRACTION = 4


@dataclass
class IngestResult:
    """What one catalog ingest did.

    Attributes:
        batch_id: the ``ingest_batch`` row.
        rows_read: data rows in the file (blank lines excluded).
        rows_stored: new objects stored.
        rows_updated: existing objects whose values changed.
        rows_unchanged: rows equal to what was already stored.
        rows_rejected: rows refused (see ``ingest_reject``).
        truncated: the last line was incomplete and was not stored.
        rejects: the first refusals, for display.
        n_rejects: all refusals (a row refused for several fields counts several times).
        extra_columns: source columns kept in ``extra``.
        warnings: notes about the file.
        provenance: the ``#`` lines before the header (CAS information block), also stored
            in ``ingest_batch.provenance``.
    """

    batch_id: int
    path: Path
    rows_read: int = 0
    rows_stored: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    truncated: bool = False
    rejects: list[Reject] = field(default_factory=list)
    n_rejects: int = 0
    extra_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provenance: str = ""


def _q(name: str) -> str:
    """Quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


# -- checking and converting columns --------------------------------------------------------
#: Largest integer up to which every integer is a float64: an integral float beyond it may
#: already have lost digits, so a 64-bit column refuses it.
EXACT_FLOAT_INT = 2**53
_ID_AS_FLOAT = (
    "object_id written as a float (decimal point or exponent); 64-bit ids must be written as "
    "integers: a float keeps only 15-17 digits"
)
_FRACTION = "has a fractional part"
_BEYOND_EXACT = "written as a float beyond 2**53, where floats skip integers: digits may have been lost"


def _integral_reason(value: float, kind: str, name: str) -> str | None:
    """Why an integral-or-not float ``value`` is refused for an integer column, or None.

    The one rule for floats in integer columns (CSV text and FITS float columns alike): an
    integral value is that integer; a fractional one is refused; ``object_id`` is never
    taken from a float; a 64-bit column refuses floats beyond 2**53.
    """
    if name == "object_id":
        return _ID_AS_FLOAT
    if value != value or value in (float("inf"), float("-inf")):
        return _TYPE_REASONS[kind]
    if value != int(value):
        return f"{_TYPE_REASONS[kind]} ({_FRACTION})"
    lo, hi = _INT_RANGES[kind]
    if not lo <= value <= hi:
        return f"{_TYPE_REASONS[kind]} (out of range)"
    if kind == "bigint" and abs(value) > EXACT_FLOAT_INT:
        return f"{_TYPE_REASONS[kind]} ({_BEYOND_EXACT})"
    return None


def _parse_text_value(text: str, kind: str, name: str = "") -> object:
    """Python value of one trimmed, non-null text value, or raise ValueError (slow path).

    Integers may carry a sign (``+9557``); an integer column also takes a float written
    without loss (``9813.0``, ``9.813e3``) under the rule of :func:`_integral_reason`.
    """
    if kind in _INT_RANGES:
        if _INT_TEXT.fullmatch(text):
            value = int(text)
        elif _FLOAT_TEXT.fullmatch(text):
            number = Decimal(text)
            if name == "object_id":
                raise ValueError(_ID_AS_FLOAT)
            if number.adjusted() > 20:
                raise ValueError(f"{_TYPE_REASONS[kind]} (out of range)")
            if number != number.to_integral_value():
                raise ValueError(f"{_TYPE_REASONS[kind]} ({_FRACTION})")
            value = int(number)
            if kind == "bigint" and abs(value) > EXACT_FLOAT_INT:
                raise ValueError(f"{_TYPE_REASONS[kind]} ({_BEYOND_EXACT})")
        else:
            raise ValueError(_TYPE_REASONS[kind])
        lo, hi = _INT_RANGES[kind]
        if not lo <= value <= hi:
            raise ValueError(f"{_TYPE_REASONS[kind]} (out of range)")
        return value
    if kind == "double":
        if not _FLOAT_TEXT.fullmatch(text):
            raise ValueError(_TYPE_REASONS[kind])
        value = float(text)
        if not np.isfinite(value):
            raise ValueError("out of range for double precision")
        return value
    return text


def _from_text(arr: pa.Array, kind: str, name: str = "") -> tuple[pa.Array, dict[int, str]]:
    """Convert a text column; return the typed column and {row index: reason} of bad values.

    Arrow casts the whole column at once; when that fails, each value is parsed by
    :func:`_parse_text_value` and the column is built from the parsed values.
    """
    text = pc.utf8_trim_whitespace(arr)
    text = pc.if_else(pc.is_in(text, pa.array(NULL_TOKENS)), pa.scalar(None, pa.string()), text)
    if kind == "text":
        return text, {}
    if kind == "boolean":
        is_true = pc.is_in(text, pa.array(TRUE_TOKENS))
        is_false = pc.is_in(text, pa.array(FALSE_TOKENS))
        bad_mask = pc.and_(pc.is_valid(text), pc.invert(pc.or_(is_true, is_false)))
        bad = {int(i): _TYPE_REASONS[kind] for i in np.flatnonzero(bad_mask.to_numpy(zero_copy_only=False))}
        typed = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
        return typed, bad
    target = ARROW_TYPES[kind]
    if kind == "integer":  # '+9557' and '9813.0' as Arrow cannot read them, without a float
        text = pc.replace_substring_regex(text, r"^\+?(-?\d+)(\.0*)?$", r"\1")
    try:
        typed = pc.cast(text, target)
        bad = {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = {}
        values: list[object] = []
        for i, value in enumerate(text.to_pylist()):
            if value is not None:
                try:
                    value = _parse_text_value(value, kind, name)
                except ValueError as exc:
                    bad[i] = str(exc)
                    value = None
            values.append(value)
        typed = pa.array(values, type=target)
    if kind == "double":
        bad.update(_non_finite(typed))
    return typed, bad


def _non_finite(arr: pa.Array) -> dict[int, str]:
    """{index: reason} of infinite values (e.g. 1e999) of a float column."""
    is_inf = pc.is_inf(arr)
    if not pc.any(is_inf).as_py():
        return {}
    inf = pc.fill_null(is_inf, False).to_numpy(zero_copy_only=False)
    return {int(i): "out of range for double precision" for i in np.flatnonzero(inf)}


def _from_numbers(arr: pa.Array, column: HscColumn, path: Path) -> tuple[pa.Array, dict[int, str]]:
    """Convert a numeric or boolean column (FITS) to the column's type."""
    kind = column.kind
    target = ARROW_TYPES[kind]
    if kind == "text":
        return pc.cast(arr, pa.string()), {}
    if pa.types.is_floating(arr.type) and kind in _INT_RANGES:
        if column.name == "object_id":
            raise CatalogFileError(
                path, f"object_id is stored as floating point ({arr.type}); 64-bit ids cannot be trusted through a float"
            )
        values = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        lo, hi = _INT_RANGES[kind]
        limit = EXACT_FLOAT_INT if kind == "bigint" else hi
        with np.errstate(invalid="ignore"):
            plain = valid & np.isfinite(values) & (values == np.round(values)) & (values >= lo) & (values <= min(hi, limit))
        bad = {}
        for i in np.flatnonzero(valid & ~plain):  # only the refused values, one by one
            bad[int(i)] = _integral_reason(float(values[i]), kind, column.name) or _TYPE_REASONS[kind]
        ok = valid.copy()
        ok[list(bad)] = False
        return pa.array(np.where(ok, values, 0).astype(np.int64), mask=~ok).cast(target), bad
    if pa.types.is_integer(arr.type) and kind in _INT_RANGES:
        values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
        lo, hi = _INT_RANGES[kind]
        if np.issubdtype(values.dtype, np.unsignedinteger):
            out = values > hi
        else:
            out = (values < lo) | (values > hi)
        out &= pc.is_valid(arr).to_numpy(zero_copy_only=False)
        bad = {int(i): f"{_TYPE_REASONS[kind]} (out of range)" for i in np.flatnonzero(out)}
        masked = pc.if_else(pa.array(out), pa.scalar(None, arr.type), arr)
        return pc.cast(masked, target, safe=False), bad
    if kind == "boolean" and (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        is01 = pc.is_in(arr, pa.array([0, 1], type=arr.type))
        bad_mask = pc.and_(pc.is_valid(arr), pc.invert(is01))
        bad = {int(i): _TYPE_REASONS[kind] for i in np.flatnonzero(bad_mask.to_numpy(zero_copy_only=False))}
        return pc.cast(pc.if_else(bad_mask, pa.scalar(None, arr.type), arr), pa.bool_()), bad
    try:
        typed = pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise CatalogFileError(path, f"column {column.name} has type {arr.type}, which cannot hold {kind} values") from None
    return typed, (_non_finite(typed) if kind == "double" else {})


def _convert(arr: pa.Array, column: HscColumn, path: Path) -> tuple[pa.Array, dict[int, str]]:
    """The column as its Arrow type, and {row index: reason} of values refused."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    target = ARROW_TYPES[column.kind]
    if arr.type == target:
        return arr, (_non_finite(arr) if column.kind == "double" else {})
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type):
        return _from_text(arr.cast(pa.string()), column.kind, column.name)
    return _from_numbers(arr, column, path)


@dataclass
class _Checked:
    """The good rows of a block, ready for COPY."""

    lines: np.ndarray
    typed: dict[str, pa.Array]
    extras: dict[str, pa.Array]
    rejects: list[Reject]
    n_rows: int


def _check_block(block: Block, known: list[HscColumn], extras: list[str], path: Path) -> _Checked:
    n = block.table.num_rows
    bad_rows = np.zeros(n, dtype=bool)
    rejects: list[tuple[int, str, object, str]] = []
    typed: dict[str, pa.Array] = {}
    for column in known:
        raw = block.table.column(column.name)
        values, bad = _convert(raw, column, path)
        if bad:
            raw_list = raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw
            for i, reason in bad.items():
                rejects.append((i, column.name, raw_list[i].as_py(), reason))
            bad_rows[list(bad)] = True
        typed[column.name] = values
    for name in [c.name for c in known if c.kind == "text"] + extras:
        raw = block.table.column(name)
        if not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
            continue
        has_nul = pc.fill_null(pc.match_substring(raw, "\x00"), False).to_numpy(zero_copy_only=False) & ~bad_rows
        for i in np.flatnonzero(has_nul):
            rejects.append((int(i), name, raw[int(i)].as_py(), "contains a NUL byte (\\x00), which text values cannot hold"))
        bad_rows |= has_nul
    for name in REQUIRED_COLUMNS:
        missing = pc.is_null(typed[name]).to_numpy(zero_copy_only=False) & ~bad_rows
        for i in np.flatnonzero(missing):
            rejects.append((int(i), name, None, f"missing value in required column {name}"))
        bad_rows |= missing
    for name, lo, hi, closed in (("ra", 0.0, 360.0, False), ("dec", -90.0, 90.0, True)):
        v = pc.fill_null(typed[name], 0.0).to_numpy(zero_copy_only=False)
        out = (v < lo) | ((v > hi) if closed else (v >= hi))
        out &= ~bad_rows
        interval = f"[{lo:g}, {hi:g}{']' if closed else ')'}"
        for i in np.flatnonzero(out):
            rejects.append((int(i), name, repr(float(v[i])), f"{name} out of range {interval} deg"))
        bad_rows |= out
    good = ~bad_rows
    keep = pa.array(good)
    lines = block.lines
    return _Checked(
        lines=lines[good],
        typed={k: v.filter(keep) for k, v in typed.items()} if bad_rows.any() else typed,
        extras={name: block.table.column(name).filter(keep) for name in extras},
        rejects=[Reject(int(lines[i]), f, None if raw is None else str(raw), why) for i, f, raw, why in sorted(rejects, key=lambda r: r[0])],
        n_rows=n,
    )


def _binary_rows(
    typed: dict[str, pa.Array],
    known: list[HscColumn],
    rows: np.ndarray | None,
    before: tuple[pgbinary.Column, ...] = (),
    after: tuple[pgbinary.Column, ...] = (),
) -> memoryview:
    """Binary COPY rows: ``before``, the known columns, ``after`` (``rows``: indices of a subset)."""
    columns = list(before)
    for column in known:
        arr = typed[column.name]
        if rows is not None:
            arr = arr.take(pa.array(rows))
        if arr.null_count:
            nulls = pc.is_null(arr).to_numpy(zero_copy_only=False)
            values = pc.fill_null(arr, False if column.kind == "boolean" else 0).to_numpy(zero_copy_only=False)
        else:
            nulls, values = None, arr.to_numpy(zero_copy_only=False)
        columns.append(pgbinary.Column(column.kind, values, nulls))
    return pgbinary.encode_rows(columns + list(after))


def _csv_rows(checked: _Checked, extras: list[str]) -> bytes:
    """CSV (no header) of ``line`` and the extra columns, as text."""
    table = pa.table(
        [pa.array(checked.lines)] + [pc.cast(checked.extras[name], pa.string()) for name in extras],
        names=["line"] + [f"e{i}" for i in range(len(extras))],
    )
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue().to_pybytes()


class _SeenIds:
    """The object_ids met so far in a file: sorted int64 runs, merged like a binary counter.

    8 bytes an id; :meth:`contains` costs O(n log N) for n ids against N seen.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def contains(self, ids: np.ndarray) -> np.ndarray:
        found = np.zeros(len(ids), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, ids), len(run) - 1)
            found |= run[pos] == ids
        return found

    def add(self, ids: np.ndarray) -> None:
        run = np.sort(ids)
        while self._runs and len(self._runs[-1]) <= 2 * len(run):
            run = np.sort(np.concatenate([self._runs.pop(), run]))
        self._runs.append(run)


def _plan(names: list[str], path: Path) -> tuple[list[HscColumn], list[str]]:
    seen: set[str] = set()
    for name in names:
        if not name:
            raise CatalogFileError(path, "the header has an empty column name", 1)
        if name in seen:
            raise CatalogFileError(path, f"column {name!r} appears twice in the header")
        seen.add(name)
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise CatalogFileError(path, f"no {', '.join(missing)} column (columns found: {', '.join(names[:12])}...)")
    known = [c for c in HSC_COLUMNS if c.name in seen]
    extras = [name for name in names if name not in HSC_COLUMNS_BY_NAME]
    return known, extras


def _direct_lines(spool, ids: set[int]) -> dict[int, int]:
    """Lines of the rows written straight to hsc_object whose id is in ``ids``."""
    spool.seek(0)
    wanted = np.fromiter(ids, dtype=np.int64, count=len(ids))
    found: dict[int, int] = {}
    while True:
        pairs = np.fromfile(spool, dtype=np.int64, count=2 * (1 << 20)).reshape(-1, 2)
        if not len(pairs):
            return found
        hit = np.isin(pairs[:, 0], wanted)
        found.update(zip(pairs[hit, 0].tolist(), pairs[hit, 1].tolist()))


def _resolve_duplicates(cur, dup_ids: set[int], direct_spool, known: list[HscColumn], n_extras: int, batch_id: int) -> tuple[list[Reject], int, int]:
    """Refuse every copy of an id repeated with different values; keep one of exact copies.

    Copies are in the staging table, and the first one may already be in hsc_object (written
    there by this batch). Returns (rejects, identical copies dropped, rows removed from
    hsc_object).
    """
    if not dup_ids:
        return [], 0, 0
    cols = ", ".join(_q(c.name) for c in known[1:])
    stage_row, join = cols, ""
    if n_extras:
        stage_row += "".join(f", e.e{i}" for i in range(n_extras))
        join = " LEFT JOIN _hsc_stage_extra e USING (line)"
    cur.execute(
        f"""SELECT object_id, line, md5(ROW({stage_row})::text) FROM _hsc_stage s{join} WHERE object_id = ANY(%(ids)s)
            UNION ALL
            SELECT object_id, NULL, md5(ROW({cols})::text) FROM hsc_object
            WHERE object_id = ANY(%(ids)s) AND ingest_batch_id = %(batch)s""",
        {"ids": sorted(dup_ids), "batch": batch_id},
    )
    copies: dict[int, list[tuple[int | None, str]]] = {}
    for object_id, line, digest in cur.fetchall():
        copies.setdefault(object_id, []).append((line, digest))
    direct = _direct_lines(direct_spool, {i for i, c in copies.items() if any(line is None for line, _ in c)})
    rejects: list[Reject] = []
    drop_stage: list[int] = []
    drop_direct: list[int] = []
    identical = 0
    for object_id, found in sorted(copies.items()):
        staged = sorted(line for line, _ in found if line is not None)
        has_direct = len(staged) < len(found)
        lines = sorted(staged + ([direct[object_id]] if has_direct else []))
        if len({digest for _, digest in found}) > 1:
            where = ", ".join(str(x) for x in lines)
            reason = f"object_id repeated with different values on lines {where}; all copies refused"
            rejects += [Reject(line, "object_id", str(object_id), reason) for line in lines]
            drop_stage += staged
            if has_direct:
                drop_direct.append(object_id)
        else:
            keep = 0 if has_direct else 1
            identical += len(staged) - keep
            drop_stage += staged[keep:]
    cur.execute("DELETE FROM _hsc_stage WHERE line = ANY(%s)", (drop_stage,))
    if n_extras:
        cur.execute("DELETE FROM _hsc_stage_extra WHERE line = ANY(%s)", (drop_stage,))
    cur.execute("DELETE FROM hsc_object WHERE object_id = ANY(%s) AND ingest_batch_id = %s", (drop_direct, batch_id))
    return rejects, identical, cur.rowcount


def _merge(cur, known: list[HscColumn], extras: list[str], release: str, batch_id: int) -> tuple[int, int, dict]:
    """Upsert the staging rows into hsc_object; return (stored, updated, change summary).

    A row counts as changed when any column of the file, the data release or a key of
    ``extra`` differs from what is stored; unchanged rows are not written at all.
    """
    names = [c.name for c in known]
    if extras:
        keys = "ARRAY[" + ", ".join("'" + n.replace("'", "''") + "'" for n in extras) + "]"
        vals = "ARRAY[" + ", ".join(f"e.e{i}" for i in range(len(extras))) + "]"
        extra_sql, join = f"jsonb_strip_nulls(jsonb_object({keys}, {vals}))", " LEFT JOIN _hsc_stage_extra e USING (line)"
    else:
        extra_sql, join = "'{}'::jsonb", ""
    old = ", ".join(f"o.{_q(n)}" for n in names[1:])
    new = ", ".join(f"s.{_q(n)}" for n in names[1:])
    flags = ", ".join(f"CASE WHEN o.{_q(n)} IS DISTINCT FROM s.{_q(n)} THEN '{n}' END" for n in names[1:])
    cur.execute(
        f"""CREATE TEMP TABLE _hsc_changed ON COMMIT DROP AS
            SELECT s.object_id, array_remove(ARRAY[{flags},
                   CASE WHEN o.data_release IS DISTINCT FROM %(release)s THEN 'data_release' END,
                   CASE WHEN o.extra || {extra_sql} <> o.extra THEN 'extra' END], NULL) AS columns
            FROM _hsc_stage s{join} JOIN hsc_object o USING (object_id)
            WHERE ({old}, o.data_release, o.extra || {extra_sql}) IS DISTINCT FROM ({new}, %(release)s, o.extra)""",
        {"release": release},
    )
    target = names + ["data_release", "ingest_batch_id", "extra"]
    sets = ", ".join(f"{_q(n)} = EXCLUDED.{_q(n)}" for n in names[1:])
    cur.execute(
        f"""WITH up AS (
              INSERT INTO hsc_object AS o ({', '.join(_q(n) for n in target)})
              SELECT {', '.join('s.' + _q(n) for n in names)}, %(release)s, %(batch)s, {extra_sql}
              FROM _hsc_stage s{join}
              ON CONFLICT (object_id) DO UPDATE SET {sets},
                  data_release = EXCLUDED.data_release, ingest_batch_id = EXCLUDED.ingest_batch_id,
                  extra = o.extra || EXCLUDED.extra
              WHERE o.object_id IN (SELECT object_id FROM _hsc_changed)
              RETURNING (xmax = 0) AS inserted)
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up""",
        {"release": release, "batch": batch_id},
    )
    stored, updated = cur.fetchone()
    summary: dict = {}
    if updated:
        cur.execute("SELECT c, count(*) FROM _hsc_changed, unnest(columns) c GROUP BY c ORDER BY c")
        summary["changed_columns"] = dict(cur.fetchall())
        cur.execute("SELECT object_id FROM _hsc_changed ORDER BY object_id LIMIT %s", (MAX_CHANGED_IDS,))
        summary["changed_object_ids"] = [r[0] for r in cur.fetchall()]
    return stored, updated, summary


def ingest_catalog(
    path: Path | str,
    *,
    release: str = "pdr2_wide",
    url: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest one CAS catalog file into ``hsc_object``.

    Args:
        path: CAS CSV (header may start with ``# ``), gzip'd CSV, or FITS binary table.
        release: HSC data release label stored with each row (``data_release``).
        url: database URL (default :func:`hscanom.db.database_url`).
        progress: called as ``progress("ingest catalog", bytes_done, bytes_total)`` after each
            block (:class:`hscanom.progress.Progress`; the units are bytes of the file).

    Returns:
        The counts of the load; refused rows are in ``ingest_reject`` under ``batch_id``.

    Raises:
        CatalogFileError: the file is unreadable or lacks object_id/ra/dec. Nothing is
            stored; the batch row records the failure.
    """
    path = Path(path).resolve()
    url = url or db.database_url()
    with ingest_batch(url, "catalog", str(path), data_release=release) as batch_id:
        result = IngestResult(batch_id=batch_id, path=path)
        reader = open_catalog(path)
        try:
            known, extras = _plan(reader.names, path)
            result.extra_columns = extras
            with db.transaction(url) as conn, db.connect(url, autocommit=True) as side:
                _Load(conn, side, reader, known, extras, release, result).run(progress)
        finally:
            reader.close()
    return result


class _Load:
    """The body of one catalog load, inside its transaction on ``conn``.

    A bulk load (into an empty table, or a file at least a quarter of the table's size)
    drops the secondary indexes of hsc_object first and rebuilds them at the end, in the
    same transaction: one index build is several times cheaper than a million index
    insertions (the pgSphere GiST index especially).

    Rows whose object_id is new (not in hsc_object before the load, and met for the first
    time in the file) stream by binary COPY straight into hsc_object. All other rows (ids
    already stored, repeats within the file, or every row when the file has extra columns)
    are spooled to a temporary file and COPYed into the staging table afterwards, where
    repeats are resolved and the rest is merged with INSERT ... ON CONFLICT. The existence
    checks run on ``side``, a second connection, while the COPY is in flight; the lock
    taken first keeps any other writer out until the load commits.
    """

    def __init__(self, conn: psycopg.Connection, side: psycopg.Connection, reader, known, extras, release: str, result: IngestResult):
        self.conn, self.reader, self.known, self.extras = conn, reader, known, extras
        self.release, self.result = release, result
        self.lookup = side.cursor()
        self.seen = _SeenIds()
        self.dup_ids: set[int] = set()
        self.rejects: list[Reject] = []
        self.n_direct = 0

    def run(self, progress: Progress | None) -> None:
        cur = self.conn.cursor()
        cur.execute("LOCK TABLE hsc_object IN SHARE ROW EXCLUSIVE MODE")
        cols = ", ".join(f"{_q(c.name)} {'double precision' if c.kind == 'double' else c.kind}" for c in self.known)
        cur.execute(f"CREATE TEMP TABLE _hsc_stage (line bigint, {cols}) ON COMMIT DROP")
        if self.extras:
            ecols = ", ".join(f"e{i} text" for i in range(len(self.extras)))
            cur.execute(f"CREATE TEMP TABLE _hsc_stage_extra (line bigint PRIMARY KEY, {ecols}) ON COMMIT DROP")
        self.table_empty = not cur.execute("SELECT EXISTS (SELECT 1 FROM hsc_object)").fetchone()[0]
        self.existing: np.ndarray | None = None
        rebuild: list[str] = []
        if self._bulk(cur):
            if not self.table_empty:
                # The side connection cannot read hsc_object once its indexes are dropped.
                with cur.copy("COPY (SELECT object_id FROM hsc_object ORDER BY object_id) TO STDOUT (FORMAT binary)") as out:
                    self.existing = pgbinary.decode_bigints(b"".join(bytes(chunk) for chunk in out))
            rebuild = self._drop_secondary_indexes(cur)
        names = ", ".join(_q(c.name) for c in self.known)
        with tempfile.TemporaryFile() as stage, tempfile.TemporaryFile() as extra, tempfile.TemporaryFile() as direct:
            stage.write(pgbinary.HEADER)
            sql = f"COPY hsc_object ({names}, data_release, ingest_batch_id) FROM STDIN (FORMAT binary)"
            with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
                copy.write(pgbinary.HEADER)
                for block in self.reader.blocks(self._types()):
                    self._route(block, copy, stage, extra, direct)
                    if progress:
                        progress("ingest catalog", self.reader.bytes_done, self.reader.bytes_total)
                copy.write(pgbinary.TRAILER)
            stage.write(pgbinary.TRAILER)
            self._copy_file(cur, f"COPY _hsc_stage (line, {names}) FROM STDIN (FORMAT binary)", stage)
            if self.extras:
                self._copy_file(cur, "COPY _hsc_stage_extra FROM STDIN (FORMAT csv)", extra)
            dup_rejects, identical, undone = _resolve_duplicates(
                cur, self.dup_ids, direct, self.known, len(self.extras), self.result.batch_id
            )
        self._finish(cur, dup_rejects, identical, self.n_direct - undone, rebuild)

    def _bulk(self, cur) -> bool:
        """Whether this load is large next to the table (empty, or the file at least a
        quarter of the table's size): then rebuilding the secondary indexes once is cheaper
        than updating them row by row."""
        if self.table_empty:
            return True
        table_bytes = cur.execute("SELECT pg_table_size('hsc_object')").fetchone()[0]
        return self.reader.bytes_total * BULK_FRACTION >= table_bytes

    @staticmethod
    def _drop_secondary_indexes(cur) -> list[str]:
        """Drop hsc_object's non-unique indexes (Q3C, pgSphere, ...); return their definitions.

        The primary key stays (the merge needs it). Dropping takes an exclusive lock, so
        readers of hsc_object wait until the load commits.
        """
        cur.execute(
            """SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
               WHERE x.indrelid = 'hsc_object'::regclass AND NOT x.indisunique AND NOT x.indisprimary ORDER BY i.relname"""
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f"DROP INDEX {_q(name)}")
        return [definition for _, definition in indexes]

    def _types(self) -> dict[str, pa.DataType]:
        return {c.name: ARROW_TYPES[c.kind] for c in self.known} | {name: pa.string() for name in self.extras}

    @staticmethod
    def _copy_file(cur, sql: str, fh) -> None:
        fh.seek(0)
        with cur.copy(sql) as copy:
            for chunk in iter(lambda: fh.read(8 << 20), b""):
                copy.write(chunk)

    def _route(self, block: Block, copy, stage, extra, direct) -> None:
        checked = _check_block(block, self.known, self.extras, self.reader.path)
        self.result.rows_read += checked.n_rows
        self.rejects += checked.rejects
        n = len(checked.lines)
        if not n:
            return
        ids = checked.typed["object_id"].to_numpy(zero_copy_only=False)
        first = np.zeros(n, dtype=bool)
        first[np.unique(ids, return_index=True)[1]] = True
        again = ~first | self.seen.contains(ids)
        if again.any():
            self.dup_ids.update(ids[again].tolist())
        self.seen.add(ids[first])
        to_db = ~again if not self.extras else np.zeros(n, dtype=bool)
        if self.existing is not None and len(self.existing):
            pos = np.minimum(np.searchsorted(self.existing, ids), len(self.existing) - 1)
            to_db &= self.existing[pos] != ids
        elif not self.table_empty and to_db.any():
            self.lookup.execute("SELECT object_id FROM hsc_object WHERE object_id = ANY(%s)", (ids[to_db].tolist(),))
            existing = np.array([r[0] for r in self.lookup.fetchall()], dtype=np.int64)
            if len(existing):
                to_db &= ~np.isin(ids, existing)
        rows_db, rows_stage = np.flatnonzero(to_db), np.flatnonzero(~to_db)
        if len(rows_db):
            m = len(rows_db)
            after = (
                pgbinary.Column("text", np.broadcast_to(np.array(self.release.encode()), (m,))),
                pgbinary.Column("bigint", np.broadcast_to(np.int64(self.result.batch_id), (m,))),
            )
            copy.write(_binary_rows(checked.typed, self.known, None if m == n else rows_db, after=after))
            np.column_stack([ids[rows_db], checked.lines[rows_db]]).astype(np.int64).tofile(direct)
            self.n_direct += m
        if len(rows_stage):
            subset = None if len(rows_stage) == n else rows_stage
            before = (pgbinary.Column("bigint", checked.lines[rows_stage]),)
            stage.write(_binary_rows(checked.typed, self.known, subset, before=before))
            if self.extras:
                extra.write(_csv_rows(checked, self.extras))

    def _finish(self, cur, dup_rejects: list[Reject], identical: int, n_direct: int, rebuild: list[str]) -> None:
        result, reader = self.result, self.reader
        result.rows_read += len(reader.rejects)
        rejects = sorted(self.rejects + reader.rejects + dup_rejects, key=lambda r: (r.line is None, r.line or 0))
        stored, updated, summary = _merge(cur, self.known, self.extras, self.release, result.batch_id)
        for sql in rebuild:
            cur.execute(sql)
        record_rejects(self.conn, result.batch_id, rejects)
        result.rows_stored, result.rows_updated = n_direct + stored, updated
        result.rows_rejected = len({r.line for r in rejects})
        result.rows_unchanged = result.rows_read - result.rows_rejected - identical - result.rows_stored - updated
        result.truncated = reader.truncated
        result.rejects = rejects[:50]
        result.n_rejects = len(rejects)
        result.warnings = list(reader.warnings)
        result.provenance = reader.preamble
        details = {
            "extra_columns": self.extras,
            "missing_columns": [c.name for c in HSC_COLUMNS if c not in self.known],
            "identical_duplicates": identical,
            "rows_unchanged": result.rows_unchanged,
            "truncated": reader.truncated,
            "warnings": result.warnings,
            **summary,
        }
        close_batch(
            self.conn,
            result.batch_id,
            rows_read=result.rows_read,
            rows_stored=result.rows_stored,
            rows_updated=updated,
            rows_rejected=result.rows_rejected,
            sha256=reader.sha256,
            details=details,
            provenance=reader.preamble or None,
        )
