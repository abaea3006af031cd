"""The pipeline's door into the database (hscanom.db.connect / transaction) and the typed
reader of score runs (hscanom.records.get_run), on a real migrated database."""

from __future__ import annotations

import json

import psycopg
import pytest

from hscanom import db
from hscanom.records import ScoreRun, get_run


def _sample(conn: psycopg.Connection, name: str) -> int:
    return conn.execute("INSERT INTO sample (name, sql) VALUES (%s, 'SELECT 1') RETURNING id", (name,)).fetchone()[0]


def test_connect_commits_and_transaction_rolls_back(db_url):
    with db.connect(db_url) as conn:
        _sample(conn, "kept")
    with pytest.raises(RuntimeError, match="stop"):
        with db.transaction(db_url) as conn:
            _sample(conn, "dropped")
            raise RuntimeError("stop")
    with db.transaction(db_url) as conn:
        _sample(conn, "also kept")
    with db.connect(db_url, autocommit=True) as conn:
        assert conn.autocommit
        names = [r[0] for r in conn.execute("SELECT name FROM sample ORDER BY id")]
    assert names == ["kept", "also kept"]


def test_get_run_reads_the_image_size_as_run_packed_image_does(db_url):
    with db.connect(db_url) as conn:
        sample_id = _sample(conn, "s")
        model_id = conn.execute(
            "INSERT INTO model (kind, config) VALUES ('wgan', %s) RETURNING id", (json.dumps({"image_size": 32}),)
        ).fetchone()[0]
        from_model, from_params = [
            conn.execute(
                "INSERT INTO score_run (method, model_id, sample_id, params) VALUES ('wgan', %s, %s, %s) RETURNING id",
                (model_id, sample_id, json.dumps(params)),
            ).fetchone()[0]
            for params in ({"batch_size": 8}, {"image_size": 48})
        ]
    with db.connect(db_url) as conn:
        run = get_run(conn, from_model)
        assert isinstance(run, ScoreRun)
        assert (run.id, run.method, run.status, run.model_id, run.sample_id) == (from_model, "wgan", "pending", model_id, sample_id)
        assert run.image_size == 32 and run.params == {"batch_size": 8} and run.model_kind == "wgan"
        assert get_run(conn, from_params).image_size == 48
        with pytest.raises(LookupError, match="no score run with id 999999"):
            get_run(conn, 999999)
