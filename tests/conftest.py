"""Test fixtures: one throwaway embedded PostgreSQL cluster per test session.

The cluster lives in a temporary folder (never the user's ``$HSCANOM_HOME``), runs with
``fsync=off`` for speed, and holds a migrated template database. Each test that asks for
``db_url`` gets its own fresh database cloned from that template, so tests can commit,
open several connections and run worker processes without seeing each other's rows.
"""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest

from hscanom import db
from hscanom.embedded import EmbeddedCluster

TEMPLATE = "hscanom_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    """A running embedded cluster for the whole session."""
    home = tmp_path_factory.mktemp("pg")
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
