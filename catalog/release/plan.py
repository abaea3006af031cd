"""What a cut will write, gathered and checked before anything is written.

:func:`gather` reads the score run, its sample, models, mask version, scored objects (the
extended catalog's columns, in sample ``idx`` order, and where each object's images are),
the high-anomaly objects' CAE latents and the run's newest ranking, in one read-only
transaction, and raises :class:`~hscanom.catalog.release.layout.ReleaseError` when the run
cannot be released. Nothing is written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from hscanom.catalog import formats
from hscanom.catalog.release.columns import EXTENDED_COLUMNS, RANKING_COLUMNS, describe_columns
from hscanom.catalog.release.layout import REALS_NPY, RESIDUALS_NPY, ReleaseError
from hscanom.ingest.pack import run_packed_image
from hscanom.records import ScoreRun, get_run
from hscanom.schema.columns import ColumnSpec
from hscanom.scores import THRESHOLD_SIGMA  # of the high-anomaly files, on discriminator_score_normalized

__all__ = ["FETCH_ROWS", "Plan", "gather"]

#: Rows fetched from the database at a time.
FETCH_ROWS = 50_000

#: The run's scored objects in idx order: the extended catalog columns, then where their
#: images are. The packed image is chosen as the scorer chose it (hscanom.ml.jobs).
_CATALOG_SQL = f"""
SELECT m.idx, s.object_id, s.ra, s.dec,
       s.s_gen, s.s_disc, s.s_anom, s.s_gen_sigma, s.s_disc_sigma, s.s_anom_sigma,
       s.i_cmodel_mag, s.r_eff_arcsec, md.e1, md.e2, s.ellipticity, s.axis_ratio, md.position_angle_deg,
       s.i_blendedness_abs_flux, s.blended, s.g_r, s.r_i, s.log_aperture_cmodel_ratio,
       CASE WHEN %(mask_version)s::text IS NOT NULL THEN bm.object_id IS NOT NULL END AS in_bright_star_mask,
       s.gmm_label, s.gmm_probability, s.hdbscan_label, s.hdbscan_probability, s.umap_x, s.umap_y,
       a.result_shard_id, a.result_row, p.shard_id AS packed_shard_id, p.row AS packed_row
  FROM scored_object s
  JOIN score_run r ON r.id = s.run_id
  JOIN sample_member m ON m.sample_id = r.sample_id AND m.object_id = s.object_id
  JOIN object_metadata md ON md.object_id = s.object_id
  JOIN anomaly_score a ON a.run_id = s.run_id AND a.object_id = s.object_id
  LEFT JOIN (SELECT DISTINCT b.object_id FROM bright_star_masked_object b WHERE b.mask_version = %(mask_version)s::text) bm
         ON bm.object_id = s.object_id
  {run_packed_image("s.object_id")}
 WHERE s.run_id = %(run_id)s
 ORDER BY m.idx
"""


@dataclass
class Plan:
    """What a cut will write, gathered and checked before anything is written."""

    version: str
    run: dict[str, Any]
    sample: dict[str, Any]
    models: dict[str, Any]
    mask_version: str | None
    image_shape: tuple[int, int, int]
    catalog: dict[str, np.ndarray]
    shard_paths: dict[int, str]
    high: np.ndarray  # row positions of the high-anomaly objects
    latents: dict[str, np.ndarray]  # kind -> (n_high, d) float32
    ranking: dict[str, Any] | None = None  # the run's newest ranking (hscanom rank), when there is one
    #: EXTENDED_COLUMNS described (:func:`~hscanom.catalog.release.columns.describe_columns`)
    extended: tuple[ColumnSpec, ...] = EXTENDED_COLUMNS

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        """The extended catalog's columns: :attr:`extended`, then the relevance columns when
        there is a ranking (the HATS catalogs and the VOTable have :attr:`extended` only)."""
        return self.extended + (RANKING_COLUMNS if self.ranking else ())


def fetch_columns(conn: psycopg.Connection, sql: str, params: dict) -> dict[str, np.ndarray]:
    """A query's result as typed columns (:func:`formats.columns_from_rows`), fetched in parts."""
    parts: list[dict[str, np.ndarray]] = []
    with conn.cursor(name="hscanom_release") as cur:
        cur.execute(sql, params)
        while True:
            rows = cur.fetchmany(FETCH_ROWS)
            if not parts or rows:
                names = [d.name for d in cur.description]
                oids = [d.type_code for d in cur.description]
                parts.append(formats.columns_from_rows(names, oids, rows))
            if len(rows) < FETCH_ROWS:
                break
    if len(parts) == 1:
        return parts[0]
    out = {}
    for name in parts[0]:
        chunks = [p[name] for p in parts]
        out[name] = np.ma.concatenate(chunks) if any(np.ma.isMaskedArray(c) for c in chunks) else np.concatenate(chunks)
    return out


def _ranking(conn: psycopg.Connection, run_id: int, object_ids: np.ndarray, catalog: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """Add the newest ranking's columns to ``catalog`` (masked where an object has no row); its record."""
    row = conn.execute(
        "SELECT id, label_digest, label_source, n_labels, n_interesting, model, params, created_at FROM ranking "
        "WHERE run_id = %s ORDER BY id DESC LIMIT 1", (run_id,)
    ).fetchone()
    if row is None:
        return None
    record = dict(zip(("id", "label_digest", "label_source", "n_labels", "n_interesting", "model", "params", "created_at"), row))
    values = {int(o): (r, u, k) for o, r, u, k in conn.execute(
        "SELECT object_id, relevance, uncertainty, rank FROM ranking_score WHERE ranking_id = %s", (record["id"],))}
    ids = np.ma.getdata(object_ids).tolist()
    have = np.array([o in values for o in ids])
    for i, (name, dtype) in enumerate((("relevance", np.float64), ("relevance_uncertainty", np.float64), ("relevance_rank", np.int64))):
        data = np.array([values[o][i] if o in values else 0 for o in ids], dtype=dtype)
        catalog[name] = np.ma.MaskedArray(data, mask=~have) if not have.all() else data
    return record


def _run_record(conn: psycopg.Connection, run_id: int) -> ScoreRun:
    try:
        run = get_run(conn, run_id)
    except LookupError:
        raise ReleaseError(f"no score run {run_id}") from None
    if run.status != "complete":
        raise ReleaseError(f"score run {run_id} is {run.status}, not complete: finish it (`hscanom score`) before cutting a release")
    return run


def _model_record(conn: psycopg.Connection, model_id: int | None) -> dict[str, Any] | None:
    if model_id is None:
        return None
    row = conn.execute(
        "SELECT id, kind, config, sample_id, parent_model_id, sha256, code_version, created_at FROM model WHERE id = %s", (model_id,)
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "kind", "config", "sample_id", "parent_model_id", "sha256", "code_version", "created_at")
    return dict(zip(keys, row))


def _resolve_mask_version(conn: psycopg.Connection, mask_version: str | None) -> str | None:
    if mask_version is not None:
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM bright_star_mask WHERE mask_version = %s)", (mask_version,)).fetchone()[0]:
            known = [r[0] for r in conn.execute("SELECT DISTINCT mask_version FROM bright_star_mask ORDER BY 1")]
            raise ReleaseError(f"no bright-star mask version {mask_version!r} (known: {', '.join(known) or 'none'})")
        return mask_version
    row = conn.execute("SELECT mask_version FROM bright_star_mask ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def _embedding_models(conn: psycopg.Connection, run_id: int) -> dict[str, int]:
    found = dict(conn.execute("SELECT kind, model_id FROM run_embedding_model WHERE run_id = %s", (run_id,)).fetchall())
    missing = [k for k in ("residual", "real") if k not in found]
    if missing:
        raise ReleaseError(
            f"score run {run_id} has no characterisation embeddings of kind {' and '.join(missing)} "
            f"(needed for {RESIDUALS_NPY} and {REALS_NPY}): run `hscanom characterize --run {run_id}` first"
        )
    return found


def _latents(conn: psycopg.Connection, run_id: int, kind: str, model_id: int, object_ids: np.ndarray) -> np.ndarray:
    rows = conn.execute(
        "SELECT e.object_id, e.vector FROM embedding e "
        "WHERE e.run_id = %s AND e.kind = %s AND e.model_id = %s AND e.object_id = ANY(%s)",
        (run_id, kind, model_id, object_ids.tolist()),
    ).fetchall()
    by_id = {oid: vec for oid, vec in rows}
    missing = [int(o) for o in object_ids if int(o) not in by_id]
    if missing:
        raise ReleaseError(
            f"score run {run_id}: {len(missing)} of the {len(object_ids)} high-anomaly objects have no {kind} embedding "
            f"from CAE model {model_id} (e.g. object {missing[0]}): run `hscanom characterize --run {run_id}` first"
        )
    dims = {len(by_id[int(o)]) for o in object_ids}
    if len(dims) > 1:
        raise ReleaseError(f"score run {run_id}: {kind} embeddings of model {model_id} have different lengths {sorted(dims)}")
    d = dims.pop() if dims else 0
    return np.array([by_id[int(o)] for o in object_ids], dtype=np.float32).reshape(len(object_ids), d)


def gather(conn: psycopg.Connection, version: str, run_id: int, mask_version: str | None) -> Plan:
    """Gather and check everything a cut needs; raises ReleaseError before anything is written."""
    record = _run_record(conn, run_id)
    run = record.as_dict()
    size = int(record.image_size or 0)
    if size <= 0:
        raise ReleaseError(f"score run {run_id} does not record its image size (params.image_size, or its model's config.image_size)")
    sample = conn.execute("SELECT id, name, sql, params, n_members, description FROM sample WHERE id = %s", (run["sample_id"],)).fetchone()
    sample = dict(zip(("id", "name", "sql", "params", "n_members", "description"), sample))
    embedding_models = _embedding_models(conn, run_id)
    mask_version = _resolve_mask_version(conn, mask_version)
    catalog = fetch_columns(conn, _CATALOG_SQL, {"run_id": run_id, "mask_version": mask_version, "size": size})
    n = len(catalog["idx"])
    if n == 0:
        raise ReleaseError(f"score run {run_id} has no scored objects")
    for what, col in (("a result shard row", "result_shard_id"), ("a packed image", "packed_shard_id")):
        absent = np.ma.getmaskarray(catalog[col])
        if absent.any():
            first = int(np.ma.getdata(catalog["object_id"])[np.flatnonzero(absent)[0]])
            raise ReleaseError(f"score run {run_id}: {int(absent.sum())} scored objects have no {what} (e.g. object {first})")
    shard_ids = np.unique(np.concatenate([catalog["result_shard_id"], catalog["packed_shard_id"]]))
    shard_paths = dict(conn.execute("SELECT id, uri FROM image_shard WHERE id = ANY(%s)", (shard_ids.tolist(),)).fetchall())
    missing = sorted(p for p in shard_paths.values() if not Path(p).is_file())
    if missing:
        raise ReleaseError(f"score run {run_id}: {len(missing)} image shards are missing, e.g. {missing[0]}")
    for col in ("s_gen_sigma", "s_disc_sigma", "s_anom_sigma"):
        if np.ma.isMaskedArray(catalog[col]) and np.ma.getmaskarray(catalog[col]).any():
            raise ReleaseError(f"score run {run_id}: some objects have no {col} (NULL raw score, or all scores equal)")
    high = np.flatnonzero(catalog["s_disc_sigma"] > THRESHOLD_SIGMA)
    high_ids = catalog["object_id"][high]
    latents = {kind: _latents(conn, run_id, kind, model_id, high_ids) for kind, model_id in embedding_models.items()}
    models = {
        "wgan": _model_record(conn, run["model_id"]),
        "encoder": _model_record(conn, run["params"].get("encoder_id")),
        "cae": {kind: _model_record(conn, model_id) for kind, model_id in sorted(embedding_models.items())},
    }
    ranking = _ranking(conn, run_id, catalog["object_id"], catalog)
    extended = describe_columns(conn)
    return Plan(version, run, sample, models, mask_version, (size, size, 3), catalog, shard_paths, high, latents, ranking, extended)

