"""User SQL, run safely: as the read-only role, in a read-only transaction, with a timeout.

Everything that executes SQL a user typed (``hscanom sql run``, the explorer's WHERE filter)
goes through :func:`readonly_transaction`. Inside it the session is ``SET ROLE
hscanom_reader`` (SELECT privileges only; created by migration 0004), the transaction is
``READ ONLY`` and ``statement_timeout`` is set, and the transaction is always rolled back.
A statement that tries to write, or runs longer than the timeout, fails with
:class:`ReadOnlyQueryError` carrying the database's message, and nothing changes.

User statements must go through :func:`execute` (or ``conn.execute(..., prepare=True)``):
a prepared statement is exactly one command, so ``SELECT 1; COMMIT; DROP ...`` is refused
instead of ending the read-only transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

#: The role user SQL runs as (migration 0004).
READER_ROLE = "hscanom_reader"

#: Default statement timeout [s].
DEFAULT_TIMEOUT_S = 30.0


class ReadOnlyQueryError(RuntimeError):
    """A user query failed: it tried to write, timed out, or is invalid SQL.

    ``sqlstate`` is PostgreSQL's error code (e.g. ``25006`` read-only transaction,
    ``42501`` insufficient privilege, ``57014`` statement timeout, ``42601`` syntax error).
    """

    def __init__(self, message: str, sqlstate: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate


def _explain(exc: psycopg.Error) -> ReadOnlyQueryError:
    state = exc.sqlstate
    text = (exc.diag.message_primary or str(exc)).strip()
    if state == "57014":
        text = f"query cancelled: it ran longer than the statement timeout ({text})"
    elif state in ("25006", "42501"):
        text = f"queries here are read-only: {text}"
    return ReadOnlyQueryError(text, state)


@contextmanager
def readonly_transaction(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[psycopg.Connection]:
    """A connection inside a read-only transaction as ``hscanom_reader``, rolled back at exit.

    Args:
        url: libpq URL of the database (its user must be a member of ``hscanom_reader``,
            which migration 0004 arranges for the migrating user).
        timeout_s: statement timeout [s] for every statement of the transaction.

    Raises:
        ReadOnlyQueryError: for any database error raised inside the block.
    """
    with psycopg.connect(url) as conn:
        try:
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL ROLE {READER_ROLE}")
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(timeout_s * 1000)}ms",))
            yield conn
        except psycopg.Error as exc:
            raise _explain(exc) from exc
        finally:
            conn.rollback()


def execute(conn: psycopg.Connection, sql: str, params: dict | None = None) -> psycopg.Cursor:
    """Execute ONE user statement on a :func:`readonly_transaction` connection.

    The statement is prepared server-side, which refuses several commands in one string.
    """
    return conn.execute(sql, params or None, prepare=True)


def query(url: str, sql: str, params: dict | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[list[str], list[tuple]]:
    """Run one user statement read-only; returns (column names, rows)."""
    with readonly_transaction(url, timeout_s) as conn:
        cur = execute(conn, sql, params)
        if cur.description is None:
            raise ReadOnlyQueryError("the statement returned no rows (only SELECT-like queries run here)")
        return [d.name for d in cur.description], cur.fetchall()
