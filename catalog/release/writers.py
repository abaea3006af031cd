"""The release's data files, each from a :class:`~hscanom.catalog.release.plan.Plan`.

* :func:`write_pickles`: the published DataFrame pickles (full and high-anomaly);
* :func:`write_extended`: the extended catalog as Parquet and FITS;
* :func:`write_ecosystem`: the HATS catalogs, the footprint MOC and the VOTable;
* :func:`write_results`: both published HDF5 files, in one pass over the images;
* :func:`write_npy`: the published CAE-latent object arrays.

The formats themselves are :mod:`hscanom.catalog.published`, :mod:`hscanom.catalog.formats`
and :mod:`hscanom.catalog.ecosystem`; every file is deterministic given the plan.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hscanom.catalog import ecosystem, formats, published
from hscanom.catalog.images import ImageReader
from hscanom.catalog.release.layout import (
    DISC3_HATS, DISC3_PICKLE, DISC3_VOTABLE, EXTENDED, EXTENDED_HATS, FOOTPRINT_MOC, FULL_PICKLE, REALS_NPY, RESIDUALS_NPY,
)
from hscanom.catalog.release.plan import Plan
from hscanom.progress import Progress  # progress(stage, done, total), called as the cut advances
from hscanom.scores import THRESHOLD_SIGMA

__all__ = ["BLOCK_ROWS", "write_ecosystem", "write_extended", "write_npy", "write_pickles", "write_results"]

#: Objects per block of the image pass (a multiple of the HDF5 chunk rows).
BLOCK_ROWS = 256


def _filled(column: np.ndarray, fill) -> np.ndarray:
    return np.ma.filled(column, fill) if np.ma.isMaskedArray(column) else column


def write_pickles(plan: Plan, folder: Path) -> None:
    """The published DataFrame pickles: every scored object, and the high-anomaly rows."""
    c = plan.catalog
    frame = published.catalog_frame(c["idx"], c["object_id"], c["ra"], c["dec"], c["s_disc_sigma"], c["s_gen_sigma"], c["s_anom_sigma"])
    published.write_pickle(folder / FULL_PICKLE, frame)
    published.write_pickle(folder / DISC3_PICKLE, frame.iloc[plan.high])


def write_extended(plan: Plan, folder: Path) -> None:
    """The extended catalog as Parquet and FITS, with units, descriptions and the run in the metadata."""
    table = {spec.name: plan.catalog[spec.name] for spec in plan.columns}
    specs = {spec.name: spec for spec in plan.columns}
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


def write_ecosystem(plan: Plan, folder: Path, scratch: Path, progress: Progress) -> None:
    """The HATS catalogs (extended; high-anomaly rows when there are any), MOC and VOTable."""
    table = {spec.name: plan.catalog[spec.name] for spec in plan.extended}
    specs = {spec.name: spec for spec in plan.extended}
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


def write_results(plan: Plan, folder: Path, progress: Progress) -> list[str]:
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


def write_npy(plan: Plan, folder: Path) -> None:
    """The published object arrays of the high-anomaly objects' residual and real CAE latents."""
    c = plan.catalog
    idx, scores = c["idx"][plan.high], c["s_disc_sigma"][plan.high]
    published.write_embedding_array(folder / RESIDUALS_NPY, plan.latents["residual"], idx, scores)
    published.write_embedding_array(folder / REALS_NPY, plan.latents["real"], idx, scores)


