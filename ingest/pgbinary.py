"""PostgreSQL binary COPY data from typed numpy columns, without a per-value Python loop.

A binary COPY stream is a header, then per row a 16-bit field count and, per field, a
32-bit byte length (``-1`` for NULL) followed by the value in network byte order, then a
16-bit ``-1`` trailer (PostgreSQL docs, "COPY", binary format). For fixed-width types the
rows of a block are laid out in one ``(n_rows, row_width)`` byte array written column by
column with numpy; NULL fields are cut out with one boolean mask. PostgreSQL then stores
the values without parsing text, which is what makes the catalog load fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Signature, flags and header-extension length that open every binary COPY stream.
HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
#: The 16-bit -1 that ends the stream.
TRAILER = (-1).to_bytes(2, "big", signed=True)

#: numpy big-endian dtype of each supported PostgreSQL type.
WIRE_DTYPES: dict[str, np.dtype] = {
    "bigint": np.dtype(">i8"),
    "integer": np.dtype(">i4"),
    "double": np.dtype(">f8"),
    "boolean": np.dtype("u1"),
}


def _wire_dtype(kind: str, values: np.ndarray) -> np.dtype:
    """Wire dtype of a column; ``text`` columns are fixed-width bytes (``S<n>``) values."""
    if kind == "text":
        if values.dtype.kind != "S":
            raise TypeError("text columns must be fixed-width bytes (numpy 'S<n>') arrays")
        return values.dtype
    return WIRE_DTYPES[kind]


@dataclass(frozen=True)
class Column:
    """One column of a block.

    Attributes:
        kind: ``bigint``, ``integer``, ``double``, ``boolean`` (see :data:`WIRE_DTYPES`), or
            ``text`` for fixed-width UTF-8 bytes (e.g. a constant label).
        values: shape ``(n,)``; any numpy dtype castable to the wire type, or ``S<n>``
            bytes for ``text`` (values under NULLs are ignored).
        nulls: shape ``(n,)`` bool, True where NULL; ``None`` when there are none.
    """

    kind: str
    values: np.ndarray
    nulls: np.ndarray | None = None


def row_dtype(columns: Sequence[Column]) -> np.dtype:
    """Packed numpy record of one binary COPY row: field count, then (length, value) pairs."""
    fields: list[tuple[str, np.dtype | str]] = [("n", ">i2")]
    for i, col in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _wire_dtype(col.kind, col.values))]
    return np.dtype(fields)


def encode_rows(columns: Sequence[Column]) -> memoryview:
    """Binary COPY rows (no header or trailer) of equal-length ``columns``, as a buffer.

    The rows are written as packed numpy records (numpy converts to network byte order
    while assigning each field); NULL values are then cut out of the byte stream with one
    flat boolean mask.
    """
    if not columns:
        raise ValueError("encode_rows needs at least one column")
    n = len(columns[0].values)
    dtype = row_dtype(columns)
    rows = np.empty(n, dtype=dtype)
    rows["n"] = len(columns)
    keep = None
    for i, col in enumerate(columns):
        if len(col.values) != n:
            raise ValueError("columns of one block must have the same length")
        size = dtype.fields[f"v{i}"][0].itemsize
        rows[f"v{i}"] = col.values
        if col.nulls is not None and col.nulls.any():
            rows[f"l{i}"] = np.where(col.nulls, -1, size)
            if keep is None:
                keep = np.ones((n, dtype.itemsize), dtype=bool)
            offset = dtype.fields[f"v{i}"][1]
            keep[col.nulls, offset : offset + size] = False
        else:
            rows[f"l{i}"] = size
    flat = rows.view(np.uint8)
    return flat.data if keep is None else flat[keep.ravel()].data


def decode_bigints(data: bytes) -> np.ndarray:
    """The values of a one-column, NULL-free ``bigint`` binary COPY stream (header and
    trailer included), as int64 of shape ``(n,)``."""
    body = memoryview(data)[len(HEADER) : len(data) - len(TRAILER)]
    rows = np.frombuffer(body, dtype=np.dtype([("n", ">i2"), ("l", ">i4"), ("v", ">i8")]))
    if len(rows) and not ((rows["n"] == 1).all() and (rows["l"] == 8).all()):
        raise ValueError("not a one-column, NULL-free bigint COPY stream")
    return rows["v"].astype(np.int64)
