"""One way to reach the database: resolve the URL, connect, run migrations.

Every stage (ingest, samples, packing, ml, catalog, report, the pipeline, the command line)
connects with :func:`connect` / :func:`transaction` (psycopg 3, ``%s`` / ``%(name)s``
placeholders, COPY through ``cursor().copy``) and passes a URL or an open psycopg connection
between functions; a long-running server (the explorer) holds a :func:`pool` of the same
connections. :func:`engine` (SQLAlchemy) serves only Alembic (:func:`alembic_config`,
:func:`upgrade`, :func:`current_revision`) and schema inspection (:func:`status`, tests).
User SQL has its own, read-only door (:mod:`hscanom.readonly`). See docs/architecture.md,
"The database doorway". Every command resolves its URL with :func:`database_url`. With
``HSCANOM_DATABASE_URL`` set they use that server and never start one; otherwise they use
(and, when ``start=True``, start) the embedded cluster under ``HSCANOM_HOME``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psycopg
import sqlalchemy as sa
from psycopg_pool import ConnectionPool
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from hscanom.config import Settings, libpq_url, sqlalchemy_url
from hscanom.embedded import EmbeddedCluster

#: Tables whose row counts ``hscanom db status`` reports.
MAIN_TABLES: tuple[str, ...] = (
    "hsc_object",
    "ingest_batch",
    "ingest_reject",
    "cutout",
    "bright_star_mask",
    "sample",
    "sample_member",
    "model",
    "score_run",
    "anomaly_score",
    "embedding",
    "cluster_label",
    "release",
)


def cluster(settings: Settings | None = None) -> EmbeddedCluster:
    """The embedded cluster of ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    return EmbeddedCluster(settings.home)


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """libpq URL of the database in use.

    Args:
        settings: default from the environment.
        start: start the embedded cluster if it is not running (ignored for an external URL).
    """
    settings = settings or Settings.from_env()
    if settings.external_url:
        return libpq_url(settings.external_url)
    emb = cluster(settings)
    if start:
        emb.start()
    return emb.url()


def reader_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """libpq connection string of the read-only login role (``hscanom_reader``) that user SQL uses.

    ``$HSCANOM_READER_URL`` when set, else :func:`database_url` with the user replaced
    (see :func:`hscanom.readonly.reader_url`).
    """
    from hscanom import readonly

    return readonly.reader_url(database_url(settings, start=start))


@dataclass
class GrantReport:
    """What :func:`grant_reader` did: ``hardened`` is False when the functions' and languages'
    EXECUTE/USAGE could not be revoked (not a superuser); ``warnings`` are the server's."""

    hardened: bool
    password_set: bool
    warnings: list[str]


def grant_reader(admin_url: str, password: str | None = None) -> GrantReport:
    """Create or repair the read-only login role in the database at ``admin_url``.

    Runs the statements of migration 0005 (idempotent): the role with LOGIN and no
    privileges beyond SELECT, its settings, and (as a superuser) the revocations from
    PUBLIC. ``password`` (optional) becomes the role's password, for servers that ask one.

    Raises:
        psycopg.Error: the server refused (e.g. the admin role may not create roles).
    """
    import importlib

    import psycopg
    from psycopg import sql as psql

    from hscanom.readonly import READER_ROLE

    m = importlib.import_module("hscanom.schema.migrations.versions.0005_reader_login")
    warnings: list[str] = []
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.add_notice_handler(lambda d: warnings.append(d.message_primary or ""))
        conn.execute(m.ROLE)
        conn.execute(m.HARDEN)
        if password:
            conn.execute(psql.SQL("ALTER ROLE {} PASSWORD {}").format(psql.Identifier(READER_ROLE), psql.Literal(password)))
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    return GrantReport(bool(superuser), bool(password), [w for w in warnings if w])


@lru_cache(maxsize=8)
def _engine_for(url: str) -> sa.Engine:
    return sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, future=True)


def engine(url: str | None = None) -> sa.Engine:
    """A (cached) SQLAlchemy engine for ``url`` (default: :func:`database_url`).

    For Alembic and schema inspection only; data goes through :func:`connect`."""
    return _engine_for(url or database_url())


# -- migrations ---------------------------------------------------------------------------
def alembic_config(url: str) -> Config:
    """Alembic configuration for ``url``, independent of the current directory."""
    from hscanom.schema import migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision``."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The Alembic revision the database is at (``None`` when never migrated)."""
    with engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision the code ships."""
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


@dataclass
class Status:
    """What ``hscanom db status`` reports."""

    mode: str
    url: str
    running: bool
    server_version: str | None
    revision: str | None
    head: str | None
    row_counts: dict[str, int]
    home: Path | None = None
    log_file: Path | None = None


def status(settings: Settings | None = None) -> Status:
    """Inspect the database in use without starting anything."""
    settings = settings or Settings.from_env()
    if settings.external_url:
        mode, url, running, home, log = "external", libpq_url(settings.external_url), True, None, None
    else:
        emb = cluster(settings)
        mode, home, log = "embedded", emb.home, emb.log_file
        running = emb.initialized and emb.is_running()
        url = emb.url() if emb.initialized else "(not created yet)"
    version = revision = None
    counts: dict[str, int] = {}
    head = head_revision()
    if running:
        with engine(url).connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar_one()
            revision = MigrationContext.configure(conn).get_current_revision()
            present = set(sa.inspect(conn).get_table_names())
            for table in MAIN_TABLES:
                if table in present:
                    counts[table] = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    return Status(mode, url, running, version, revision, head, counts, home, log)


# -- the pipeline's door: psycopg 3 ---------------------------------------------------------
def connect(url: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg 3 connection of the pipeline (the owner role) to ``url``.

    Every stage reaches the database through this door (docs/architecture.md); user SQL
    goes through the read-only door of :mod:`hscanom.readonly` instead. Placeholders are
    psycopg's ``%s`` / ``%(name)s``; COPY is ``conn.cursor().copy(...)``. As a context manager
    the connection commits when the block succeeds, rolls back when it raises, and closes.

    Args:
        url: libpq URL (default: :func:`database_url`, which may start the embedded cluster).
        autocommit: each statement commits on its own (work queues, LISTEN/NOTIFY, runs
            whose progress others must see while they go on).

    Raises:
        psycopg.OperationalError: the server cannot be reached.
    """
    return psycopg.connect(url or database_url(), autocommit=autocommit)


@contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg.Connection]:
    """One transaction on :func:`connect`: committed when the block succeeds, rolled back
    (and nothing of it stored) when it raises."""
    with connect(url) as conn, conn.transaction():
        yield conn


def pool(url: str | None = None, *, min_size: int = 1, max_size: int = 10, name: str | None = None) -> ConnectionPool:
    """An open pool of :func:`connect`'s connections, for a long-running server (the explorer).

    ``with p.connection() as conn:`` lends a connection: committed when the block succeeds,
    rolled back when it raises, then returned. A lent connection is checked first (a server
    restart costs one reconnect, not an error). The owner closes the pool (``p.close()``).

    Args:
        url: libpq URL (default: :func:`database_url`).
        min_size: connections kept open while idle.
        max_size: most connections at once; more borrowers wait (30 s, then
            ``psycopg_pool.PoolTimeout``).
        name: shown in the pool's log messages.
    """
    return ConnectionPool(
        url or database_url(), min_size=min_size, max_size=max_size, open=True, name=name,
        check=ConnectionPool.check_connection,
    )
