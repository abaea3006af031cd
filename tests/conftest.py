"""Test fixtures: one throwaway embedded PostgreSQL cluster per test session.

The cluster lives in a temporary folder (never the user's ``$HSCANOM_HOME``), runs with
``fsync=off`` for speed, and holds a migrated template database. Each test that asks for
``db_url`` gets its own fresh database cloned from that template, so tests can commit,
open several connections and run worker processes without seeing each other's rows.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import psycopg
import pytest

from hscanom import db
from hscanom.embedded import EmbeddedCluster

TEMPLATE = "hscanom_template"
_counter = itertools.count()


def open_for_server(path: Path) -> Path:
    """As root, let the server account (``postgres``) enter ``path`` and the test folders
    above it, up to the system's temporary folder (o+x). pytest makes its folders mode 0700,
    and hscanom never changes permissions outside HSCANOM_HOME (it refuses with an
    explanation instead), so the tests open their own temporary folders. Returns ``path``."""
    if os.geteuid() == 0:
        top = Path(tempfile.gettempdir()).resolve()
        path = path.resolve()
        for folder in [path, *path.parents]:
            if folder == top or top not in folder.parents:
                break
            os.chmod(folder, folder.stat().st_mode | 0o001)
    return path


@pytest.fixture
def server_tmp_path(tmp_path):
    """``tmp_path``, enterable by the embedded server's account (see :func:`open_for_server`)."""
    return open_for_server(tmp_path)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    """A running embedded cluster for the whole session."""
    home = open_for_server(tmp_path_factory.mktemp("pg"))
    cluster = EmbeddedCluster(home, server_settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "'128MB'"})
    cluster.start()
    yield cluster
    cluster.stop(mode="immediate")


def _admin(cluster: EmbeddedCluster) -> psycopg.Connection:
    return psycopg.connect(cluster.url("postgres"), autocommit=True)


@pytest.fixture(scope="session")
def template_db(pg_cluster):
    """A database migrated to head, used as the template of every test database."""
    with _admin(pg_cluster) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    url = pg_cluster.url(TEMPLATE)
    db.upgrade(url)
    db.engine(url).dispose()
    return TEMPLATE


@pytest.fixture
def db_url(pg_cluster, template_db, monkeypatch):
    """URL (libpq form) of a fresh, migrated database for this test.

    ``HSCANOM_DATABASE_URL`` points at it during the test, so CLI commands use it too.
    """
    name = f"test_{os.getpid()}_{next(_counter)}"
    with _admin(pg_cluster) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    url = pg_cluster.url(name)
    monkeypatch.setenv("HSCANOM_DATABASE_URL", url)
    yield url
    db.engine(url).dispose()
    with _admin(pg_cluster) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def empty_db_url(pg_cluster, monkeypatch):
    """URL of a fresh database that was never migrated."""
    name = f"empty_{os.getpid()}_{next(_counter)}"
    with _admin(pg_cluster) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_cluster.url(name)
    monkeypatch.setenv("HSCANOM_DATABASE_URL", url)
    yield url
    db.engine(url).dispose()
    with _admin(pg_cluster) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


# -- a scored run of the real pipeline, shared by the later stages' tests -------------------
PIPELINE_DB = "hscanom_pipeline"


@pytest.fixture(scope="session")
def pipeline_run(pg_cluster, template_db, tmp_path_factory):
    """The main job's stages up to scoring, once per session, at the ``test`` preset.

    120 simulated galaxies (10% injected anomalies) -> ingest -> paper sample -> 32-pixel
    shards -> tiny WGAN + encoder -> score run. Returns ``(PipelineConfig, PipelineState)``;
    the database is a template that :func:`scored_db` clones for each test.
    """
    from hscanom import pipeline

    with _admin(pg_cluster) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PIPELINE_DB}")
        conn.execute(f"CREATE DATABASE {PIPELINE_DB} TEMPLATE {template_db}")
    url = pg_cluster.url(PIPELINE_DB)
    cfg = pipeline.PipelineConfig(
        home=tmp_path_factory.mktemp("pipeline-home"), n_objects=120, anomaly_fraction=0.1, seed=3,
        wgan_preset="test", image_size=32, score_batch=64, release="test-v1",
    )
    state = pipeline.run(cfg, url, until="score")
    db.engine(url).dispose()
    return cfg, state


@pytest.fixture
def scored_db(pg_cluster, pipeline_run, monkeypatch):
    """A fresh copy of the pipeline database for one test: ``(url, PipelineConfig, PipelineState)``.

    The copy shares the session's files (shards, models, result shards): read them, do not
    change them. ``HSCANOM_DATABASE_URL`` and ``HSCANOM_HOME`` point at the copy and home.
    """
    import dataclasses

    cfg, state = pipeline_run
    name = f"scored_{os.getpid()}_{next(_counter)}"
    with _admin(pg_cluster) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {PIPELINE_DB}")
    url = pg_cluster.url(name)
    monkeypatch.setenv("HSCANOM_DATABASE_URL", url)
    monkeypatch.setenv("HSCANOM_HOME", str(cfg.home))
    yield url, cfg, dataclasses.replace(state, url=url)
    db.engine(url).dispose()
    with _admin(pg_cluster) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
