"""User SQL, run safely: on its own connection, logged in as the read-only login role.

Everything that executes SQL a user typed (``hscanom sql run``, ``hscanom sql shell``, the
explorer's WHERE filter) logs in as :data:`READER_ROLE` (``hscanom_reader``, migration 0005):
a LOGIN role that is not a superuser, cannot create roles or databases, is a member of no
other role (so ``SET ROLE``, ``RESET ROLE``, ``set_config('role', ...)`` and ``SET SESSION
AUTHORIZATION`` cannot lead anywhere), has SELECT on hscanom's tables and views only, has
``default_transaction_read_only = on`` and a ``statement_timeout`` set on the role itself, and
cannot execute the server-file, large-object, signal or configuration functions (EXECUTE
revoked from PUBLIC in hscanom's database). The owner's connection is never used for user
SQL: ``SET ROLE`` on a privileged session is not a security boundary.

On that connection a user statement runs only as ``DECLARE ... CURSOR FOR <statement>``, sent
with the extended protocol: the server then accepts exactly one ``SELECT`` / ``VALUES`` /
``TABLE`` / ``WITH ... SELECT`` without data-modifying ``WITH`` parts, and refuses ``DO``,
``SET``, ``COPY``, ``LOCK``, writes and a second statement after ``;``. Rows are fetched from
the cursor in batches (a ``--max-rows 2`` never transfers the whole result). The transaction
is ``READ ONLY`` with the caller's statement timeout and is always rolled back.

The reader's login: ``HSCANOM_READER_URL`` when set; otherwise the database URL with the user
replaced by ``hscanom_reader`` and the password removed (the embedded cluster lets it in
through its owner-only Unix socket; on an external server libpq's ``~/.pgpass`` or
``PGPASSFILE`` supplies its password). Before any user SQL runs, the session is checked: a
login that is a superuser, may create roles or databases, or is a member of any role is
refused, so a mistaken ``HSCANOM_READER_URL`` fails loudly instead of running user SQL with
privileges.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

#: The login role user SQL runs as (migration 0005; ``hscanom db grant-reader``).
READER_ROLE = "hscanom_reader"

#: Environment variable with the reader's libpq URL (default: derived from the database URL).
READER_URL_ENV = "HSCANOM_READER_URL"

#: Default statement timeout [s] (also set on the role by migration 0005).
DEFAULT_TIMEOUT_S = 30.0

#: Rows per round trip when reading a user query's cursor.
FETCH_BATCH = 2000

#: Name of the server-side cursor user statements run in.
CURSOR_NAME = "hscanom_user_query"

_QUERY_WORDS = ("SELECT", "WITH", "VALUES", "TABLE", "(")


class ReadOnlyQueryError(RuntimeError):
    """A user query failed: it tried to write, timed out, is not a query, or is invalid SQL.

    ``sqlstate`` is PostgreSQL's error code (e.g. ``25006`` read-only transaction,
    ``42501`` insufficient privilege, ``57014`` statement timeout, ``42601`` syntax error),
    or ``None`` when hscanom refused the statement or the login before the server ran it.
    """

    def __init__(self, message: str, sqlstate: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate


def reader_url(url: str) -> str:
    """The reader's libpq connection string for the database at ``url``.

    ``$HSCANOM_READER_URL`` when set (it then wins over ``url``); otherwise ``url`` with the
    user replaced by :data:`READER_ROLE` and any password removed.
    """
    explicit = os.environ.get(READER_URL_ENV)
    if explicit:
        return explicit
    params = conninfo_to_dict(url)
    params.pop("password", None)
    params["user"] = READER_ROLE
    return make_conninfo(**params)


def skip_comment(sql: str, i: int) -> int | None:
    """Where the SQL comment that starts at ``sql[i]`` ends (the index after it), as
    PostgreSQL's lexer reads comments: ``--`` to the end of the line, ``/* */`` nested.

    Returns:
        ``i`` itself when no comment starts there; ``None`` for an unterminated ``/*``.
    """
    n = len(sql)
    if sql.startswith("--", i):
        j = sql.find("\n", i)
        return n if j < 0 else j + 1
    if not sql.startswith("/*", i):
        return i
    depth, j = 1, i + 2
    while j < n and depth:
        if sql.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif sql.startswith("*/", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return None if depth else j


def leading_word(sql: str) -> str:
    """The statement's first keyword (upper case) after whitespace and comments; ``''`` if none."""
    i, n = 0, len(sql)
    while i < n:
        if sql[i].isspace():
            i += 1
            continue
        j = skip_comment(sql, i)
        if j is None:
            i = n
        elif j > i:
            i = j
        else:
            break
    if i < n and sql[i] == "(":
        return "("
    m = re.match(r"[A-Za-z_]+", sql[i:])
    return m.group(0).upper() if m else sql[i:i + 1]


def _explain(exc: psycopg.Error, sql: str | None = None) -> ReadOnlyQueryError:
    state = exc.sqlstate
    text = ((exc.diag.message_primary if exc.diag else None) or str(exc)).strip()
    if state == "57014":
        text = f"query cancelled: it ran longer than the statement timeout ({text})"
    elif state in ("25006", "42501"):
        text = f"queries here are read-only: {text}"
    elif state == "42601" and sql is not None and leading_word(sql) not in _QUERY_WORDS:
        text = (f"only one query that returns rows runs here (SELECT, VALUES, TABLE or WITH ... SELECT), "
                f"not a {leading_word(sql) or 'empty'} statement ({text})")
    elif state == "0A000" and "DECLARE CURSOR" in text:
        text = f"queries here are read-only: {text}"
    return ReadOnlyQueryError(text, state)


_PRIVILEGES = """
SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
       ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid ORDER BY 1),
       current_user = session_user
  FROM pg_roles r WHERE r.rolname = session_user
"""


def check_login(conn: psycopg.Connection) -> None:
    """Refuse a session that could do more than read.

    Raises:
        ReadOnlyQueryError: the login is a superuser, may create roles or databases, may
            replicate or bypass row security, or is a member of any other role.
    """
    row = conn.execute(_PRIVILEGES).fetchone()
    user = conn.info.user
    if row is None:
        raise ReadOnlyQueryError(f"cannot inspect the login role {user!r}")
    flags = [name for name, on in zip(("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"), row[:5]) if on]
    problems = flags + [f"member of {', '.join(row[5])}"] * bool(row[5]) + ["SET ROLE in effect"] * (not row[6])
    if problems:
        raise ReadOnlyQueryError(
            f"refusing to run user SQL as {user!r}: {'; '.join(problems)}. User SQL must log in as the "
            f"read-only role {READER_ROLE} (set {READER_URL_ENV}, or run `hscanom db grant-reader`; see docs/security.md)"
        )


def connect(url: str) -> psycopg.Connection:
    """A checked connection logged in as the reader for the database at ``url``.

    Raises:
        ReadOnlyQueryError: the login failed, or the login role is privileged.
    """
    target = reader_url(url)
    try:
        conn = psycopg.connect(target)
    except psycopg.OperationalError as exc:
        raise ReadOnlyQueryError(
            f"cannot log in as the read-only role {READER_ROLE} ({str(exc).strip()}); run `hscanom db upgrade` "
            f"(embedded database) or `hscanom db grant-reader` and set {READER_URL_ENV} (external server)"
        ) from None
    try:
        check_login(conn)
        conn.rollback()
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def readonly_transaction(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[psycopg.Connection]:
    """A reader connection inside a read-only transaction, rolled back at exit.

    Args:
        url: libpq URL of the database (any user: the connection logs in as the reader,
            see :func:`reader_url`).
        timeout_s: statement timeout [s] for every statement of the transaction.

    Raises:
        ReadOnlyQueryError: for any database error raised inside the block, and when the
            reader cannot log in or is privileged.
    """
    conn = connect(url)
    try:
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
        yield conn
    except psycopg.Error as exc:
        raise _explain(exc) from exc
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


@contextmanager
def open_query(url: str, sql: str, params: dict | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[psycopg.ServerCursor]:
    """Run ONE user query as the reader and yield its server-side cursor.

    The statement runs as ``DECLARE ... CURSOR FOR <sql>`` (extended protocol): only one
    row-returning, non-writing query is accepted. Read the rows with ``fetchmany`` /
    ``fetchone`` / iteration (batches of :data:`FETCH_BATCH`); ``cursor.description`` names
    the columns. :func:`count_rest` counts the rows not read without transferring them.

    Raises:
        ReadOnlyQueryError: the database refused or cancelled the statement (also while
            fetching), or the login is refused.
    """
    with readonly_transaction(url, timeout_s) as conn:
        cur = conn.cursor(name=CURSOR_NAME)
        cur.itersize = FETCH_BATCH
        try:
            cur.execute(sql, params or None)
        except psycopg.Error as exc:
            raise _explain(exc, sql) from exc
        try:
            yield cur
        except psycopg.Error as exc:
            raise _explain(exc) from exc


def count_rest(cur: psycopg.ServerCursor) -> int:
    """Number of rows of ``cur`` not fetched yet (server-side ``MOVE FORWARD ALL``; no rows travel)."""
    moved = cur.connection.execute(f'MOVE FORWARD ALL IN "{CURSOR_NAME}"')
    return max(moved.rowcount, 0)


def query(url: str, sql: str, params: dict | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[list[str], list[tuple]]:
    """Run one user query read-only as the reader; returns (column names, rows)."""
    with open_query(url, sql, params, timeout_s) as cur:
        return [d.name for d in cur.description], cur.fetchall()
