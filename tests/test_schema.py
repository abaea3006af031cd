"""Schema under Alembic: round trip, no drift between models and migrations, constraints."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hscanom import db
from hscanom.schema.columns import HSC_COLUMNS
from hscanom.schema.models import Base


def _tables(url: str) -> set[str]:
    with db.engine(url).connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def test_upgrade_downgrade_round_trip(empty_db_url):
    db.upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= _tables(empty_db_url)
    db.downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) == {"alembic_version"}
    with db.engine(empty_db_url).connect() as conn:
        extensions = conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars().all()
    assert "q3c" not in extensions and "pg_sphere" not in extensions
    db.upgrade(empty_db_url)
    assert db.current_revision(empty_db_url) == db.head_revision()


def test_models_and_migrations_do_not_drift(db_url):
    with db.engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_hsc_object_has_every_catalog_column_typed_and_commented(db_url):
    with db.engine(db_url).connect() as conn:
        cols = {c["name"]: c for c in sa.inspect(conn).get_columns("hsc_object")}
    for column in HSC_COLUMNS:
        assert column.name in cols
        assert cols[column.name]["comment"]
    assert isinstance(cols["object_id"]["type"], sa.BigInteger)
    assert "[deg]" in cols["ra"]["comment"]


@pytest.mark.parametrize(
    "sql, constraint",
    [
        ("INSERT INTO hsc_object (object_id, ra, dec) VALUES (1, 360, 0)", "ra_range"),
        ("INSERT INTO hsc_object (object_id, ra, dec) VALUES (1, -0.1, 0)", "ra_range"),
        ("INSERT INTO hsc_object (object_id, ra, dec) VALUES (1, 10, 90.5)", "dec_range"),
        ("INSERT INTO cutout (object_id, band, uri, format, shape, sha256) VALUES (1, 'q', 'f', 'fits', '{1}', 'x')", "band"),
    ],
)
def test_check_constraints(db_url, sql, constraint):
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (2, 1, 1) ON CONFLICT DO NOTHING")
        with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
            conn.execute(sql.replace("VALUES (1, 'q'", "VALUES (2, 'q'"))


def test_scores_must_be_finite(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (5, 1, 1)")
        sample = conn.execute("INSERT INTO sample (name, sql) VALUES ('s', 'select 5') RETURNING id").fetchone()[0]
        model = conn.execute("INSERT INTO model (kind) VALUES ('wgan') RETURNING id").fetchone()[0]
        run = conn.execute("INSERT INTO score_run (model_id, sample_id) VALUES (%s, %s) RETURNING id", (model, sample)).fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation, match="s_disc_finite"):
            conn.execute("INSERT INTO anomaly_score (run_id, object_id, s_disc) VALUES (%s, 5, 'NaN')", (run,))


def test_complete_release_is_immutable(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        sample = conn.execute("INSERT INTO sample (name, sql) VALUES ('s', 'select 1') RETURNING id").fetchone()[0]
        model = conn.execute("INSERT INTO model (kind) VALUES ('wgan') RETURNING id").fetchone()[0]
        run = conn.execute("INSERT INTO score_run (model_id, sample_id) VALUES (%s, %s) RETURNING id", (model, sample)).fetchone()[0]
        conn.execute("INSERT INTO release (version, run_id, out_dir) VALUES ('v1', %s, '/r')", (run,))
        conn.execute("UPDATE release SET status = 'complete', manifest = '{\"n\": 1}' WHERE version = 'v1'")
        with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
            conn.execute("UPDATE release SET manifest = '{}' WHERE version = 'v1'")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM release WHERE version = 'v1'")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO release (version, run_id, out_dir) VALUES ('v1', %s, '/r2')", (run,))
