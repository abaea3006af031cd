"""Alembic environment: migrates the database hscanom is configured for.

The URL comes from the Alembic config (set by :func:`hscanom.db.alembic_config`) or, when
run as plain ``alembic upgrade head`` from the repository root, from hscanom's own
resolution (``HSCANOM_DATABASE_URL`` or the embedded cluster, started if needed).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from hscanom.config import sqlalchemy_url
from hscanom.schema.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url or url.rstrip("/") in ("postgresql:", "postgresql+psycopg:"):
        from hscanom.db import database_url

        url = database_url()
    return sqlalchemy_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
