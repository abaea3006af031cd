"""Two simple anomaly detectors to measure hscanom's scores against (issue 15).

* :func:`pixel_pca_iforest`: an isolation forest (Liu, Ting & Zhou 2008; scikit-learn's
  ``IsolationForest``) on the first principal components of the preprocessed pixels (the
  same images the WGAN sees, binned 2 x 2);
* :func:`catalog_iforest`: an isolation forest on catalog quantities only, from the
  ``object_metadata`` view: CModel colours g-r and r-i [mag], the effective radius
  ``r_eff_arcsec`` and the ``ellipticity`` (no pixels at all).

Both return one score per object, higher = more anomalous (``-IsolationForest.score_samples``,
the mean-path-length anomaly score of Liu et al., negated by scikit-learn). Both are fitted
on the scored sample itself (unsupervised, like the WGAN), with a fixed ``seed``.

Also :func:`sample_images` (the packed images of a sample) and :func:`catalog_features`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psycopg

#: ``object_metadata`` columns of the catalog baseline.
CATALOG_FEATURES: tuple[str, ...] = ("g_r", "r_i", "r_eff_arcsec", "ellipticity")
#: Baseline names as they appear in tables.
BASELINES: tuple[str, ...] = ("pixel_pca_iforest", "catalog_iforest")


def _forest(features: np.ndarray, seed: int, n_estimators: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=n_estimators, random_state=seed)
    forest.fit(features)
    return -forest.score_samples(features)


def pixel_pca_iforest(images: np.ndarray, *, n_components: int = 32, binning: int = 2, seed: int = 0, n_estimators: int = 200) -> np.ndarray:
    """Isolation-forest anomaly scores on a PCA of the pixels.

    Args:
        images: (N, S, S, C) float images in [0, 1] (the packed, preprocessed images).
        n_components: principal components kept (at most N - 1 and the pixel count).
        binning: images are averaged over ``binning x binning`` blocks first (S must divide
            by it), which cuts memory 4x at 2 without losing galaxy-scale structure.
        seed: random state of the randomised PCA and the forest.

    Returns:
        (N,) float64 scores, higher = more anomalous.

    Raises:
        ValueError: fewer than 2 images, or S not divisible by ``binning``.
    """
    from sklearn.decomposition import PCA

    x = np.asarray(images, np.float32)
    if x.ndim != 4 or len(x) < 2:
        raise ValueError(f"images must be (N >= 2, S, S, C), got shape {x.shape}")
    n, s, _, c = x.shape
    if s % binning:
        raise ValueError(f"image side {s} is not divisible by binning {binning}")
    b = s // binning
    flat = x.reshape(n, b, binning, b, binning, c).mean((2, 4)).reshape(n, -1)
    k = int(min(n_components, n - 1, flat.shape[1]))
    components = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit_transform(flat)
    return _forest(components, seed, n_estimators)


def catalog_features(conn: psycopg.Connection, object_ids: Sequence[int], columns: Sequence[str] = CATALOG_FEATURES) -> np.ndarray:
    """(N, len(columns)) float64 ``object_metadata`` values of ``object_ids`` in that order.

    NULL values (and objects missing from the view) are NaN.
    """
    ids = [int(i) for i in object_ids]
    rows = conn.execute(
        f"SELECT object_id, {', '.join(columns)} FROM object_metadata WHERE object_id = ANY(%s)", (ids,)
    ).fetchall()
    found = {r[0]: r[1:] for r in rows}
    out = np.full((len(ids), len(columns)), np.nan)
    for k, oid in enumerate(ids):
        if oid in found:
            out[k] = [np.nan if v is None else float(v) for v in found[oid]]
    return out


def catalog_iforest(features: np.ndarray, *, seed: int = 0, n_estimators: int = 200) -> np.ndarray:
    """Isolation-forest anomaly scores on catalog features.

    Args:
        features: (N, F) float values (e.g. :func:`catalog_features`); NaN is replaced by the
            column's median (a column with no values by 0), so an object with a failed
            measurement is scored on its other features.

    Returns:
        (N,) float64 scores, higher = more anomalous.
    """
    x = np.array(features, dtype=np.float64, copy=True)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (N >= 2, F), got shape {x.shape}")
    for j in range(x.shape[1]):
        col = x[:, j]
        bad = ~np.isfinite(col)
        if bad.any():
            col[bad] = np.nanmedian(col[~bad]) if (~bad).any() else 0.0
    return _forest(x, seed, n_estimators)


def sample_images(url: str, sample: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(object_ids int64 (N,), images float32 (N, S, S, 3)) of a sample's packed shards."""
    from hscanom.ingest.shards import iter_batches
    from hscanom.ml.runs import packed_shards

    shards = packed_shards(url, sample, image_size)
    ids, images = [], []
    for i, x in iter_batches(shards, 1024):
        ids.append(i)
        images.append(x)
    if not ids:
        raise LookupError(f"sample {sample} has no packed {image_size}-pixel images")
    return np.concatenate(ids).astype(np.int64), np.concatenate(images)


def evaluate_baselines(url: str, run_id: int, truth, *, threshold: float = 3.0, seed: int = 0) -> "pd.DataFrame":
    """Both baselines on the objects of score run ``run_id`` (its sample and image size),
    measured against ``truth`` like :func:`hscanom.ml.evaluate.evaluate` measures a run.

    Nothing is stored (a baseline is not a score run). The ``*_sigma`` selection of recall and
    purity uses (score - mean) / std over the run's objects, as ``anomaly_score_normalized``.

    Args:
        truth: as :func:`hscanom.ml.evaluate.evaluate` (a CSV path or ``"labels"``).

    Returns:
        Rows of :data:`hscanom.ml.evaluate.TABLE_COLUMNS` with ``run_id`` = ``run_id``,
        ``method`` = ``baseline`` and ``score`` = the baseline's name.

    Raises:
        LookupError: no such run, or its sample has no packed images.
    """
    import pandas as pd

    from hscanom.ml.evaluate import TABLE_COLUMNS, _with_truth, load_truth, run_metrics

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT s.name, coalesce((r.params->>'image_size')::int, 96) FROM score_run r JOIN sample s ON s.id = r.sample_id WHERE r.id = %s",
            (run_id,),
        ).fetchone()
        if row is None:
            raise LookupError(f"no score run {run_id}")
        sample, size = row
        gt = load_truth(conn, truth)
        ids, images = sample_images(url, sample, size)
        scored = {int(r[0]) for r in conn.execute("SELECT object_id FROM anomaly_score WHERE run_id = %s", (run_id,))}
        keep = np.array([int(i) in scored for i in ids]) if scored else np.ones(len(ids), bool)
        ids, images = ids[keep], images[keep]
        feats = catalog_features(conn, ids)
    rows = []
    for name, scores in (("pixel_pca_iforest", pixel_pca_iforest(images, seed=seed)), ("catalog_iforest", catalog_iforest(feats, seed=seed))):
        sigma = (scores - scores.mean()) / scores.std() if scores.std() > 0 else np.zeros_like(scores)
        frame = pd.DataFrame({"object_id": ids, "s_anom": scores, "s_anom_sigma": sigma})
        merged, _, _ = _with_truth(frame, gt)
        for r in run_metrics(merged, gt.anomaly_classes, threshold):
            rows.append({**r, "run_id": run_id, "method": "baseline", "score": name})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
