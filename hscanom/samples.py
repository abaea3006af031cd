"""Named, reproducible object selections: ``sample`` + ``sample_member``.

A sample is the result of a SQL ``SELECT`` that returns an ``object_id`` column, stored with
its SQL text (and parameters) so that it can be re-derived. Members are the distinct
object ids, each with ``idx`` = its 0-based position when ordered by ``object_id``. Samples
are never changed once made (models and score runs refer to them): a new selection is a
new name.

Presets are the ``.sql`` files shipped in :mod:`hscanom.sql` (e.g. ``paper-pdr2``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import namedtuple_row

from hscanom import db

#: PostgreSQL type oids accepted for the object_id column of a selection (int2/int4/int8).
_INTEGER_OIDS = {20, 21, 23}


class SampleError(ValueError):
    """A selection that cannot become a sample (bad SQL, name taken, ...)."""


@dataclass(frozen=True)
class SampleInfo:
    """A stored sample (``sample`` row)."""

    id: int
    name: str
    n_members: int
    created_at: dt.datetime
    sql: str
    description: str | None
    params: dict[str, Any]


def presets() -> list[str]:
    """Names of the shipped selections (``sql/*.sql``)."""
    return sorted(p.name[:-4] for p in resources.files("hscanom.sql").iterdir() if p.name.endswith(".sql"))


def preset_sql(name: str) -> str:
    """SQL text of the shipped selection ``name``."""
    if name not in presets():
        raise SampleError(f"no preset {name!r} (presets: {', '.join(presets())})")
    return resources.files("hscanom.sql").joinpath(f"{name}.sql").read_text()


def _clean(sql: str) -> str:
    """The selection without trailing semicolons and blanks."""
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    if not sql:
        raise SampleError("the selection SQL is empty")
    return sql


def create_sample(
    name: str,
    sql: str,
    *,
    description: str | None = None,
    params: dict[str, Any] | None = None,
    url: str | None = None,
) -> SampleInfo:
    """Run the selection ``sql`` and store its objects as sample ``name``.

    Args:
        name: unique sample name.
        sql: a SELECT returning an integer ``object_id`` column (duplicates are dropped);
            with ``params``, psycopg named placeholders ``%(name)s``.
        description: free text.
        params: values of the placeholders (kept with the sample).
        url: database URL (default: the configured database).

    Raises:
        SampleError: empty or failing SQL, no integer object_id column, ids not in
            hsc_object, or the name is taken. Nothing is stored then.
    """
    name = name.strip()
    if not name:
        raise SampleError("a sample needs a name")
    query = _clean(sql)
    args = params or None
    with db.transaction(url) as conn:
        taken = conn.execute("SELECT n_members FROM sample WHERE name = %s", (name,)).fetchone()
        if taken:
            raise SampleError(f"sample {name!r} already exists ({taken[0]} members); samples never change: choose a new name")
        selection = f"SELECT object_id FROM (\n{query}\n) AS selection"
        try:
            with conn.transaction():
                cur = conn.execute(f"{selection} LIMIT 0", args)
                oid = cur.description[0].type_code if cur.description and cur.description[0].name == "object_id" else None
        except psycopg.Error as exc:
            raise SampleError(f"the selection SQL failed: {exc.diag.message_primary or exc}") from None
        if oid not in _INTEGER_OIDS:
            raise SampleError("the selection must return an integer (bigint) object_id column")
        sample_id = conn.execute(
            "INSERT INTO sample (name, sql, description, params) VALUES (%s, %s, %s, %s::jsonb) RETURNING id",
            (name, query, description, json.dumps(params or {})),
        ).fetchone()[0]
        try:
            with conn.transaction():
                conn.execute(
                    f"""INSERT INTO sample_member (sample_id, object_id, idx)
                        SELECT {sample_id}, object_id, row_number() OVER (ORDER BY object_id) - 1
                        FROM (SELECT DISTINCT object_id FROM ({selection}) AS s WHERE object_id IS NOT NULL) AS d""",
                    args,
                )
        except psycopg.errors.ForeignKeyViolation:
            raise SampleError("the selection returned object_ids that are not in hsc_object") from None
        except psycopg.Error as exc:
            raise SampleError(f"the selection SQL failed: {exc.diag.message_primary or exc}") from None
        conn.execute(
            "UPDATE sample SET n_members = (SELECT count(*) FROM sample_member WHERE sample_id = %s) WHERE id = %s",
            (sample_id, sample_id),
        )
    return get_sample(name, url=url)


def _info(row) -> SampleInfo:
    return SampleInfo(
        id=row.id,
        name=row.name,
        n_members=row.n_members,
        created_at=row.created_at,
        sql=row.sql,
        description=row.description,
        params=row.params,
    )


_COLUMNS = "id, name, n_members, created_at, sql, description, params"


def list_samples(url: str | None = None) -> list[SampleInfo]:
    """Every sample, oldest first."""
    with db.connect(url) as conn, conn.cursor(row_factory=namedtuple_row) as cur:
        return [_info(r) for r in cur.execute(f"SELECT {_COLUMNS} FROM sample ORDER BY id")]


def get_sample(name: str, url: str | None = None) -> SampleInfo:
    """The sample called ``name`` (SampleError if there is none)."""
    with db.connect(url) as conn, conn.cursor(row_factory=namedtuple_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM sample WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise SampleError(f"no sample called {name!r}")
    return _info(row)


def sample_object_ids(name: str, url: str | None = None) -> np.ndarray:
    """Object ids of sample ``name`` in ``idx`` order: int64 array of shape ``(n_members,)``."""
    info = get_sample(name, url)
    with db.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT object_id FROM sample_member WHERE sample_id = %s ORDER BY idx", (info.id,))]
    return np.array(ids, dtype=np.int64)
