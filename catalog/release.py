"""Versioned, immutable catalog releases of a score run: ``hscanom release cut|verify|list|show``.

:func:`cut` writes ``OUT/VERSION/`` (default ``OUT = $HSCANOM_HOME/releases``) with

* the published formats (:mod:`hscanom.catalog.published`): the DataFrame pickles
  ``anomaly_catalog_hsc_full.p`` and ``anomaly_catalog_hsc_disc3sigma.p``, the HDF5 files
  ``results_gri_lambda<L>.h5`` and ``results_gri_lambda<L>_3sigd.h5`` (scores and the
  reals / reconstructions / residuals as uint8 images) and the object arrays
  ``autoencoded_disc3sigma_residuals.npy`` / ``..._reals.npy`` (CAE latents);
* the extended catalog ``anomaly_catalog_hsc_extended.parquet`` / ``.fits``: every scored
  object with all scores, ``object_metadata``, the bright-star-mask flag, cluster labels and
  probabilities and UMAP coordinates, with units and descriptions;
* for the survey ecosystem (:mod:`hscanom.catalog.ecosystem`): the extended catalog and its
  high-anomaly rows as HATS catalogs (folders ``anomaly_catalog_hsc_extended_hats/``,
  ``anomaly_catalog_hsc_disc3sigma_hats/``; LSDB opens them), the footprint MOC
  ``anomaly_catalog_hsc_footprint_moc.fits`` and the VOTable with UCDs
  ``anomaly_catalog_hsc_disc3sigma.vot``;
* ``README.md`` describing every file and column, and ``manifest.json`` (version, time,
  code version, run, models and their configurations, the sample's SQL, mask version, row
  counts, and the sha256 and size of every other file, those inside the HATS folders by
  their relative path), which :func:`verify` re-checks.

Rows are the run's scored objects in sample ``idx`` order; the high-anomaly ("disc3sigma")
files keep those with ``discriminator_score_normalized > 3``.

A version is immutable. The ``release`` row is inserted (status ``cutting``) before any file
is written, so a second cut of the same version is refused, as is a version whose folder
exists. Files are written into a hidden temporary folder next to the target and renamed
into place only when complete; then the row becomes ``complete`` with its manifest. A cut
that fails (or is interrupted) removes its temporary folder and leaves a ``failed`` row
(the trigger of migration 0001 keeps complete and failed rows unchanged for ever). Catalog
files are deterministic: re-cutting the same run to a new version gives byte-identical files
except ``manifest.json`` (its time and version).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from hscanom import __version__, db
from hscanom.catalog import ecosystem, formats, published
from hscanom.catalog.formats import ColumnSpec
from hscanom.catalog.images import ImageReader
from hscanom.checksum import sha256_file
from hscanom.ingest.pack import run_packed_image
from hscanom.progress import Progress  # progress(stage, done, total), called as the cut advances
from hscanom.scores import THRESHOLD_SIGMA  # of the high-anomaly files, on discriminator_score_normalized

__all__ = ["EXTENDED_COLUMNS", "ReleaseError", "ReleaseInfo", "cut", "list_releases", "show", "verify"]

MANIFEST = "manifest.json"
#: Detached checksums of every file (manifest.json included), ``sha256sum -c`` format.
SHA256SUMS = "SHA256SUMS"
README = "README.md"
MANIFEST_FORMAT = "hscanom-release"
MANIFEST_FORMAT_VERSION = 1
#: Objects per block of the image pass (a multiple of the HDF5 chunk rows).
BLOCK_ROWS = 256
#: Rows fetched from the database at a time.
FETCH_ROWS = 50_000

FULL_PICKLE = "anomaly_catalog_hsc_full.p"
DISC3_PICKLE = "anomaly_catalog_hsc_disc3sigma.p"
RESIDUALS_NPY = "autoencoded_disc3sigma_residuals.npy"
REALS_NPY = "autoencoded_disc3sigma_reals.npy"
EXTENDED = "anomaly_catalog_hsc_extended"
#: HATS catalogs (folders) of the extended catalog and of its high-anomaly rows, the
#: footprint MOC and the VOTable of the high-anomaly rows (:mod:`hscanom.catalog.ecosystem`).
EXTENDED_HATS = "anomaly_catalog_hsc_extended_hats"
DISC3_HATS = "anomaly_catalog_hsc_disc3sigma_hats"
FOOTPRINT_MOC = "anomaly_catalog_hsc_footprint_moc.fits"
DISC3_VOTABLE = "anomaly_catalog_hsc_disc3sigma.vot"

_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")

#: Columns of the extended catalog (Parquet and FITS), in order.
EXTENDED_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("idx", "Index of the object in the scored sample (sample_member.idx, 0-based)"),
    ColumnSpec("object_id", "HSC PDR2 object id (int64)"),
    ColumnSpec("ra", "Right ascension", "deg"),
    ColumnSpec("dec", "Declination", "deg"),
    ColumnSpec("s_gen", "Generator (pixel) score sum |x - G(z)|, raw"),
    ColumnSpec("s_disc", "Discriminator (feature) score sum |d(x) - d(G(z))|, raw"),
    ColumnSpec("s_anom", "Combined score (1 - lambda) s_gen + lambda s_disc, raw"),
    ColumnSpec("s_gen_sigma", "s_gen normalised: (s - mean) / std over the run", "sigma"),
    ColumnSpec("s_disc_sigma", "s_disc normalised (= discriminator_score_normalized)", "sigma"),
    ColumnSpec("s_anom_sigma", "s_anom normalised (= combined_score_normalized)", "sigma"),
    ColumnSpec("i_cmodel_mag", "i-band CModel magnitude", "mag"),
    ColumnSpec("r_eff_arcsec", "Determinant radius (I11 I22 - I12^2)^(1/4) of the i-band exponential CModel moments", "arcsec"),
    ColumnSpec("e1", "Ellipticity component (I11 - I22) / (I11 + I22)"),
    ColumnSpec("e2", "Ellipticity component 2 I12 / (I11 + I22)"),
    ColumnSpec("ellipticity", "Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2) / (a^2 + b^2)"),
    ColumnSpec("axis_ratio", "Minor over major axis b / a"),
    ColumnSpec("position_angle_deg", "Major-axis angle 1/2 atan2(2 I12, I11 - I22), from the first moment axis", "deg"),
    ColumnSpec("i_blendedness_abs_flux", "i-band blendedness (absolute flux)"),
    ColumnSpec("blended", "i_blendedness_abs_flux >= 10^-0.375 (Mandelbaum et al. 2018)"),
    ColumnSpec("g_r", "g - r CModel colour", "mag"),
    ColumnSpec("r_i", "r - i CModel colour", "mag"),
    ColumnSpec("log_aperture_cmodel_ratio", "log10(i_convolvedflux_3_20_flux / i_cmodel_flux)"),
    ColumnSpec("in_bright_star_mask", "Inside a bright-star mask region of the release's mask version (NULL without masks)"),
    ColumnSpec("gmm_label", "GMM cluster of the residual embedding (newest CAE of the run; NULL if not clustered)"),
    ColumnSpec("gmm_probability", "GMM membership probability"),
    ColumnSpec("hdbscan_label", "HDBSCAN cluster of the residual embedding (-1 = noise; NULL if not clustered)"),
    ColumnSpec("hdbscan_probability", "HDBSCAN membership probability"),
    ColumnSpec("umap_x", "UMAP x of the residual embedding"),
    ColumnSpec("umap_y", "UMAP y of the residual embedding"),
)

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


class ReleaseError(RuntimeError):
    """A release that cannot be cut (bad version, exists, run not ready), read or verified."""


@dataclass(frozen=True)
class ReleaseInfo:
    """A ``release`` row: status ``cutting``, ``complete`` or ``failed``; ``manifest`` when complete."""

    id: int
    version: str
    run_id: int
    status: str
    out_dir: Path
    created_at: dt.datetime
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The release folder (same as ``out_dir``)."""
        return self.out_dir

    @property
    def row_counts(self) -> dict[str, int]:
        return dict(self.manifest.get("row_counts", {}))


# -- reading the database -----------------------------------------------------------------
def _fetch_columns(conn: psycopg.Connection, sql: str, params: dict) -> dict[str, np.ndarray]:
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


def _filled(column: np.ndarray, fill) -> np.ndarray:
    return np.ma.filled(column, fill) if np.ma.isMaskedArray(column) else column


def _info(row) -> ReleaseInfo:
    return ReleaseInfo(row[0], row[1], row[2], row[3], Path(row[4]), row[5], row[6] or {})


_RELEASE_COLUMNS = "id, version, run_id, status, out_dir, created_at, manifest"


def list_releases(url: str) -> list[ReleaseInfo]:
    """Every release row, oldest first."""
    with db.connect(url) as conn:
        return [_info(r) for r in conn.execute(f"SELECT {_RELEASE_COLUMNS} FROM release ORDER BY id")]


def show(url: str, version: str) -> ReleaseInfo:
    """The release ``version`` (ReleaseError if there is none)."""
    with db.connect(url) as conn:
        row = conn.execute(f"SELECT {_RELEASE_COLUMNS} FROM release WHERE version = %s", (version,)).fetchone()
    if row is None:
        raise ReleaseError(f"no release {version!r}")
    return _info(row)


@dataclass
class _Plan:
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


#: Extended-catalog columns added when the run has a ranking (the newest one; manifest "ranking").
RANKING_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("relevance", "Relevance in [0, 1] learnt from labels (newest ranking of the run, manifest 'ranking'; docs/ranking.md)"),
    ColumnSpec("relevance_uncertainty", "Spread of the ranking model's votes (0 for labelled objects)"),
    ColumnSpec("relevance_rank", "Rank by relevance (1 = most relevant)"),
)


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


def _run_record(conn: psycopg.Connection, run_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, method, model_id, sample_id, params, status, code_version, created_at, finished_at FROM score_run WHERE id = %s",
        (run_id,),
    ).fetchone()
    if row is None:
        raise ReleaseError(f"no score run {run_id}")
    keys = ("id", "method", "model_id", "sample_id", "params", "status", "code_version", "created_at", "finished_at")
    run = dict(zip(keys, row))
    if run["status"] != "complete":
        raise ReleaseError(f"score run {run_id} is {run['status']}, not complete: finish it (`hscanom score`) before cutting a release")
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


def _plan(conn: psycopg.Connection, version: str, run_id: int, mask_version: str | None) -> _Plan:
    """Gather and check everything a cut needs; raises ReleaseError before anything is written."""
    run = _run_record(conn, run_id)
    size = int(run["params"].get("image_size") or 0)
    if size <= 0:
        raise ReleaseError(f"score run {run_id} does not record its image size (params.image_size)")
    sample = conn.execute("SELECT id, name, sql, params, n_members, description FROM sample WHERE id = %s", (run["sample_id"],)).fetchone()
    sample = dict(zip(("id", "name", "sql", "params", "n_members", "description"), sample))
    embedding_models = _embedding_models(conn, run_id)
    mask_version = _resolve_mask_version(conn, mask_version)
    catalog = _fetch_columns(conn, _CATALOG_SQL, {"run_id": run_id, "mask_version": mask_version, "size": size})
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
    return _Plan(version, run, sample, models, mask_version, (size, size, 3), catalog, shard_paths, high, latents, ranking)


# -- writing ------------------------------------------------------------------------------
def _pickles(plan: _Plan, folder: Path) -> None:
    c = plan.catalog
    frame = published.catalog_frame(c["idx"], c["object_id"], c["ra"], c["dec"], c["s_disc_sigma"], c["s_gen_sigma"], c["s_anom_sigma"])
    published.write_pickle(folder / FULL_PICKLE, frame)
    published.write_pickle(folder / DISC3_PICKLE, frame.iloc[plan.high])


def _extended_columns(plan: _Plan) -> tuple[ColumnSpec, ...]:
    return EXTENDED_COLUMNS + (RANKING_COLUMNS if plan.ranking else ())


def _extended(plan: _Plan, folder: Path) -> None:
    table = {spec.name: plan.catalog[spec.name] for spec in _extended_columns(plan)}
    specs = {spec.name: spec for spec in _extended_columns(plan)}
    meta = {
        "hscanom_run_id": str(plan.run["id"]),
        "mask_version": plan.mask_version or "",
        "description": "hscanom extended anomaly catalog: every scored object of the run (see README.md)",
    }
    formats.write_parquet(folder / f"{EXTENDED}.parquet", table, specs, meta)
    cards = [
        ("RUN_ID", int(plan.run["id"]), "hscanom score run"),
        ("MASKVER", plan.mask_version or "", "bright-star mask version of in_bright_star_mask"),
        ("LAMBDA", float(plan.run["params"].get("lambda_anom", float("nan"))), "lambda of s_anom = (1-lambda) s_gen + lambda s_disc"),
        *([("RANKING", int(plan.ranking["id"]), "hscanom ranking of the relevance columns")] if plan.ranking else []),
    ]
    formats.write_fits(folder / f"{EXTENDED}.fits", table, specs, extname="CATALOG", cards=cards)


def _ecosystem(plan: _Plan, folder: Path, scratch: Path, progress: Progress) -> None:
    """The HATS catalogs (extended; high-anomaly rows when there are any), MOC and VOTable."""
    table = {spec.name: plan.catalog[spec.name] for spec in EXTENDED_COLUMNS}
    specs = {spec.name: spec for spec in EXTENDED_COLUMNS}
    high = {k: v[plan.high] for k, v in table.items()}
    ecosystem.write_moc(folder / FOOTPRINT_MOC, _filled(plan.catalog["ra"], np.nan), _filled(plan.catalog["dec"], np.nan))
    ecosystem.write_votable(
        folder / DISC3_VOTABLE, high, specs,
        description=f"hscanom score run {plan.run['id']}: objects with discriminator_score_normalized > {THRESHOLD_SIGMA:g} (see README.md)",
    )
    # hats_creation_date from the run, not the clock: the same run gives the same bytes.
    finished = plan.run.get("finished_at") or plan.run.get("created_at")
    stamp = finished.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MUTC") if finished else "unknown"
    jobs = [(EXTENDED_HATS, table, "every scored object")]
    if len(plan.high):
        jobs.append((DISC3_HATS, high, f"discriminator_score_normalized > {THRESHOLD_SIGMA:g}"))
    for k, (name, rows, selection) in enumerate(jobs):
        progress("HATS", k, len(jobs))
        source = scratch / f"{name}.parquet"
        formats.write_parquet(source, rows, specs, {"hscanom_run_id": str(plan.run["id"]), "mask_version": plan.mask_version or ""})
        properties = {
            "obs_title": f"hscanom anomaly catalog, score run {plan.run['id']}: {selection}",
            "hats_creation_date": stamp,
            "hscanom_run_id": str(plan.run["id"]),
            "hscanom_mask_version": plan.mask_version or "",
        }
        ecosystem.write_hats(source, folder, name, properties=properties, scratch=scratch / f"{name}.work")
        source.unlink()
    progress("HATS", len(jobs), len(jobs))


def _results(plan: _Plan, folder: Path, progress: Progress) -> list[str]:
    """Both HDF5 files in one pass over the images (each block read once)."""
    c = plan.catalog
    lam = float(plan.run["params"].get("lambda_anom"))
    names = [published.results_file_name(lam), published.results_file_name(lam, high_anomaly=True)]
    values = {
        "anomaly_scores": c["s_anom"], "anomaly_scores_sigma": c["s_anom_sigma"],
        "disc_scores": c["s_disc"], "disc_scores_sigma": c["s_disc_sigma"],
        "gen_scores": c["s_gen"], "gen_scores_sigma": c["s_gen_sigma"],
        "idxs": c["idx"], "object_ids": c["object_id"],
    }
    values = {k: _filled(v, np.nan) for k, v in values.items()}
    n = len(c["idx"])
    attrs = {"run_id": int(plan.run["id"]), "lambda_anom": lam, "image_layout": "N x H x W x 3 uint8, channels (R, G, B) = (i, r, g)"}
    paths = np.array([plan.shard_paths[int(i)] for i in c["packed_shard_id"]], dtype=object)
    result_paths = np.array([plan.shard_paths[int(i)] for i in c["result_shard_id"]], dtype=object)
    is_high = np.zeros(n, bool)
    is_high[plan.high] = True
    total = n + len(plan.high)
    with (
        ThreadPoolExecutor(published.compression_threads(), thread_name_prefix="deflate") as pool,
        published.ResultsWriter(folder / names[0], n, plan.image_shape, {**attrs, "selection": "every scored object"}, pool) as full,
        published.ResultsWriter(folder / names[1], len(plan.high), plan.image_shape, {**attrs, "selection": "discriminator_score_normalized > 3"}, pool) as high,
        ImageReader("images", plan.image_shape, pool=pool) as reals,
        ImageReader("reconstructed", plan.image_shape, pool=pool) as recs,
        ImageReader("residuals", plan.image_shape, pool=pool) as ress,
    ):
        full.write_values(values)
        high.write_values({k: v[plan.high] for k, v in values.items()})
        done = 0
        for lo in range(0, n, BLOCK_ROWS):
            sl = slice(lo, min(lo + BLOCK_ROWS, n))
            ids = c["object_id"][sl]
            block = (
                reals.read(paths[sl], c["packed_row"][sl], ids),
                recs.read(result_paths[sl], c["result_row"][sl], ids),
                ress.read(result_paths[sl], c["result_row"][sl], ids),
            )
            full.append_images(*block)
            pick = np.flatnonzero(is_high[sl])
            if pick.size:
                high.append_images(*(b[pick] for b in block))
            done += (sl.stop - sl.start) + pick.size
            progress("images", done, total)
    return names


def _npy(plan: _Plan, folder: Path) -> None:
    c = plan.catalog
    idx, scores = c["idx"][plan.high], c["s_disc_sigma"][plan.high]
    published.write_embedding_array(folder / RESIDUALS_NPY, plan.latents["residual"], idx, scores)
    published.write_embedding_array(folder / REALS_NPY, plan.latents["real"], idx, scores)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _columns_md(specs_dtypes) -> list[str]:
    lines = ["| column | type | unit | description |", "| --- | --- | --- | --- |"]
    for spec, dtype in specs_dtypes:
        lines.append(f"| `{spec.name}` | {dtype} | {spec.unit or ''} | {_cell(spec.description)} |")
    return lines


def _readme(plan: _Plan, h5_names: list[str]) -> str:
    """README.md: every file and column. Nothing version- or time-dependent (see manifest.json)."""
    c = plan.catalog
    lam = plan.run["params"].get("lambda_anom")
    n, n_high = len(c["idx"]), len(plan.high)
    d = plan.latents["residual"].shape[1]
    h, w, _ = plan.image_shape
    ext_types = {
        name: ("int64" if arr.dtype == np.int64 else "int32" if arr.dtype == np.int32 else "bool" if arr.dtype == bool else "float64")
        for name, arr in ((s.name, np.ma.getdata(c[s.name])) for s in _extended_columns(plan))
    }
    out = [
        "# HSC anomaly catalog release",
        "",
        f"Anomaly scores of {n:,} HSC galaxies from hscanom score run {plan.run['id']} (method {plan.run['method']},",
        f"lambda = {lam}), sample `{plan.sample['name']}`; {n_high:,} objects have discriminator_score_normalized > 3",
        "(the high-anomaly, \"disc3sigma\" sample). The method is that of Storey-Fisher et al.: a WGAN-GP",
        "reconstructs each gri image; s_gen is the pixel residual, s_disc the discriminator-feature residual,",
        "s_anom = (1 - lambda) s_gen + lambda s_disc; normalised scores are (s - mean) / std over the run [sigma].",
        "",
        "Version, creation time, code version, the run, models and their configurations, the sample's SQL,",
        "the bright-star mask version, row counts and the sha256 and size of every file are in",
        "`manifest.json`; `hscanom release verify DIR` re-checks the files against it. Object ids are",
        "int64 in every file (they exceed 2^53: never read them as floats).",
        "",
        "Rows are ordered by `idx`, the object's 0-based index in the scored sample (objects ordered by",
        "object_id), in every file.",
        "",
        f"## `{FULL_PICKLE}`, `{DISC3_PICKLE}`",
        "",
        "pandas DataFrame pickles (`pandas.read_pickle(path)`), index `idx` (int64); the second holds the",
        "rows with discriminator_score_normalized > 3.",
        "",
        *_columns_md(published.PICKLE_COLUMNS),
        "",
        f"## `{h5_names[0]}`, `{h5_names[1]}`",
        "",
        "HDF5 (`h5py.File(path)`), gzip-compressed and chunked; one row per object (the second file: the",
        f"high-anomaly objects). Images are N x {h} x {w} x 3 uint8, channels (R, G, B) = (i, r, g), viewable",
        "with `matplotlib.pyplot.imshow(f['reals'][k])`.",
        "",
        *_columns_md(published.H5_DATASETS),
        *(f"| `{s.name}` | uint8 (N, {h}, {w}, 3) |  | {_cell(s.description)} |" for s in published.IMAGE_DATASETS),
        "",
        f"## `{RESIDUALS_NPY}`, `{REALS_NPY}`",
        "",
        "numpy object arrays (`numpy.load(path, allow_pickle=True)`) of shape (n, 3), one row per",
        "high-anomaly object, in idx order: `(latent, idx, discriminator_score_normalized)`, where `latent`",
        f"is the {d}-d float32 vector of the convolutional autoencoder (CAE) of the object's residual image",
        "(`..._residuals.npy`) or real image (`..._reals.npy`), `idx` an int and the score a float [sigma].",
        "",
        f"## `{EXTENDED}.parquet`, `{EXTENDED}.fits`",
        "",
        "Every scored object, with all scores, object metadata (HSC CModel shapes and photometry), the",
        f"bright-star-mask flag (mask version `{plan.mask_version}`), clusters and UMAP coordinates of the",
        "residual embedding. Parquet: nullable columns, units and descriptions in the field metadata",
        "(`pyarrow.parquet.read_schema(path).field(name).metadata`). FITS: HDU 1 (`CATALOG`), int64 as K;",
        "floats are NaN where NULL; booleans are int16 1/0 with -1 (TNULL) for NULL; nullable integers",
        "have TNULL; units in TUNITn where FITS knows them, descriptions in COMMENT cards.",
        "",
        *_columns_md((s, ext_types[s.name]) for s in _extended_columns(plan)),
        "",
        *([f"The relevance columns come from ranking {plan.ranking['id']} ({plan.ranking['n_labels']} labels, model "
           f"{plan.ranking['model']}; `ranking` in manifest.json).", ""] if plan.ranking else []),
        f"## `{EXTENDED_HATS}/`, `{DISC3_HATS}/`",
        "",
        "The extended catalog and its high-anomaly rows as HATS catalogs (HEALPix-partitioned Parquet,",
        "made with hats-import), for LSDB: `lsdb.open_catalog(path)`, then `.crossmatch(other, radius_arcsec=1)`",
        "or `.cone_search(ra, dec, radius_arcsec)` against other HATS catalogs (Gaia, ZTF, PanSTARRS, Rubin).",
        "Same columns, units and descriptions as above (in the Parquet field metadata), plus the HATS",
        "index column `_healpix_29`. The second folder is absent when no object is above 3 sigma.",
        "",
        f"## `{FOOTPRINT_MOC}`",
        "",
        f"The footprint as an IVOA MOC 2.0 (FITS): the HEALPix cells of order {ecosystem.MOC_ORDER} that hold at",
        "least one scored object (`mocpy.MOC.from_fits(path)`; Aladin and TOPCAT open it too).",
        "",
        f"## `{DISC3_VOTABLE}`",
        "",
        "The high-anomaly rows of the extended catalog as a VOTable (TABLEDATA) with units, descriptions and",
        "IVOA UCDs (`pos.eq.ra;meta.main`, `pos.eq.dec;meta.main`, `meta.id;meta.main`, `stat.value`, ...),",
        "for TOPCAT and Aladin; `astropy.table.Table.read(path)` reads it with object_id as int64.",
        "",
    ]
    return "\n".join(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def sha256sums(folder: Path) -> str:
    """``SHA256SUMS`` text for every file of ``folder`` but itself: ``<sha256>  <name>`` lines in
    name order, as ``sha256sum`` writes them (so ``sha256sum -c SHA256SUMS`` checks a release
    without hscanom)."""
    return "".join(f"{sha256_file(p)}  {name}\n" for name, p in _walk(folder)[0] if name != SHA256SUMS)


def _walk(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """The plain files below ``folder`` as (path relative to it in POSIX form, path), in name
    order, and problems: symbolic links (never followed) and anything that is neither a plain
    file nor a folder. Releases hold plain files and folders only (HATS catalogs are folders)."""
    files: list[tuple[str, Path]] = []
    problems: list[str] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        here = Path(root)
        for entry in sorted(dirs + names):
            path = here / entry
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                problems.append(f"{rel}: a symbolic link (to {os.readlink(path)}); a release holds plain files only")
            elif path.is_file():
                files.append((rel, path))
            elif not path.is_dir():
                problems.append(f"{rel}: not a plain file")
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return sorted(files), problems


def _inside(name: str) -> bool:
    """Whether a manifest name is a relative path that stays inside the release folder."""
    if not name or "\\" in name or name.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _manifest(plan: _Plan, folder: Path, release_id: int, created_at: dt.datetime) -> dict[str, Any]:
    files = {}
    for name, path in _walk(folder)[0]:  # HATS catalogs are folders: every file by its path
        if name not in (MANIFEST, SHA256SUMS):
            files[name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    n, n_high = len(plan.catalog["idx"]), len(plan.high)
    return _jsonable(
        {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_FORMAT_VERSION,
            "version": plan.version,
            "release_id": release_id,
            "created_at": created_at.astimezone(dt.timezone.utc).isoformat(),
            "code_version": __version__,
            "run": plan.run,
            "models": plan.models,
            "sample": plan.sample,
            "mask_version": plan.mask_version,
            "threshold_sigma": THRESHOLD_SIGMA,
            "image_shape": list(plan.image_shape),
            "embedding_dim": int(plan.latents["residual"].shape[1]),
            "row_counts": {"full": n, "disc3sigma": n_high},
            "ranking": plan.ranking,
            "files": files,
        }
    )


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def _check_version(version: str) -> str:
    if not _VERSION_NAME.match(version or ""):
        raise ReleaseError(
            f"bad release version {version!r}: use letters, digits and . _ + - (at most 64, starting with a letter or digit), e.g. v1.0"
        )
    return version


def default_out() -> Path:
    """``$HSCANOM_HOME/releases``."""
    from hscanom.config import Settings

    return Settings.from_env().home / "releases"


def cut(
    url: str,
    version: str,
    run_id: int,
    *,
    out: str | Path | None = None,
    mask_version: str | None = None,
    progress: Progress | None = None,
) -> ReleaseInfo:
    """Cut release ``version`` of score run ``run_id`` into ``out/version/``.

    Args:
        url: database URL.
        out: parent folder of the release folders (default ``$HSCANOM_HOME/releases``).
        mask_version: bright-star mask version of the mask flag (default: the newest ingested).
        progress: ``progress(stage, done, total)`` callback.

    Returns:
        The complete release.

    Raises:
        ReleaseError: the version exists (row or folder) or is malformed, the run is not
            complete, has no characterisation embeddings (run ``hscanom characterize``), or
            its images are missing; nothing is written then. A failure while writing leaves a
            ``failed`` release row and no files.
    """
    progress = progress or _quiet
    _check_version(version)
    out = Path(out) if out is not None else default_out()
    target = out.resolve() / version
    with db.connect(url, autocommit=True) as conn:
        existing = conn.execute("SELECT status, out_dir FROM release WHERE version = %s", (version,)).fetchone()
        if existing:
            raise ReleaseError(f"release {version} exists ({existing[0]}, {existing[1]}): versions are immutable, choose a new version")
        if target.exists():
            raise ReleaseError(f"{target} exists: versions are immutable, choose a new version (or another --out)")
        progress("checking", 0, 1)
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            plan = _plan(conn, version, run_id, mask_version)
        progress("checking", 1, 1)
        try:
            release_id, created_at = conn.execute(
                "INSERT INTO release (version, run_id, out_dir, status) VALUES (%s, %s, %s, 'cutting') RETURNING id, created_at",
                (version, run_id, str(target)),
            ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise ReleaseError(f"release {version} is being cut by someone else: choose a new version") from None
        out.mkdir(parents=True, exist_ok=True)
        work = out.resolve() / f".{version}.partial-{os.getpid()}"
        try:
            work.mkdir()
            progress("catalogs", 0, 2)
            _pickles(plan, work)
            _extended(plan, work)
            progress("catalogs", 2, 2)
            scratch = out.resolve() / f".{version}.scratch-{os.getpid()}"
            try:
                scratch.mkdir()
                _ecosystem(plan, work, scratch, progress)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            h5_names = _results(plan, work, progress)
            progress("embeddings", 0, 1)
            _npy(plan, work)
            progress("embeddings", 1, 1)
            progress("checksums", 0, 1)
            (work / README).write_text(_readme(plan, h5_names))
            manifest = _manifest(plan, work, release_id, created_at)
            progress("checksums", 1, 1)
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            (work / SHA256SUMS).write_text(sha256sums(work))
            if target.exists():
                raise ReleaseError(f"{target} appeared while cutting: not overwriting it")
            os.rename(work, target)
        except BaseException as exc:
            shutil.rmtree(work, ignore_errors=True)
            conn.execute(
                "UPDATE release SET status = 'failed', manifest = %s WHERE id = %s",
                (json.dumps({"error": f"{type(exc).__name__}: {exc}"}), release_id),
            )
            raise
        try:
            conn.execute("UPDATE release SET status = 'complete', manifest = %s WHERE id = %s", (json.dumps(manifest), release_id))
        except BaseException as exc:
            shutil.rmtree(target, ignore_errors=True)
            with suppress(psycopg.Error):
                conn.execute(
                    "UPDATE release SET status = 'failed', manifest = %s WHERE id = %s AND status = 'cutting'",
                    (json.dumps({"error": f"{type(exc).__name__}: {exc}"}), release_id),
                )
            raise
        progress("done", 1, 1)
    return show(url, version)


# -- verification -------------------------------------------------------------------------
@dataclass
class Verification:
    """What :func:`verify_release` checked: ``problems`` (empty when the release is intact) and
    ``reference``, the manifest the files were checked against (the database's record, or
    ``manifest.json`` alone when the database was not reachable or holds no such release)."""

    problems: list[str]
    reference: str
    files: int = 0


def _recorded_manifest(url: str, version: str) -> dict[str, Any] | None:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT status, manifest FROM release WHERE version = %s", (version,)).fetchone()
    if row is None or row[0] != "complete":
        return None
    return row[1]


def verify_release(directory: str | Path, url: str | None = None) -> Verification:
    """Verify a release folder, against the manifest recorded in the database when possible.

    With ``url`` reachable and a complete release of the folder's version recorded there, the
    database's manifest is the reference: ``manifest.json`` must equal it, and every file
    must match its size and sha256. Otherwise ``manifest.json`` is the reference (which proves
    only that the files agree with it, not that the manifest is the one published). Either
    way symlinks, non-files and names that leave the folder are refused, and ``SHA256SUMS``
    must list every other file with its sha256.
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    recorded = None
    reference = "manifest.json only (no database given)"
    if url is not None and directory.is_dir() and not manifest_path.is_symlink():
        try:
            version = json.loads(manifest_path.read_text()).get("version") or directory.name
        except (OSError, ValueError, AttributeError):
            version = directory.name
        try:
            recorded = _recorded_manifest(url, str(version))
            reference = (f"the manifest recorded in the database for release {version}" if recorded is not None
                         else f"manifest.json only (the database has no complete release {version})")
        except psycopg.Error as exc:
            reference = f"manifest.json only (database not reachable: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
    problems = verify(directory, recorded=recorded)
    n = len(recorded["files"]) if recorded else 0
    if not n:
        with suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            n = len(json.loads(manifest_path.read_text())["files"])
    return Verification(problems, reference, n)


def verify(directory: str | Path, recorded: dict[str, Any] | None = None) -> list[str]:
    """Re-check a release folder against its manifest.

    Args:
        recorded: the manifest recorded in the database; when given it is the reference and
            ``manifest.json`` must equal it.

    Returns:
        Problems, one line each (empty when every file listed is a plain file in the folder
        with its size and sha256, no other file is there, and ``SHA256SUMS`` agrees).
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not directory.is_dir() or directory.is_symlink():
        return [f"{directory}: not a folder"]
    walked, problems = _walk(directory)
    try:
        if manifest_path.is_symlink():
            raise ValueError("a symbolic link")
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest.get("files"), dict):
            raise TypeError("'files' is not an object")
    except FileNotFoundError:
        return problems + [f"{manifest_path}: missing"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return problems + [f"{manifest_path}: unreadable ({type(exc).__name__}: {exc})"]
    if recorded is not None and manifest != recorded:
        changed = sorted(k for k in set(manifest) | set(recorded) if manifest.get(k) != recorded.get(k))
        problems.append(f"{MANIFEST}: differs from the manifest recorded in the database ({', '.join(changed)} changed)")
    files = (recorded or manifest)["files"]
    for name, entry in sorted(files.items()):
        path = directory / name
        if not _inside(name):
            problems.append(f"{name}: names a file outside the release folder")
            continue
        if path.is_symlink() or not path.is_file():
            if not path.exists() and not path.is_symlink():
                problems.append(f"{name}: missing")
            continue
        size = path.stat().st_size
        if size != entry.get("size"):
            problems.append(f"{name}: size {size} bytes, the manifest says {entry.get('size')}")
            continue
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            problems.append(f"{name}: sha256 {digest} differs from the manifest's {entry.get('sha256')} (the file changed)")
    for name in sorted(n for n, _p in walked):
        if name not in (MANIFEST, SHA256SUMS) and name not in files:
            problems.append(f"{name}: not in the manifest")
    problems += _check_sums(directory, walked)
    return problems


def _check_sums(directory: Path, walked: list[tuple[str, Path]]) -> list[str]:
    """``SHA256SUMS`` must list every other plain file of the folder with its sha256."""
    sums = directory / SHA256SUMS
    if sums.is_symlink() or not sums.is_file():
        return [f"{SHA256SUMS}: missing"]
    listed: dict[str, str] = {}
    for k, line in enumerate(sums.read_text(errors="replace").splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not m:
            return [f"{SHA256SUMS}: line {k} is not '<sha256>  <name>'"]
        listed[m.group(2)] = m.group(1)
    problems = []
    present = {n: p for n, p in walked if n != SHA256SUMS}
    for name in sorted(set(present) - set(listed)):
        problems.append(f"{name}: not in {SHA256SUMS}")
    for name in sorted(set(listed) - set(present)):
        if not (directory / name).is_symlink():  # a symbolic link is reported as such already
            problems.append(f"{name}: in {SHA256SUMS} but missing")
    for name in sorted(set(present) & set(listed)):
        if sha256_file(present[name]) != listed[name]:
            problems.append(f"{name}: sha256 differs from {SHA256SUMS}")
    return problems
