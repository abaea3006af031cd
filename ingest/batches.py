"""Bookkeeping of ingest runs: ``ingest_batch`` rows and their ``ingest_reject`` rows.

Every ingest (a catalog file, a mask file, a star list, a cutout folder) is one
``ingest_batch`` row. Its life is:

1. :func:`open_batch` commits the row as ``running`` in its own transaction, so that it
   survives a load that fails and is rolled back;
2. the load writes its data, :func:`record_rejects` and :func:`close_batch` in *one*
   transaction: the data, the refused rows and the ``complete`` status commit together;
3. if anything raises, :func:`fail_batch` marks the row ``failed`` (with the error, and
   optionally a file-level reject) in a new transaction.

:func:`ingest_batch` wraps steps 1 and 3 around a block of code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hscanom.checksum import sha256_file

#: Longest raw value kept in ``ingest_reject.raw_value`` (characters).
MAX_RAW_VALUE = 500


@dataclass(frozen=True)
class Reject:
    """A refused row, field or file.

    Attributes:
        line: 1-based line (text files) or row (tables); ``None`` for the whole file.
        field: the column or field at fault, or ``None``.
        raw_value: the value as read (truncated to :data:`MAX_RAW_VALUE` characters).
        reason: why it was refused, in words.
    """

    line: int | None
    field: str | None
    raw_value: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        what = f", {self.field}" if self.field else ""
        value = f" ({self.raw_value!r})" if self.raw_value is not None else ""
        return f"{where}{what}: {self.reason}{value}"


#: Hex sha256 of a file (the one checksum function, :func:`hscanom.checksum.sha256_file`).
file_sha256 = sha256_file


def open_batch(
    engine: sa.Engine,
    kind: str,
    uri: str,
    sha256: str | None = None,
    *,
    data_release: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Insert and commit a ``running`` batch; return its id.

    Args:
        engine: the database (:func:`hscanom.db.engine`).
        kind: ``catalog``, ``cutouts``, ``masks`` or ``starlist``.
        uri: the file or folder ingested (absolute path).
        sha256: hex checksum of the file, when known up front.
        data_release: HSC data release label, e.g. ``pdr2_wide``.
        details: options and notes (JSON-serialisable).
    """
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "INSERT INTO ingest_batch (kind, uri, sha256, data_release, details) "
                "VALUES (:kind, :uri, :sha, :rel, CAST(:details AS jsonb)) RETURNING id"
            ),
            {"kind": kind, "uri": uri, "sha": sha256, "rel": data_release, "details": json.dumps(details or {})},
        ).scalar_one()


def record_rejects(conn: sa.Connection, batch_id: int, rejects: Iterable[Reject]) -> int:
    """Store ``rejects`` of ``batch_id`` with COPY, in the caller's transaction.

    Returns the number of rows written.
    """
    raw = conn.connection.driver_connection
    n = 0
    with raw.cursor() as cur, cur.copy("COPY ingest_reject (batch_id, line, field, raw_value, reason) FROM STDIN") as copy:
        for r in rejects:
            value = None if r.raw_value is None else str(r.raw_value)[:MAX_RAW_VALUE]
            copy.write_row((batch_id, r.line, r.field, value, r.reason))
            n += 1
    return n


def close_batch(
    conn: sa.Connection,
    batch_id: int,
    *,
    rows_read: int = 0,
    rows_stored: int = 0,
    rows_updated: int = 0,
    rows_rejected: int = 0,
    sha256: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Mark ``batch_id`` complete with its counts, in the caller's transaction.

    ``details`` is merged into the batch's existing details; ``sha256`` is set when given.
    """
    conn.execute(
        sa.text(
            "UPDATE ingest_batch SET status = 'complete', finished_at = now(), rows_read = :read, "
            "rows_stored = :stored, rows_updated = :updated, rows_rejected = :rejected, "
            "sha256 = COALESCE(:sha, sha256), details = details || CAST(:details AS jsonb) WHERE id = :id"
        ),
        {
            "id": batch_id,
            "read": rows_read,
            "stored": rows_stored,
            "updated": rows_updated,
            "rejected": rows_rejected,
            "sha": sha256,
            "details": json.dumps(details or {}),
        },
    )


def fail_batch(engine: sa.Engine, batch_id: int, error: str, rejects: Iterable[Reject] = ()) -> None:
    """Mark ``batch_id`` failed with ``error`` (and store ``rejects``) in a new transaction."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE ingest_batch SET status = 'failed', finished_at = now(), "
                "details = details || jsonb_build_object('error', CAST(:err AS text)) WHERE id = :id"
            ),
            {"id": batch_id, "err": error},
        )
        rejects = list(rejects)
        if rejects:
            record_rejects(conn, batch_id, rejects)
            conn.execute(
                sa.text("UPDATE ingest_batch SET rows_rejected = rows_rejected + :n WHERE id = :id"),
                {"id": batch_id, "n": sum(1 for r in rejects if r.line is not None)},
            )


@contextmanager
def ingest_batch(engine: sa.Engine, kind: str, uri: str, **kw: Any) -> Iterator[int]:
    """Open a batch around a block; mark it failed (and re-raise) if the block raises.

    Keyword arguments go to :func:`open_batch`. A file-level :class:`Reject` is stored with
    the failure when the exception carries one as its ``reject`` attribute.
    """
    batch_id = open_batch(engine, kind, uri, **kw)
    try:
        yield batch_id
    except BaseException as exc:
        reject = getattr(exc, "reject", None)
        fail_batch(engine, batch_id, f"{type(exc).__name__}: {exc}", [reject] if reject else [])
        raise
