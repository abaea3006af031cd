"""What the explorer reads from (and the one thing it writes to) the database.

All reads go through the ``scored_object`` view, ``umap_coord``, ``similar_objects()`` and
``object_label``; the only write is an ``INSERT INTO object_label``. User-typed SQL never
comes here: it goes through :mod:`hscanom.explorer.filters` (read-only role).

Object ids leave this module as Python ints; the app turns them into strings for JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from hscanom.explorer.params import ApiError
from hscanom.schema.models import OBJECT_LABELS

#: The three normalised scores [sigma].
SIGMA_COLUMNS = ("s_gen_sigma", "s_disc_sigma", "s_anom_sigma")

#: Columns of ``scored_object`` a scatter can be coloured by -> (label, categorical?).
COLOR_COLUMNS: dict[str, tuple[str, bool]] = {
    "s_disc_sigma": ("s_disc [sigma]", False),
    "s_gen_sigma": ("s_gen [sigma]", False),
    "s_anom_sigma": ("s_anom [sigma]", False),
    "gmm_label": ("GMM cluster", True),
    "hdbscan_label": ("HDBSCAN cluster (-1 noise)", True),
    "in_bright_star_mask": ("in bright-star mask", True),
    "blended": ("blended (Mandelbaum+18 cut)", True),
    "i_cmodel_mag": ("i CModel [mag]", False),
    "r_eff_arcsec": ("R_eff [arcsec]", False),
    "ellipticity": ("ellipticity", False),
    "axis_ratio": ("axis ratio", False),
    "i_blendedness_abs_flux": ("i blendedness", False),
    "g_r": ("g - r [mag]", False),
    "r_i": ("r - i [mag]", False),
    "log_aperture_cmodel_ratio": ("log10 aperture / CModel", False),
    "relevance": ("relevance (newest ranking)", False),
}

#: The fallback scatter when a run has no UMAP coordinates (no characterisation yet).
SCORE_SPACE = "scores"
#: The sky: x = ra, y = dec [deg] of every scored object, drawn over the footprint MOC.
SKY_SPACE = "sky"
SCORE_AXES = ("s_gen_sigma", "s_disc_sigma")

#: Cluster methods of ``cluster_label`` -> column of ``scored_object``.
CLUSTER_COLUMNS = {"gmm": "gmm_label", "hdbscan": "hdbscan_label"}

#: Image kinds served -> (source, HDF5 dataset).
IMAGE_KINDS = {"real": ("packed", "images"), "reconstruction": ("result", "reconstructed"), "residual": ("result", "residuals")}

LABELS = OBJECT_LABELS


@contextmanager
def connection(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """A connection of the app's pool (:func:`hscanom.db.pool`): committed when the block
    succeeds, rolled back when it raises, then returned to the pool."""
    with pool.connection() as conn:
        yield conn


# -- runs -----------------------------------------------------------------------------------
def runs(pool: ConnectionPool) -> list[dict[str, Any]]:
    """Score runs, newest first: id, method, status, model, sample, counts, UMAP spaces."""
    with connection(pool) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT r.id, r.method, r.status, r.model_id, s.name AS sample, r.created_at, r.finished_at,
                   (SELECT count(*) FROM anomaly_score a WHERE a.run_id = r.id) AS n_scored,
                   coalesce((SELECT array_agg(k.kind ORDER BY k.kind <> 'residual', k.kind) FROM (SELECT DISTINCT kind FROM umap_coord u WHERE u.run_id = r.id) k), '{}') AS spaces,
                   EXISTS (SELECT 1 FROM cluster_label c WHERE c.run_id = r.id) AS has_clusters
              FROM score_run r JOIN sample s ON s.id = r.sample_id
             ORDER BY r.id DESC
            """
        )
        return cur.fetchall()


def run_info(pool: ConnectionPool, run_id: int) -> dict[str, Any]:
    """One run (as in :func:`runs`); :class:`ApiError` 404 when it does not exist."""
    for r in runs(pool):
        if r["id"] == run_id:
            return r
    raise ApiError(404, f"run {run_id} does not exist")


def default_run(pool: ConnectionPool) -> int | None:
    """The newest complete run (else the newest run), or ``None`` when there is none."""
    with connection(pool) as conn:
        row = conn.execute("SELECT id FROM score_run ORDER BY status = 'complete' DESC, id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def newest_run_of(conn: psycopg.Connection, object_id: int) -> int:
    """The newest run that scored ``object_id``; :class:`ApiError` 404 when none did."""
    row = conn.execute("SELECT max(run_id) FROM anomaly_score WHERE object_id = %s", (object_id,)).fetchone()
    if row[0] is None:
        known = conn.execute("SELECT 1 FROM hsc_object WHERE object_id = %s", (object_id,)).fetchone()
        raise ApiError(404, f"object {object_id} {'was not scored in any run' if known else 'does not exist'}")
    return row[0]


def _check_run(conn: psycopg.Connection, run_id: int) -> None:
    if conn.execute("SELECT 1 FROM score_run WHERE id = %s", (run_id,)).fetchone() is None:
        raise ApiError(404, f"run {run_id} does not exist")


# -- scatter points -------------------------------------------------------------------------
def spaces(conn: psycopg.Connection, run_id: int) -> dict[str, int]:
    """UMAP spaces of a run: kind -> newest model id that has coordinates (``residual`` first)."""
    rows = conn.execute("SELECT kind, max(model_id) FROM umap_coord WHERE run_id = %s GROUP BY kind ORDER BY kind <> 'residual', kind", (run_id,)).fetchall()
    return {kind: model for kind, model in rows}


def points_json(pool: ConnectionPool, run_id: int, color: str, space: str | None) -> str:
    """Columnar scatter data of a run, as JSON text.

    Args:
        color: a key of :data:`COLOR_COLUMNS`.
        space: a UMAP kind of the run (``umap_coord.kind``), :data:`SCORE_SPACE`, or ``None``
            for the default (``residual`` if present, else the first UMAP kind, else scores).

    Returns:
        A JSON object: ``object_id`` (strings: JavaScript numbers lose ids > 2**53), ``x``,
        ``y``, ``color`` (numbers as float4, 7 significant digits; booleans as 0/1; null when
        missing) in object-id order, and ``run``, ``space``, ``spaces``, ``x_label``,
        ``y_label``, ``color_column``, ``color_label``, ``categorical``, ``n``. UMAP spaces
        hold the objects with coordinates (the characterised sample), the score space every
        scored object. PostgreSQL builds the columns (100,000 points in well under a second).
    """
    if color not in COLOR_COLUMNS:
        raise ApiError(400, f"color: {color!r} is not one of {', '.join(COLOR_COLUMNS)}")
    with connection(pool) as conn:
        _check_run(conn, run_id)
        available = spaces(conn, run_id)
        if space is None:
            space = "residual" if "residual" in available else next(iter(available), SCORE_SPACE)
        if space not in (SCORE_SPACE, SKY_SPACE) and space not in available:
            raise ApiError(400, f"space: run {run_id} has no {space!r} UMAP; available: {', '.join([*available, SCORE_SPACE, SKY_SPACE])}")
        value = f"o.{color}::int" if color in ("in_bright_star_mask", "blended") else f"nullif(o.{color}::float8, 'NaN')::real"
        if color == "relevance":  # not a column of scored_object: the run's newest ranking (NULL before any)
            value = ("(SELECT rs.relevance FROM ranking_score rs WHERE rs.object_id = o.object_id AND rs.ranking_id = "
                     "(SELECT max(id) FROM ranking WHERE run_id = %(run)s))::real")
        if space == SCORE_SPACE:
            rows = f"""SELECT o.object_id, o.{SCORE_AXES[0]} AS x, o.{SCORE_AXES[1]} AS y, {value} AS c
                         FROM scored_object o WHERE o.run_id = %(run)s ORDER BY o.object_id"""
            x_label, y_label = "s_gen [sigma]", "s_disc [sigma]"
        elif space == SKY_SPACE:
            rows = f"""SELECT o.object_id, o.ra AS x, o.dec AS y, {value} AS c
                         FROM scored_object o WHERE o.run_id = %(run)s ORDER BY o.object_id"""
            x_label, y_label = "RA [deg]", "Dec [deg]"
        else:
            rows = f"""SELECT o.object_id, u.x, u.y, {value} AS c
                         FROM umap_coord u JOIN scored_object o ON o.run_id = u.run_id AND o.object_id = u.object_id
                        WHERE u.run_id = %(run)s AND u.kind = %(kind)s AND u.model_id = %(model)s
                        ORDER BY o.object_id"""
            x_label, y_label = (f"UMAP {k} ({space.replace('_', ' ')})" for k in (1, 2))
        # one aggregate node feeds all four json_agg calls the sorted rows in the same order
        columns = conn.execute(
            f"""SELECT json_build_object('n', count(*),
                       'object_id', coalesce(json_agg(t.object_id::text), '[]'),
                       'x', coalesce(json_agg(t.x::real), '[]'), 'y', coalesce(json_agg(t.y::real), '[]'),
                       'color', coalesce(json_agg(t.c), '[]'))::text
                  FROM ({rows}) t""",
            {"run": run_id, "kind": space, "model": available.get(space)},
        ).fetchone()[0]
    label, categorical = COLOR_COLUMNS[color]
    meta = json.dumps({
        "run": run_id, "space": space, "spaces": [*available, SCORE_SPACE, SKY_SPACE],
        "x_label": x_label, "y_label": y_label,
        "color_column": color, "color_label": label, "categorical": categorical,
    })
    return meta[:-1] + ", " + columns[1:]


def footprint(pool: ConnectionPool, run_id: int) -> dict[str, Any]:
    """The footprint MOC of a run's scored objects (as a release writes it, order
    :data:`hscanom.footprint.MOC_ORDER`), as cell polygons for the sky plot:
    ``{"run", "order", "sky_fraction", "cells": [{"order", "ipix", "ra": [4], "dec": [4]}]}``."""
    import numpy as np

    from hscanom import footprint as sky

    with connection(pool) as conn:
        _check_run(conn, run_id)
        rows = conn.execute("SELECT ra, dec FROM scored_object WHERE run_id = %s", (run_id,)).fetchall()
    if not rows:
        return {"run": run_id, "order": sky.MOC_ORDER, "sky_fraction": 0.0, "cells": []}
    pos = np.array(rows, dtype=float)
    moc = sky.footprint_moc(pos[:, 0], pos[:, 1])
    return {"run": run_id, "order": sky.MOC_ORDER, "sky_fraction": float(moc.sky_fraction), "cells": sky.moc_cells(moc)}


# -- one object -----------------------------------------------------------------------------
def scored_object(pool: ConnectionPool, object_id: int, run_id: int | None) -> dict[str, Any]:
    """Everything ``scored_object`` says about one object in one run (default: its newest run).

    Adds ``tract``, ``patch`` (from ``hsc_object``), the runs that scored it, and its labels.
    """
    with connection(pool) as conn:
        if run_id is None:
            run_id = newest_run_of(conn, object_id)
        else:
            _check_run(conn, run_id)
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM scored_object WHERE run_id = %s AND object_id = %s", (run_id, object_id)).fetchone()
            if row is None:
                known = cur.execute("SELECT 1 FROM hsc_object WHERE object_id = %s", (object_id,)).fetchone()
                raise ApiError(404, f"object {object_id} {'was not scored in run ' + str(run_id) if known else 'does not exist'}")
            extra = cur.execute("SELECT tract, patch FROM hsc_object WHERE object_id = %s", (object_id,)).fetchone()
            row.update(extra or {})
            row["runs"] = [r["run_id"] for r in cur.execute(
                "SELECT run_id FROM anomaly_score WHERE object_id = %s ORDER BY run_id DESC", (object_id,)).fetchall()]
        row["labels"] = _labels(conn, object_id=object_id)
    return row


def similar(pool: ConnectionPool, object_id: int, run_id: int | None, k: int, kind: str) -> dict[str, Any]:
    """The ``k`` nearest neighbours (``similar_objects()``), without the object itself.

    Returns ``{"run", "kind", "neighbours": [{rank, object_id, distance, s_disc_sigma}]}``;
    an empty list with a ``note`` when the run has no embedding of that kind yet.
    """
    with connection(pool) as conn:
        if run_id is None:
            run_id = newest_run_of(conn, object_id)
        else:
            _check_run(conn, run_id)
        if conn.execute("SELECT 1 FROM anomaly_score WHERE run_id = %s AND object_id = %s", (run_id, object_id)).fetchone() is None:
            raise ApiError(404, f"object {object_id} was not scored in run {run_id}")
        rows = conn.execute(
            """
            SELECT s.rank, s.object_id, s.distance, n.s_disc_sigma
              FROM similar_objects(%(run)s, %(obj)s, %(k)s + 1, %(kind)s) s
              LEFT JOIN anomaly_score_normalized n ON n.run_id = %(run)s AND n.object_id = s.object_id
             ORDER BY s.rank
            """,
            {"run": run_id, "obj": object_id, "k": k, "kind": kind},
        ).fetchall()
    out: dict[str, Any] = {"run": run_id, "kind": kind, "neighbours": []}
    if not rows:
        out["note"] = f"run {run_id} has no {kind} embedding of this object (run `hscanom characterize` first)"
    for rank, oid, dist, sigma in rows:
        if oid != object_id:
            out["neighbours"].append({"rank": rank - 1, "object_id": oid, "distance": dist, "s_disc_sigma": sigma})
    out["neighbours"] = out["neighbours"][:k]
    return out


# -- labels ---------------------------------------------------------------------------------
LABEL_COLUMNS = ("id", "object_id", "label", "note", "user_name", "run_id", "created_at")


def _labels(conn: psycopg.Connection, *, object_id: int | None = None, run_id: int | None = None, limit: int | None = None) -> list[dict]:
    where, params = [], {}
    if object_id is not None:
        where.append("object_id = %(obj)s")
        params["obj"] = object_id
    if run_id is not None:
        where.append("run_id = %(run)s")
        params["run"] = run_id
    sql = f"SELECT {', '.join(LABEL_COLUMNS)} FROM object_label"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT %(limit)s"
        params["limit"] = limit
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def labels(pool: ConnectionPool, *, object_id: int | None = None, run_id: int | None = None, limit: int | None = None) -> list[dict]:
    """Labels, newest first, optionally of one object and/or one run."""
    with connection(pool) as conn:
        return _labels(conn, object_id=object_id, run_id=run_id, limit=limit)


def iter_labels(pool: ConnectionPool, run_id: int | None = None, batch: int = 5000) -> Iterator[tuple]:
    """All labels in id order as tuples of :data:`LABEL_COLUMNS` (a server-side cursor)."""
    with connection(pool) as conn, conn.cursor(name="hscanom_labels_csv") as cur:
        cur.itersize = batch
        sql = f"SELECT {', '.join(LABEL_COLUMNS)} FROM object_label"
        cur.execute(sql + (" WHERE run_id = %s ORDER BY id" if run_id is not None else " ORDER BY id"), (run_id,) if run_id is not None else None)
        yield from cur


def add_label(pool: ConnectionPool, object_id: int, label: str, user_name: str, note: str | None, run_id: int | None) -> dict:
    """INSERT one label (the normal connection, not the read-only role) and return the row."""
    if label not in LABELS:
        raise ApiError(400, f"label: {label!r} is not one of {', '.join(LABELS)}")
    with connection(pool) as conn:
        if conn.execute("SELECT 1 FROM hsc_object WHERE object_id = %s", (object_id,)).fetchone() is None:
            raise ApiError(404, f"object {object_id} does not exist")
        if run_id is not None:
            _check_run(conn, run_id)
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                f"INSERT INTO object_label (object_id, label, note, user_name, run_id) VALUES (%s, %s, %s, %s, %s) RETURNING {', '.join(LABEL_COLUMNS)}",
                (object_id, label, note, user_name, run_id),
            ).fetchone()
