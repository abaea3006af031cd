"""Plain ``.sql`` files shipped with hscanom, and the loader of the named queries.

Two kinds of files live here:

* ``sql/*.sql``: sample selections (presets of ``hscanom sample create --preset``, listed by
  :func:`hscanom.samples.presets`);
* ``sql/queries/*.sql``: named, documented queries over scores and metadata, run by
  ``hscanom sql run NAME`` as the read-only role (:mod:`hscanom.readonly`).

Every file starts with a header of ``--`` comment lines::

    -- NAME: one-line title.
    --
    -- Purpose: what it computes (may go on over several lines).
    -- Parameters:
    --   run_id (bigint): the score run.
    --   threshold (float8, default 3): selection threshold on s_disc_sigma [sigma].
    --   mask_version (text, optional): ... (optional = default NULL)
    -- Output columns:
    --   object_id (bigint): HSC object id.
    --   r_eff_arcsec (float8): determinant radius [arcsec].

``Parameters: none.`` declares no parameter. A trailing ``[unit]`` in a description is the
unit (written to FITS ``TUNITn`` and Parquet field metadata by ``--out``). Parameters are
psycopg named placeholders ``%(name)s`` in the body; the body is what runs (the header is
not sent). Array parameters (``float8[]``, ``bigint[]``, ``text[]``) take comma-separated
values, or a column of the same name of an uploaded CSV (:func:`read_upload`).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hscanom.schema.columns import ColumnSpec

__all__ = [
    "NamedQuery",
    "OutputColumn",
    "QueryError",
    "QueryParam",
    "bind",
    "list_queries",
    "load",
    "load_file",
    "parse",
    "QueryResult",
    "read_upload",
    "run",
]

QUERIES_DIR = "queries"

#: psycopg named placeholders (%(name)s, and the binary/text forms %(name)b, %(name)t).
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sbt]")
_SECTION = re.compile(r"^(Purpose|Parameters|Output columns)\s*:\s*(.*)$", re.IGNORECASE)
_ITEM = re.compile(r"^(\w+)\s*\(([^)]*)\)\s*:\s*(.*)$")
_UNIT = re.compile(r"\[([^\]]+)\]\s*\.?\s*$")


class QueryError(ValueError):
    """A named query that does not exist, a malformed header, or bad parameter values."""


# -- parameter types ----------------------------------------------------------------------
def _to_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "t", "yes", "y", "1", "on"):
        return True
    if value in ("false", "f", "no", "n", "0", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _to_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _to_int(text: str) -> int:
    return int(text.strip())


#: Scalar converters by the SQL type named in a header.
_SCALARS: dict[str, Callable[[str], Any]] = {
    "bigint": _to_int, "integer": _to_int, "int": _to_int, "int8": _to_int, "int4": _to_int, "smallint": _to_int,
    "float8": _to_float, "double precision": _to_float, "real": _to_float, "float4": _to_float, "numeric": _to_float,
    "text": str, "varchar": str,
    "boolean": _to_bool, "bool": _to_bool,
}


@dataclass(frozen=True)
class QueryParam:
    """A declared parameter: ``name (type[, default V | , optional]): description``."""

    name: str
    type: str
    description: str
    required: bool = True
    default: Any = None

    @property
    def is_array(self) -> bool:
        return self.type.endswith("[]")

    def convert(self, value: Any) -> Any:
        """A value from the command line (text), an upload (list) or Python, typed for psycopg.

        Text ``null`` (any case) is NULL. An array takes a list, or comma-separated text.
        """
        base = self.type[:-2] if self.is_array else self.type
        scalar = _SCALARS.get(base)
        if scalar is None:
            raise QueryError(f"parameter {self.name}: unsupported type {self.type!r}")
        if value is None or (isinstance(value, str) and value.strip().lower() == "null"):
            return None
        try:
            if self.is_array:
                items = value.split(",") if isinstance(value, str) else list(value)
                return [None if v is None else scalar(str(v)) for v in items]
            return scalar(str(value))
        except ValueError as exc:
            raise QueryError(f"parameter {self.name} ({self.type}): {exc}") from None

    def convert_item(self, text: str) -> Any:
        """One element of an array parameter (or the value of a scalar one) from text."""
        scalar = _SCALARS[self.type[:-2] if self.is_array else self.type]
        try:
            return scalar(text)
        except ValueError as exc:
            raise QueryError(str(exc)) from None


@dataclass(frozen=True)
class OutputColumn(ColumnSpec):
    """A declared output column: a :class:`~hscanom.schema.columns.ColumnSpec` (name,
    description as the header writes it, ``[unit]`` included, and that unit or None) with its
    SQL ``type``."""

    type: str = field(kw_only=True)


@dataclass(frozen=True)
class NamedQuery:
    """A parsed query file.

    Attributes:
        name: file name without ``.sql``.
        title: the summary after ``NAME:`` on the first line.
        purpose: the ``Purpose:`` text.
        params: declared parameters, in header order.
        columns: declared output columns, in header order.
        body: the SQL that runs (the file without its header comments).
        text: the whole file.
        path: where it was read from (a string; package data may not be a real file).
    """

    name: str
    title: str
    purpose: str
    params: tuple[QueryParam, ...]
    columns: tuple[OutputColumn, ...]
    body: str
    text: str
    path: str

    def param(self, name: str) -> QueryParam:
        for p in self.params:
            if p.name == name:
                return p
        raise QueryError(f"query {self.name} has no parameter {name!r} (parameters: {', '.join(p.name for p in self.params) or 'none'})")

    def column(self, name: str) -> OutputColumn | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    @property
    def placeholders(self) -> set[str]:
        """Names of the ``%(name)s`` placeholders of the body."""
        return set(_PLACEHOLDER.findall(self.body))


# -- parsing ------------------------------------------------------------------------------
def _split_header(text: str) -> tuple[list[str], str]:
    """(comment lines of the leading header without ``--``, the rest)."""
    lines = text.splitlines()
    header: list[str] = []
    k = 0
    while k < len(lines) and (lines[k].lstrip().startswith("--") or (not lines[k].strip() and not header)):
        stripped = lines[k].lstrip()
        if stripped.startswith("--"):
            header.append(stripped[2:].strip())
        k += 1
    return header, "\n".join(lines[k:]).strip()


def _items(lines: list[str], where: str) -> list[tuple[str, str, str]]:
    """``name (inside): description`` items, continuation lines joined to the last one."""
    items: list[list[str]] = []
    for line in lines:
        if not line:
            continue
        m = _ITEM.match(line)
        if m:
            items.append([m.group(1), m.group(2).strip(), m.group(3).strip()])
        elif items:
            items[-1][2] = f"{items[-1][2]} {line}".strip()
        else:
            raise QueryError(f"{where}: cannot read {line!r} (expected 'name (type): description')")
    return [(a, b, c) for a, b, c in items]


def _param(name: str, inside: str, description: str, where: str) -> QueryParam:
    parts = [p.strip() for p in inside.split(",")]
    sql_type, required, default_text = parts[0].lower(), True, None
    for extra in parts[1:]:
        if extra.lower() == "optional":
            required = False
        elif extra.lower().startswith("default "):
            required, default_text = False, extra[len("default "):].strip()
        else:
            raise QueryError(f"{where}: parameter {name}: cannot read {extra!r} (expected 'default VALUE' or 'optional')")
    p = QueryParam(name, sql_type, description, required)
    if (p.type[:-2] if p.is_array else p.type) not in _SCALARS:
        raise QueryError(f"{where}: parameter {name}: unsupported type {sql_type!r}")
    if default_text is not None:
        p = QueryParam(name, sql_type, description, False, p.convert(default_text))
    return p


def parse(text: str, name: str, path: str = "") -> NamedQuery:
    """Parse a query file's header (see the module docstring).

    Raises:
        QueryError: a malformed header, or placeholders and declared parameters that differ.
    """
    where = path or name
    header, body = _split_header(text)
    if not body:
        raise QueryError(f"{where}: no SQL after the header")
    title = ""
    if header and ":" in header[0] and not _SECTION.match(header[0]):
        title = header[0].split(":", 1)[1].strip()
        header = header[1:]
    sections: dict[str, list[str]] = {"purpose": [], "parameters": [], "output columns": []}
    current: str | None = None
    for line in header:
        m = _SECTION.match(line)
        if m:
            current = m.group(1).lower()
            if m.group(2):
                sections[current].append(m.group(2))
        elif current:
            sections[current].append(line)
    purpose = " ".join(s for s in sections["purpose"] if s).strip()
    param_lines = [s for s in sections["parameters"] if s]
    params: list[QueryParam] = []
    if param_lines and param_lines[0].lower().rstrip(".") != "none":
        params = [_param(n, i, d, where) for n, i, d in _items(param_lines, f"{where}: Parameters")]
    column_lines = [s for s in sections["output columns"] if s]
    columns: list[OutputColumn] = []
    if column_lines and _ITEM.match(column_lines[0]):  # else free text, as in the sample presets
        for n, inside, desc in _items(column_lines, f"{where}: Output columns"):
            m = _UNIT.search(desc)
            columns.append(OutputColumn(n, desc, m.group(1) if m else None, type=inside.strip()))
    query = NamedQuery(name, title, purpose, tuple(params), tuple(columns), body, text, path)
    declared = {p.name for p in params}
    if query.placeholders != declared:
        missing, unused = sorted(query.placeholders - declared), sorted(declared - query.placeholders)
        raise QueryError(
            f"{where}: placeholders and declared parameters differ"
            + (f"; undeclared: {', '.join(missing)}" if missing else "")
            + (f"; declared but unused: {', '.join(unused)}" if unused else "")
        )
    return query


# -- loading ------------------------------------------------------------------------------
def _query_files() -> dict[str, Any]:
    folder = resources.files(__name__).joinpath(QUERIES_DIR)
    return {p.name[:-4]: p for p in folder.iterdir() if p.name.endswith(".sql")}


def list_queries() -> list[NamedQuery]:
    """Every shipped named query (``sql/queries/*.sql``), by name."""
    return [load(name) for name in sorted(_query_files())]


def load(name: str) -> NamedQuery:
    """The shipped named query ``name`` (QueryError naming the known ones if absent)."""
    files = _query_files()
    if name not in files:
        raise QueryError(f"no named query {name!r} (known: {', '.join(sorted(files))}; or give a path to a .sql file)")
    return parse(files[name].read_text(), name, f"sql/{QUERIES_DIR}/{name}.sql")


def load_file(path: str | Path) -> NamedQuery:
    """A user's ``.sql`` file: with a header it is parsed like the shipped ones; without one,
    its placeholders become required text parameters."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise QueryError(f"{path}: cannot read ({exc.strerror or exc})") from None
    header, body = _split_header(text)
    if any(_SECTION.match(line) for line in header):
        return parse(text, path.stem, str(path))
    if not body:
        raise QueryError(f"{path}: no SQL in the file")
    names = sorted(set(_PLACEHOLDER.findall(body)))
    params = tuple(QueryParam(n, "text", "(undeclared parameter)") for n in names)
    return NamedQuery(path.stem, "", "", params, (), body, text, str(path))


def bind(query: NamedQuery, values: Mapping[str, Any]) -> dict[str, Any]:
    """Typed parameter values: the given ones converted, defaults for the others.

    Raises:
        QueryError: an unknown parameter, a missing required one, or a value of the wrong type.
    """
    known = {p.name for p in query.params}
    unknown = sorted(set(values) - known)
    if unknown:
        raise QueryError(f"query {query.name} has no parameter {', '.join(unknown)} (parameters: {', '.join(sorted(known)) or 'none'})")
    out: dict[str, Any] = {}
    for p in query.params:
        if p.name in values:
            out[p.name] = p.convert(values[p.name])
        elif p.required:
            raise QueryError(f"query {query.name} needs --param {p.name}=VALUE ({p.type}; see `hscanom sql show {query.name}`)")
        else:
            out[p.name] = p.default
    return out


def read_upload(path: str | Path, query: NamedQuery) -> dict[str, list]:
    """Array parameters of ``query`` from the same-named columns of a CSV file.

    The file has a header line (column names, case-insensitive; a leading ``#`` is ignored, as
    in CAS output); each array parameter of the query takes its column, typed by the header.
    Other columns are ignored.

    Raises:
        QueryError: unreadable file, a missing column, or a bad value (naming file, line, column).
    """
    path = Path(path)
    arrays = [p for p in query.params if p.is_array]
    if not arrays:
        raise QueryError(f"query {query.name} takes no list parameter, so --upload has nothing to fill")
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise QueryError(f"{path}: empty file (expected a header line with {', '.join(p.name for p in arrays)})")
            names = [h.strip().lstrip("#").strip().lower() for h in header]
            where = {}
            for p in arrays:
                if p.name not in names:
                    raise QueryError(f"{path}: no column {p.name!r} (columns: {', '.join(names)})")
                where[p.name] = names.index(p.name)
            out: dict[str, list] = {p.name: [] for p in arrays}
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                for p in arrays:
                    k = where[p.name]
                    raw = row[k].strip() if k < len(row) else ""
                    if raw == "":
                        raise QueryError(f"{path}: line {line_no}, column {p.name}: empty value")
                    try:
                        out[p.name].append(p.convert_item(raw))
                    except QueryError as exc:
                        raise QueryError(f"{path}: line {line_no}, column {p.name}: {exc}") from None
    except OSError as exc:
        raise QueryError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise QueryError(f"{path}: not a CSV text file ({exc})") from None
    return out


@dataclass(frozen=True)
class QueryResult:
    """Rows of a query: ``columns`` names, ``type_oids`` (PostgreSQL type oids), ``rows``."""

    columns: list[str]
    type_oids: list[int]
    rows: list[tuple]


def run(query: NamedQuery, values: Mapping[str, Any] | None = None, *, url: str | None = None, timeout_s: float | None = None) -> QueryResult:
    """Run ``query`` read-only and return all its rows (see :func:`stream`).

    Args:
        values: parameter values (text or typed), converted by :func:`bind`.
        url: database URL (default: the configured database); the query logs in as the
            read-only role of that database (:func:`hscanom.readonly.reader_url`).
        timeout_s: statement timeout [s] (default :data:`hscanom.readonly.DEFAULT_TIMEOUT_S`).

    Raises:
        QueryError: bad parameters.
        hscanom.readonly.ReadOnlyQueryError: the database refused or cancelled the statement.
    """
    with stream(query, values, url=url, timeout_s=timeout_s) as cur:
        return QueryResult([d.name for d in cur.description], [d.type_code for d in cur.description], cur.fetchall())


@contextmanager
def stream(query: NamedQuery, values: Mapping[str, Any] | None = None, *, url: str | None = None, timeout_s: float | None = None) -> Iterator[Any]:
    """Run ``query`` as the read-only login role and yield its server-side cursor.

    Rows travel in batches as they are read (``fetchmany``, iteration);
    :func:`hscanom.readonly.count_rest` counts the rest without transferring it. Arguments
    and errors as :func:`run`.
    """
    from hscanom import db, readonly

    params = bind(query, values or {})
    with readonly.open_query(url or db.database_url(), query.body, params, timeout_s or readonly.DEFAULT_TIMEOUT_S) as cur:
        yield cur
