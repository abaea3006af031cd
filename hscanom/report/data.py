"""What the report's figures need, read from the database and the run's image files.

Every function takes an open psycopg connection and reads one run. Numbers (scores,
metadata) are read for the whole run, one row per object; images are only ever read for a
bounded number of chosen objects (see :func:`real_images`, :func:`result_images`).

Images are float32 arrays (B, H, W, 3) in [0, 1], in the orientation of the packed shards
(row 0 at the bottom, as the figures draw them with ``origin="lower"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import psycopg

from hscanom.ingest.pack import run_packed_image
from hscanom.ingest.shards import read_rows
from hscanom.records import get_run
from hscanom.scores import SCORES, THRESHOLD_SIGMA  # the figures' order; the high-anomaly cut [sigma]

#: scored_object columns the figures use, besides the scores.
METADATA_COLUMNS: tuple[str, ...] = (
    "r_eff_arcsec", "ellipticity", "i_blendedness_abs_flux", "log_aperture_cmodel_ratio", "g_r", "r_i",
)

#: UMAP kinds written by ``hscanom characterize`` and their titles.
UMAP_KINDS: dict[str, str] = {
    "pixels": "Pixels",
    "residual_pixels": "Residual pixels",
    "real": "Autoencoded reals",
    "residual": "Autoencoded residuals",
}


class ReportError(ValueError):
    """The run cannot be reported (unknown run, nothing scored, missing files)."""


@dataclass
class RunSummary:
    """The run, its model and its sample, as the page's summary shows them.

    Attributes:
        run_id, method, status, params: the ``score_run`` row.
        model_id, model_kind, model_config, model_dir: the run's model (``model`` row).
        encoder_id: the encoder the run used (``params.encoder_id``), if any.
        sample_id, sample_name, n_members: the scored sample.
        n_scored: ``anomaly_score`` rows of the run.
        n_missing: members without packed images (``score_batch.missing``).
        image_size: side of the scored images [pixels].
        n_above: objects above 3 sigma per score (``None`` for a score the method lacks).
        mask_version: newest bright-star-mask version (``None`` without masks).
        embedding_models: residual/real CAE model ids of the run (``run_embedding_model``).
    """

    run_id: int
    method: str
    status: str
    params: dict[str, Any]
    created_at: datetime | None
    finished_at: datetime | None
    model_id: int
    model_kind: str
    model_config: dict[str, Any]
    model_dir: str | None
    encoder_id: int | None
    sample_id: int
    sample_name: str
    n_members: int
    n_scored: int
    n_missing: int
    image_size: int
    n_above: dict[str, int | None] = field(default_factory=dict)
    mask_version: str | None = None
    embedding_models: dict[str, int] = field(default_factory=dict)


def run_summary(conn: psycopg.Connection, run_id: int) -> RunSummary:
    """The summary of run ``run_id``.

    Raises:
        ReportError: no such run, or the run has no scores yet.
    """
    row = conn.execute(
        """
        SELECT r.id, r.method, r.status, r.params, r.created_at, r.finished_at,
               m.id, m.kind, m.config, m.checkpoint_uri, s.id, s.name, s.n_members,
               (SELECT count(*) FROM anomaly_score a WHERE a.run_id = r.id),
               (SELECT coalesce(sum(cardinality(b.missing)), 0) FROM score_batch b WHERE b.run_id = r.id)
          FROM score_run r
          JOIN model m ON m.id = r.model_id
          JOIN sample s ON s.id = r.sample_id
         WHERE r.id = %s
        """,
        (run_id,),
    ).fetchone()
    if row is None:
        raise ReportError(f"no score run with id {run_id}")
    (rid, method, status, params, created, finished, model_id, kind, config, model_dir,
     sample_id, sample_name, n_members, n_scored, n_missing) = row
    if n_scored == 0:
        raise ReportError(f"score run {run_id} has no scores yet (status {status}); run `hscanom score` first")
    params = params or {}
    config = config or {}
    size = get_run(conn, run_id).image_size  # params.image_size, else the model's config
    if not size:
        raise ReportError(f"score run {run_id}: neither score_run.params nor model {model_id}'s config names image_size")
    counts = conn.execute(
        f"""
        SELECT {", ".join(f"count({s}_sigma) FILTER (WHERE {s}_sigma > %(t)s), count({s}_sigma)" for s in SCORES)}
          FROM anomaly_score_normalized WHERE run_id = %(run)s
        """,
        {"run": run_id, "t": THRESHOLD_SIGMA},
    ).fetchone()
    n_above = {s: (counts[2 * k] if counts[2 * k + 1] else None) for k, s in enumerate(SCORES)}
    mask = conn.execute("SELECT mask_version FROM bright_star_mask ORDER BY id DESC LIMIT 1").fetchone()
    embedding_models = dict(conn.execute("SELECT kind, model_id FROM run_embedding_model WHERE run_id = %s", (run_id,)).fetchall())
    return RunSummary(
        run_id=rid, method=method, status=status, params=params, created_at=created, finished_at=finished,
        model_id=model_id, model_kind=kind, model_config=config, model_dir=model_dir,
        encoder_id=params.get("encoder_id"), sample_id=sample_id, sample_name=sample_name,
        n_members=n_members, n_scored=n_scored, n_missing=int(n_missing), image_size=int(size),
        n_above=n_above, mask_version=mask[0] if mask else None, embedding_models=embedding_models,
    )


def scored_objects(conn: psycopg.Connection, run_id: int) -> pd.DataFrame:
    """One row per scored object (view ``scored_object``), ordered by object_id.

    Columns: ``object_id`` (int64), ``s_gen_sigma``, ``s_disc_sigma``, ``s_anom_sigma``
    [sigma] (NaN where the method has no such score), the :data:`METADATA_COLUMNS`, and
    ``in_bright_star_mask`` (bool, or None when no masks are ingested).
    """
    columns = ["object_id", *(f"{s}_sigma" for s in SCORES), *METADATA_COLUMNS, "in_bright_star_mask"]
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(columns)} FROM scored_object WHERE run_id = %s ORDER BY object_id", (run_id,))
        rows = cur.fetchall()
    frame = pd.DataFrame(rows, columns=columns)
    frame["object_id"] = frame["object_id"].astype(np.int64)
    for c in columns[1:-1]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
    return frame


# -- images --------------------------------------------------------------------------------
def _packed_locations(conn: psycopg.Connection, run_id: int, object_ids: Sequence[int], image_size: int) -> list[tuple[str, int]]:
    """(shard uri, row) of each object's packed image at ``image_size``, in order.

    The same choice as scoring: a shard of the run's sample first, then the lowest shard id.
    """
    rows = conn.execute(
        f"""
        SELECT q.object_id, sh.uri, p.row
          FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS q(object_id, k)
          JOIN score_run r ON r.id = %(run)s
          {run_packed_image("q.object_id")}
          LEFT JOIN image_shard sh ON sh.id = p.shard_id
         ORDER BY q.k
        """,
        {"ids": [int(i) for i in object_ids], "run": run_id, "size": image_size},
    ).fetchall()
    missing = [oid for oid, uri, _ in rows if uri is None]
    if missing:
        raise ReportError(f"run {run_id}: no packed {image_size}-pixel image of object(s) {', '.join(map(str, missing[:5]))}")
    return [(uri, row) for _, uri, row in rows]


def real_images(conn: psycopg.Connection, run_id: int, object_ids: Sequence[int], image_size: int) -> np.ndarray:
    """The packed (preprocessed) images of ``object_ids``: float32 (B, S, S, 3) in [0, 1]."""
    if len(object_ids) == 0:
        return np.empty((0, image_size, image_size, 3), np.float32)
    return read_rows(_packed_locations(conn, run_id, object_ids, image_size))


def result_images(conn: psycopg.Connection, run_id: int, object_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """Reconstructions and residuals of ``object_ids`` from the run's result shards.

    Returns ``{"reconstructed": (B, S, S, 3), "residuals": (B, S, S, 3)}``, float32 in [0, 1]
    (the shards store uint8; residual = |real - reconstruction|).

    Raises:
        ReportError: an object has no result row, or a shard file is missing.
    """
    rows = conn.execute(
        """
        SELECT q.object_id, sh.uri, a.result_row
          FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS q(object_id, k)
          LEFT JOIN anomaly_score a ON a.run_id = %(run)s AND a.object_id = q.object_id
          LEFT JOIN image_shard sh ON sh.id = a.result_shard_id
         ORDER BY q.k
        """,
        {"ids": [int(i) for i in object_ids], "run": run_id},
    ).fetchall()
    missing = [oid for oid, uri, _ in rows if uri is None]
    if missing:
        raise ReportError(f"run {run_id}: no result shard row for object(s) {', '.join(map(str, missing[:5]))}")
    out: dict[str, list] = {"reconstructed": [None] * len(rows), "residuals": [None] * len(rows)}
    by_uri: dict[str, list[int]] = {}
    for k, (_oid, uri, _row) in enumerate(rows):
        by_uri.setdefault(uri, []).append(k)
    for uri, ks in by_uri.items():
        if not Path(uri).exists():
            raise ReportError(f"run {run_id}: result shard {uri} is missing")
        wanted = sorted({rows[k][2] for k in ks})
        with h5py.File(uri, "r") as f:
            for name in out:
                if name not in f:
                    raise ReportError(f"{uri}: no dataset {name!r}")
                block = f[name][wanted]
                for k in ks:
                    out[name][k] = block[wanted.index(rows[k][2])]
    return {name: np.asarray(images, np.float32) / np.float32(255.0) for name, images in out.items()}


def generated_images(conn: psycopg.Connection, model_id: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` images of the WGAN ``model_id`` from z ~ N(0, 1): float32 (n, S, S, 3) in [0, 1]."""
    from hscanom.ml import registry
    from hscanom.ml.train import load_wgan

    record = registry.get(conn, model_id, "wgan")
    cfg = record.wgan_config
    generator, _critic = load_wgan(cfg, record.directory)
    z = rng.standard_normal((n, cfg.latent_dim)).astype(np.float32)
    return np.clip(generator(z, training=False).numpy(), 0.0, 1.0)


# -- characterisation ----------------------------------------------------------------------
def umap_coords(conn: psycopg.Connection, run_id: int) -> dict[str, pd.DataFrame]:
    """Per UMAP kind present for the run (newest model of each kind): object_id, x, y, s_disc_sigma.

    Kinds are those of :data:`UMAP_KINDS`; a kind without rows is absent from the result.
    """
    rows = conn.execute(
        """
        WITH newest AS (SELECT kind, max(model_id) AS model_id FROM umap_coord WHERE run_id = %(run)s GROUP BY kind)
        SELECT u.kind, u.object_id, u.x, u.y, n.s_disc_sigma
          FROM umap_coord u
          JOIN newest USING (kind, model_id)
          JOIN anomaly_score_normalized n ON n.run_id = u.run_id AND n.object_id = u.object_id
         WHERE u.run_id = %(run)s
         ORDER BY u.kind, u.object_id
        """,
        {"run": run_id},
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["kind", "object_id", "x", "y", "s_disc_sigma"])
    frame = frame.astype({"object_id": np.int64, "x": np.float64, "y": np.float64, "s_disc_sigma": np.float64})
    return {kind: g.drop(columns="kind").reset_index(drop=True) for kind, g in frame.groupby("kind", sort=True) if kind in UMAP_KINDS}


def residual_clusters(conn: psycopg.Connection, run_id: int, method: str = "gmm") -> tuple[int | None, pd.DataFrame]:
    """(model id, frame) of the clusters of the run's residual embedding (newest residual CAE).

    The frame has object_id, label, probability, and the residual UMAP x, y of the same model
    (NaN where absent); it is empty when the run has no such labels.
    """
    model = conn.execute("SELECT model_id FROM run_embedding_model WHERE run_id = %s AND kind = 'residual'", (run_id,)).fetchone()
    columns = ["object_id", "label", "probability", "x", "y"]
    if model is None:
        return None, pd.DataFrame(columns=columns)
    rows = conn.execute(
        """
        SELECT c.object_id, c.label, c.probability, u.x, u.y
          FROM cluster_label c
          LEFT JOIN umap_coord u ON u.run_id = c.run_id AND u.model_id = c.model_id AND u.object_id = c.object_id AND u.kind = 'residual'
         WHERE c.run_id = %s AND c.model_id = %s AND c.method = %s
         ORDER BY c.object_id
        """,
        (run_id, model[0], method),
    ).fetchall()
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.astype({"object_id": np.int64, "label": np.int64, "probability": np.float64, "x": np.float64, "y": np.float64})
    return model[0], frame


def characterised_sample(conn: psycopg.Connection, run_id: int) -> str | None:
    """Name of the sample the run's newest residual CAE was trained on (its config's ``sample``)."""
    row = conn.execute(
        "SELECT m.config ->> 'sample' FROM run_embedding_model r JOIN model m ON m.id = r.model_id "
        "WHERE r.run_id = %s AND r.kind = 'residual'",
        (run_id,),
    ).fetchone()
    return row[0] if row else None


# -- evaluation ----------------------------------------------------------------------------
@dataclass
class EvaluationResult:
    """The newest evaluation of a run and its metric rows (``evaluation_metric``)."""

    id: int
    truth: str
    params: dict[str, Any]
    created_at: datetime | None
    metrics: pd.DataFrame


def newest_evaluation(conn: psycopg.Connection, run_id: int) -> EvaluationResult | None:
    """The run's newest ``evaluation`` with its metrics, or ``None`` when it was never evaluated."""
    row = conn.execute(
        "SELECT id, truth, params, created_at FROM evaluation WHERE run_id = %s "
        "AND coalesce(params ->> 'kind', '') <> 'active_learning' ORDER BY id DESC LIMIT 1", (run_id,)
    ).fetchone()
    if row is None:
        return None
    columns = ["run_id", "score", "anomaly_class", "n_objects", "n_positive", "roc_auc", "average_precision",
               "recall_3sigma", "purity_3sigma", "frac_above_3sigma"]
    rows = conn.execute(
        f"""
        SELECT {", ".join(columns)} FROM evaluation_metric WHERE evaluation_id = %s
         ORDER BY run_id <> %s, run_id, array_position(ARRAY['s_gen', 's_disc', 's_anom'], score), score,
                  anomaly_class <> 'all', anomaly_class
        """,
        (row[0], run_id),
    ).fetchall()
    return EvaluationResult(row[0], row[1], row[2] or {}, row[3], pd.DataFrame(rows, columns=columns))
