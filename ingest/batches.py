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

A killed process cannot run step 3. So that its batch does not stay ``running`` forever,
the batch row records the process (``worker`` = ``host:pid``) and, while the ingest runs,
the process holds a PostgreSQL session advisory lock on the batch (:func:`batch_lease`),
which the server releases when the process or its connection dies. The next ingest (and
``hscanom db status``) calls :func:`recover_stale_batches`, which marks every ``running``
batch whose lock is free ``failed`` with ``details.interrupted = true``. This works across
machines (the server sees the connection go) and cannot be fooled by a reused pid.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hscanom import db
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


#: First key of the advisory locks that mark an ingest batch as alive (second key: the id).
LEASE_LOCK_CLASS = 0x68736362  # 'hscb'


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _lock_key(batch_id: int) -> int:
    return int(batch_id) & 0x7FFFFFFF


@contextmanager
def batch_lease(url: str) -> Iterator[psycopg.Connection]:
    """A connection (:func:`hscanom.db.connect`) that holds the liveness locks of the batches
    opened with it.

    Pass it as ``lease`` to :func:`open_batch`. The locks are released when the block ends
    (or, if the process dies, when the server sees its connection close).
    """
    with db.connect(url) as holder:
        try:
            yield holder
        finally:
            try:
                holder.execute("SELECT pg_advisory_unlock_all()")
                holder.commit()
            except psycopg.Error:
                holder.close()  # a broken connection holds nothing any more


_OPEN = (
    "INSERT INTO ingest_batch (kind, uri, sha256, data_release, details, worker) "
    "VALUES (%(kind)s, %(uri)s, %(sha)s, %(rel)s, CAST(%(details)s AS jsonb), %(worker)s) RETURNING id"
)


def open_batch(
    url: str,
    kind: str,
    uri: str,
    sha256: str | None = None,
    *,
    data_release: str | None = None,
    details: dict[str, Any] | None = None,
    lease: psycopg.Connection | None = None,
) -> int:
    """Insert and commit a ``running`` batch; return its id.

    Args:
        url: the database (libpq URL, :func:`hscanom.db.database_url`).
        kind: ``catalog``, ``cutouts``, ``masks`` or ``starlist``.
        uri: the file or folder ingested (absolute path).
        sha256: hex checksum of the file, when known up front.
        data_release: HSC data release label, e.g. ``pdr2_wide``.
        details: options and notes (JSON-serialisable).
        lease: a :func:`batch_lease` connection: the row is inserted on it and its
            liveness lock taken before the row is visible to others. Without one, the
            batch counts as stale (see :func:`recover_stale_batches`) to the next ingest.
    """
    args = {"kind": kind, "uri": uri, "sha": sha256, "rel": data_release, "details": json.dumps(details or {}), "worker": worker_name()}
    if lease is None:
        with db.transaction(url) as conn:
            return conn.execute(_OPEN, args).fetchone()[0]
    batch_id = lease.execute(_OPEN, args).fetchone()[0]
    lease.execute("SELECT pg_advisory_lock(%s, %s)", (LEASE_LOCK_CLASS, _lock_key(batch_id)))
    lease.commit()  # the session lock outlives the transaction; the row appears locked
    return batch_id


def recover_stale_batches(url: str) -> list[dict[str, Any]]:
    """Mark ``failed`` every ``running`` batch whose process is gone; return those batches.

    A batch is alive while its :func:`batch_lease` connection holds its advisory lock; a
    free lock means the process was killed (or lost its connection) before it could close
    or fail the batch. The batch's uncommitted work was rolled back by the server. Each
    recovered batch gets ``details.interrupted = true`` and an ``error`` naming its worker.

    Args:
        url: the database (libpq URL).

    Returns:
        ``{"id", "kind", "uri", "worker", "started_at"}`` of each batch marked failed.
    """
    recovered = []
    with db.connect(url) as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            running = cur.execute(
                "SELECT id, kind, uri, worker, started_at FROM ingest_batch WHERE status = 'running' ORDER BY id"
            ).fetchall()
        conn.rollback()
        for batch in running:
            with conn.transaction():
                free = conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", (LEASE_LOCK_CLASS, _lock_key(batch["id"]))
                ).fetchone()[0]
                if not free:
                    continue
                error = (
                    f"interrupted: its process ({batch['worker'] or 'unknown'}) ended before the ingest finished "
                    "(killed, or its database connection was lost); what it had not committed was rolled back"
                )
                done = conn.execute(
                    "UPDATE ingest_batch SET status = 'failed', finished_at = now(), details = details || "
                    "jsonb_build_object('error', CAST(%(err)s AS text), 'interrupted', true) "
                    "WHERE id = %(id)s AND status = 'running'",
                    {"id": batch["id"], "err": error},
                ).rowcount
            if done:
                recovered.append(dict(batch))
    return recovered


def _printable(text: str) -> str:
    """``text`` as PostgreSQL can store it: a NUL byte (which text columns cannot hold) is
    written as the four characters ``\\x00``."""
    return text.replace("\x00", "\\x00")


def record_rejects(conn: psycopg.Connection, batch_id: int, rejects: Iterable[Reject]) -> int:
    """Store ``rejects`` of ``batch_id`` with COPY, in the caller's transaction.

    Returns the number of rows written.
    """
    n = 0
    with conn.cursor() as cur, cur.copy("COPY ingest_reject (batch_id, line, field, raw_value, reason) FROM STDIN") as copy:
        for r in rejects:
            value = None if r.raw_value is None else _printable(str(r.raw_value)[:MAX_RAW_VALUE])
            copy.write_row((batch_id, r.line, r.field and _printable(r.field), value, _printable(r.reason)))
            n += 1
    return n


def close_batch(
    conn: psycopg.Connection,
    batch_id: int,
    *,
    rows_read: int = 0,
    rows_stored: int = 0,
    rows_updated: int = 0,
    rows_rejected: int = 0,
    sha256: str | None = None,
    details: dict[str, Any] | None = None,
    provenance: str | None = None,
) -> None:
    """Mark ``batch_id`` complete with its counts, in the caller's transaction.

    ``details`` is merged into the batch's existing details; ``sha256`` and ``provenance``
    (the source's own description of itself, e.g. a CAS information block) are set when given.
    """
    conn.execute(
        "UPDATE ingest_batch SET status = 'complete', finished_at = now(), rows_read = %(read)s, "
        "rows_stored = %(stored)s, rows_updated = %(updated)s, rows_rejected = %(rejected)s, "
        "sha256 = COALESCE(%(sha)s, sha256), provenance = COALESCE(%(provenance)s, provenance), "
        "details = details || CAST(%(details)s AS jsonb) WHERE id = %(id)s",
        {
            "id": batch_id,
            "read": rows_read,
            "stored": rows_stored,
            "updated": rows_updated,
            "rejected": rows_rejected,
            "sha": sha256,
            "provenance": None if provenance is None else _printable(provenance),
            "details": json.dumps(details or {}),
        },
    )


def fail_batch(url: str, batch_id: int, error: str, rejects: Iterable[Reject] = ()) -> None:
    """Mark ``batch_id`` failed with ``error`` (and store ``rejects``) in a new transaction."""
    with db.transaction(url) as conn:
        conn.execute(
            "UPDATE ingest_batch SET status = 'failed', finished_at = now(), "
            "details = details || jsonb_build_object('error', CAST(%(err)s AS text)) WHERE id = %(id)s",
            {"id": batch_id, "err": error},
        )
        rejects = list(rejects)
        if rejects:
            record_rejects(conn, batch_id, rejects)
            conn.execute(
                "UPDATE ingest_batch SET rows_rejected = rows_rejected + %s WHERE id = %s",
                (sum(1 for r in rejects if r.line is not None), batch_id),
            )


@contextmanager
def ingest_batch(url: str, kind: str, uri: str, **kw: Any) -> Iterator[int]:
    """Open a batch around a block; mark it failed (and re-raise) if the block raises.

    ``url`` is the database (libpq URL); keyword arguments go to :func:`open_batch`. A
    file-level :class:`Reject` is stored with
    the failure when the exception carries one as its ``reject`` attribute. Batches left
    ``running`` by killed processes are marked failed first (:func:`recover_stale_batches`),
    and this one holds its liveness lock while the block runs.
    """
    recover_stale_batches(url)
    with batch_lease(url) as lease:
        batch_id = open_batch(url, kind, uri, lease=lease, **kw)
        try:
            yield batch_id
        except BaseException as exc:
            reject = getattr(exc, "reject", None)
            fail_batch(url, batch_id, f"{type(exc).__name__}: {exc}", [reject] if reject else [])
            raise
