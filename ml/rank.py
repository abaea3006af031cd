"""Rank a run's objects by what people find interesting: active learning from a few labels.

Unsupervised scores find *unusual* objects, and most of them are artefacts (Storey-Fisher et
al.; Astronomaly, Lochner & Bassett 2021). :func:`rank` learns from labelled objects which of
the unusual ones are *interesting* and writes an immutable ranking of every scored object of
a run (tables ``ranking`` and ``ranking_score``, revision 0008).

Features of an object (:func:`load_features`): the residual and real-image CAE embeddings
(64-d each, ``hscanom characterize --run R --all`` embeds every scored object), the run's
s_gen / s_disc / s_anom in sigma, the s_anom sigma of the newest complete DCAE run on the
same sample (when there is one), and ``object_metadata``: g-r, r-i, R_eff, ellipticity,
i blendedness, log10 aperture/CModel ratio, and the bright-star-mask flag. Missing values
(objects without an embedding, NaN metadata) are replaced by the column's median.

Relevance (:func:`fit_relevance`), after Astronomaly's idea that a few labels should steer
the anomaly score rather than replace it (Lochner & Bassett 2021, sec. 2.4):

* the **prior** u is the percentile rank of the unsupervised anomaly score in [0, 1] (ties
  share a value). By default (``detectors``) that is each detector's best score: the WGAN
  run's s_gen (its best score in ``bench/bench_detect.py``: overall ROC AUC 0.977 against
  s_anom's 0.957 on the tuning seed 1000, docs/evaluation.md) -- a DCAE run's s_anom --
  averaged with the percentile rank of the DCAE's s_anom when a complete DCAE run on the
  same sample exists: the two detectors fail on different classes;
* with labels (of one kind or both), a **Gaussian process** regression (scikit-learn, fixed
  kernel 0.25 RBF(l), noise 0.01, prior mean m0 = 0.5 = "undecided") of the labels (1
  interesting, 0 not) on a low-dimensional design (:func:`design_matrix`: the scores and
  metadata, robust-scaled and asinh-compressed, plus 8 whitened principal components of the
  two embeddings; l = sqrt(d) / 2) gives the posterior mean mu and standard deviation sigma
  (the **uncertainty**); far from every labelled object mu = m0 and sigma = 0.5;
  relevance = w mu + (1 - w) u with w = n / (n + n0), n = labels, n0 =
  :data:`PRIOR_WEIGHT_LABELS`: objects like a labelled interesting one rise above the
  normal ones, objects like a labelled artefact fall, and the unexplored keep their order;
* with no labels nothing is fitted (model ``prior``): relevance = u, uncertainty 0.5 for every
  object. With zero labels the ranking therefore **is** the unsupervised order (score
  descending, then object_id);
* a labelled object's relevance is its label (1 interesting, 0 not) with uncertainty 0.

What to label next (:func:`queue_from`) is a GP-BUCB batch (Desautels, Krause & Burdick 2014):
greedily the unlabelled object with the largest relevance + beta u sigma, where sigma is
recomputed as if the objects already picked were labelled, so one batch does not spend ten
labels on ten copies of one kind of artefact.

Rank 1 is the most relevant; ties are broken by object_id ascending. The same labels, seed
and settings give the same ranking (the fit is deterministic).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg

from hscanom import db
from hscanom.checksum import sha256_file
from hscanom.ml.evaluate import header_names, object_id_field, read_csv_text
from hscanom.schema.models import OBJECT_LABELS
from hscanom.scores import SCORES

#: Label classes that count as interesting by default: the explorer's tags for the paper's
#: classes (merger, tidal_feature, star_forming_clump, blue_core, red_extended) and the
#: simulator's names of the same classes (merger_tidal, blue_clumpy). Everything else
#: (artefact, streak, bright_star, empty_noise, bad_deblend, not_interesting, other, normal)
#: counts as not interesting. ``--interesting`` changes it.
INTERESTING_CLASSES: tuple[str, ...] = (
    "merger", "tidal_feature", "merger_tidal", "star_forming_clump", "blue_clumpy", "blue_core", "red_extended",
)
#: Artefact classes (counted in the top N by :mod:`hscanom.ml.oracle`).
ARTEFACT_CLASSES: tuple[str, ...] = ("artefact", "streak", "bright_star", "empty_noise", "bad_deblend")
#: The default prior: the run's own best score (a WGAN run's s_gen, a DCAE run's s_anom), its
#: percentile rank averaged with that of the s_anom of the newest complete DCAE run on the
#: same sample when there is one (two detectors).
DETECTORS = "detectors"
#: A run's own score in the ``detectors`` prior, by method.
DETECTOR_SCORE = {"wgan": "s_gen", "dcae": "s_anom"}
PRIOR_SCORES = (DETECTORS, "s_anom", "s_disc", "s_gen")
#: Every label class the explorer stores (``object_label``'s CHECK) or the simulator writes
#: (a note names any other).
KNOWN_CLASSES: frozenset[str] = frozenset((*OBJECT_LABELS, *INTERESTING_CLASSES, *ARTEFACT_CLASSES, "normal"))
#: Metadata features from the ``scored_object`` view.
METADATA_FEATURES = ("g_r", "r_i", "r_eff_arcsec", "ellipticity", "i_blendedness_abs_flux", "log_aperture_cmodel_ratio", "in_bright_star_mask")
SCORE_FEATURES = ("s_gen_sigma", "s_disc_sigma", "s_anom_sigma")
#: Labels at which the learned relevance and the prior weigh the same (w = n / (n + n0)).
PRIOR_WEIGHT_LABELS = 10
#: The Gaussian process: prior mean of an unlabelled object's label ("undecided"), signal
#: variance (prior standard deviation 0.5) and noise variance of a label.
GP_PRIOR_MEAN = 0.5
GP_SIGNAL_VARIANCE = 0.25
GP_NOISE_VARIANCE = 0.01
#: Whitened principal components of the two embeddings in the GP's design.
EMBEDDING_COMPONENTS = 8
#: Weight of the exploration term of the queue (relevance + beta u sigma).
QUEUE_BETA = 1.0
#: Uncertainty of an unlabelled object when no model is fitted (the GP's prior standard deviation).
PRIOR_UNCERTAINTY = float(np.sqrt(GP_SIGNAL_VARIANCE))


class RankError(ValueError):
    """Labels or a run that cannot be ranked; the message says which file, line, field or run."""


@dataclass
class Features:
    """The feature matrix of a run's scored objects.

    Attributes:
        object_ids: int64 (N,), ascending.
        x: float64 (N, F), missing values replaced by column medians.
        names: F feature names.
        prior: float64 (N,) the unsupervised score (higher = more anomalous; NaN -> lowest).
        prior_score: which score ``prior`` is (:data:`PRIOR_SCORES`; ``detectors`` only when
            a DCAE run was averaged in, else the single score's name).
        embedded: fraction of objects with both embeddings.
        dcae_run: the DCAE run whose s_anom is a feature, or None.
    """

    object_ids: np.ndarray
    x: np.ndarray
    names: list[str]
    prior: np.ndarray
    prior_score: str
    embedded: float
    dcae_run: int | None = None


@dataclass
class Relevance:
    """Output of :func:`fit_relevance`, aligned with ``Features.object_ids``.

    Attributes:
        relevance: float64 (N,) in [0, 1].
        uncertainty: float64 (N,) >= 0 (the GP's posterior standard deviation, <= 0.5).
        rank: int64 (N,) 1 = most relevant.
        model: ``prior`` or ``gaussian_process``.
        params: what was used (seed, weight, estimator settings).
    """

    relevance: np.ndarray
    uncertainty: np.ndarray
    rank: np.ndarray
    model: str
    params: dict


@dataclass
class RankResult:
    """What :func:`rank` stored (or found stored: ``reused``)."""

    ranking_id: int
    run_id: int
    n_objects: int
    n_labels: int
    n_interesting: int
    model: str
    label_digest: str
    reused: bool = False
    notes: list[str] = field(default_factory=list)


# -- labels ---------------------------------------------------------------------------------
def read_labels_csv(path: str | Path) -> dict[int, str]:
    """Labels from a CSV: ``object_id`` (int64) and a class column, ``label`` (the explorer's
    ``/api/labels.csv``) or ``anomaly_class`` (the simulator's ``labels.csv``). When an id
    appears more than once, the last row counts (the explorer's export is in id order).

    Raises:
        FileNotFoundError: no such file.
        RankError: a missing column, a non-integer id or an empty class; the message names
            the file, the line (header = 1) and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels file {path} does not exist")
    out: dict[int, str] = {}
    with read_csv_text(path, RankError, "a CSV with object_id and label") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise RankError(f"{path}: line 1: empty file; expected a header with object_id and label (or anomaly_class)")
        names = header_names(header)
        if "object_id" not in names:
            raise RankError(f"{path}: line 1: missing column 'object_id' (header: {','.join(names)})")
        column = "label" if "label" in names else "anomaly_class" if "anomaly_class" in names else None
        if column is None:
            raise RankError(f"{path}: line 1: missing column 'label' or 'anomaly_class' (header: {','.join(names)})")
        i_id, i_class = names.index("object_id"), names.index(column)
        for row in reader:
            line = reader.line_num
            if not row or all(not v.strip() for v in row):
                continue
            oid = object_id_field(row[i_id] if i_id < len(row) else "", path, line, RankError)
            label = row[i_class].strip() if i_class < len(row) else ""
            if not label:
                raise RankError(f"{path}: line {line}: field {column}: empty")
            out[oid] = label
    return out


def database_labels(conn: psycopg.Connection) -> dict[int, str]:
    """The newest label of each labelled object in ``object_label`` (any user)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (object_id) object_id, label FROM object_label ORDER BY object_id, created_at DESC, id DESC"
    ).fetchall()
    return {int(oid): label for oid, label in rows}


def label_digest(pairs: Mapping[int, bool]) -> str:
    """sha256 of the sorted ``object_id,0|1`` lines: identifies a label set's content."""
    h = hashlib.sha256()
    for oid in sorted(pairs):
        h.update(f"{oid},{int(bool(pairs[oid]))}\n".encode())
    return h.hexdigest()


# -- features -------------------------------------------------------------------------------
def _run_row(conn: psycopg.Connection, run_id: int) -> tuple[str, int, str]:
    row = conn.execute("SELECT status, sample_id, method FROM score_run WHERE id = %s", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"no score run with id {run_id}")
    if row[0] != "complete":
        raise RankError(f"score run {run_id} is {row[0]}, not complete: finish it first (hscanom score)")
    return row


def load_features(conn: psycopg.Connection, run_id: int, *, prior_score: str | None = None) -> Features:
    """The feature matrix of every object scored in ``run_id`` (see the module docstring).

    Args:
        prior_score: ``detectors`` (default): the run's own best score
            (:data:`DETECTOR_SCORE`: a WGAN run's s_gen, a DCAE run's aperture s_anom),
            averaged in percentile rank with the s_anom of the newest complete DCAE run on
            the same sample when the run is a WGAN run and there is one; or ``s_anom``,
            ``s_disc``, ``s_gen`` alone.

    Raises:
        LookupError: no such run. RankError: the run is not complete, or has no such score.
    """
    _, sample_id, method = _run_row(conn, run_id)
    prior_score = prior_score or DETECTORS
    if prior_score not in PRIOR_SCORES:
        raise RankError(f"prior score must be one of {', '.join(PRIOR_SCORES)}, got {prior_score!r}")
    dcae = conn.execute(
        "SELECT max(id) FROM score_run WHERE sample_id = %s AND method = 'dcae' AND status = 'complete' AND id <> %s", (sample_id, run_id)
    ).fetchone()[0] if method == "wgan" else None
    own = DETECTOR_SCORE.get(method, "s_anom") if prior_score == DETECTORS else prior_score
    cols = ", ".join(f"o.{c}" for c in (*SCORE_FEATURES, *METADATA_FEATURES))
    rows = conn.execute(
        f"SELECT o.object_id, o.{own}, {cols} FROM scored_object o WHERE o.run_id = %s ORDER BY o.object_id", (run_id,)
    ).fetchall()
    if not rows:
        raise RankError(f"score run {run_id} has no scored objects")
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    prior = np.array([np.nan if r[1] is None else float(r[1]) for r in rows], dtype=np.float64)
    if np.isnan(prior).all():
        raise RankError(f"score run {run_id} has no {own} values (a DCAE run has no s_disc: --prior s_anom)")
    table = np.array([[np.nan if v is None else float(v) for v in r[2:]] for r in rows], dtype=np.float64)
    names = [*SCORE_FEATURES, *METADATA_FEATURES]
    parts = [table]
    index = {int(o): i for i, o in enumerate(ids)}
    have = np.ones(len(ids), bool)
    for kind in ("residual", "real"):
        emb = conn.execute(
            "SELECT e.object_id, e.vector FROM embedding e JOIN run_embedding_model rm "
            "ON rm.run_id = e.run_id AND rm.kind = e.kind AND rm.model_id = e.model_id WHERE e.run_id = %s AND e.kind = %s",
            (run_id, kind),
        ).fetchall()
        block = np.full((len(ids), len(emb[0][1]) if emb else 0), np.nan)
        found = np.zeros(len(ids), bool)
        for oid, vec in emb:
            i = index.get(int(oid))
            if i is not None:
                block[i] = vec
                found[i] = True
        have &= found
        parts.append(block)
        names += [f"{kind}_{k}" for k in range(block.shape[1])]
    if dcae is not None:
        col = np.full((len(ids), 1), np.nan)
        for oid, value in conn.execute("SELECT object_id, s_anom_sigma FROM anomaly_score_normalized WHERE run_id = %s", (dcae,)):
            i = index.get(int(oid))
            if i is not None and value is not None:
                col[i, 0] = float(value)
        parts.append(col)
        names.append("dcae_s_anom_sigma")
    x = np.concatenate(parts, axis=1)
    x[~np.isfinite(x)] = np.nan
    medians = np.nanmedian(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0) if len(x) else np.zeros(x.shape[1])
    medians = np.where(np.isfinite(medians), medians, 0.0)
    x = np.where(np.isnan(x), medians, x)
    if prior_score == DETECTORS and dcae is not None:  # the two detectors' ranks, averaged
        prior = (prior_relevance(prior) + prior_relevance(x[:, names.index("dcae_s_anom_sigma")])) / 2
    elif prior_score == DETECTORS:
        prior_score = own  # one detector: its own score
    return Features(ids, x, names, prior, prior_score, float(have.mean()), dcae)


def score_values(conn: psycopg.Connection, run_id: int, score: str, object_ids: np.ndarray) -> np.ndarray:
    """The raw ``score`` (s_gen, s_disc or s_anom) of run ``run_id``'s objects, float64 aligned
    with ``object_ids`` (NaN where NULL): the values :func:`load_features` ranks by when
    ``prior_score=score``, without reading the features."""
    if score not in SCORES:
        raise RankError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    index = {int(o): i for i, o in enumerate(object_ids)}
    out = np.full(len(object_ids), np.nan)
    for oid, value in conn.execute(f"SELECT object_id, {score} FROM scored_object WHERE run_id = %s", (run_id,)):
        i = index.get(int(oid))
        if i is not None and value is not None:
            out[i] = float(value)
    return out


def describe_prior(features: Features) -> str:
    """The prior in words: ``s_gen``, or ``s_gen + DCAE run N s_anom (mean percentile)``."""
    if features.prior_score == DETECTORS:
        return f"{DETECTOR_SCORE['wgan']} + DCAE run {features.dcae_run} s_anom (mean percentile)"
    return features.prior_score


# -- the model ------------------------------------------------------------------------------
def prior_relevance(score: np.ndarray) -> np.ndarray:
    """Percentile rank of ``score`` in [0, 1] (higher score -> higher; ties share the mean
    rank; NaN -> 0). A monotone map, so it orders objects exactly as the score does."""
    from scipy.stats import rankdata

    score = np.asarray(score, np.float64)
    filled = np.where(np.isnan(score), -np.inf, score)
    if len(filled) < 2:
        return np.ones(len(filled))
    return (rankdata(filled, method="average") - 1.0) / (len(filled) - 1.0)


def order(relevance: np.ndarray, object_ids: np.ndarray) -> np.ndarray:
    """Rank (1 = first) by relevance descending, then object_id ascending: int64 (N,)."""
    idx = np.lexsort((object_ids, -relevance))
    out = np.empty(len(idx), np.int64)
    out[idx] = np.arange(1, len(idx) + 1)
    return out


def robust_asinh(x: np.ndarray) -> np.ndarray:
    """Columns of ``x`` (float64 (N, F)) centred on their median, divided by their
    interquartile range (the standard deviation where that is 0) and compressed with asinh:
    an anomaly far out stays far out, but one extreme value does not swamp every distance."""
    q75, q25 = np.percentile(x, [75, 25], axis=0)
    scale = np.where(q75 - q25 > 0, q75 - q25, x.std(axis=0))
    return np.arcsinh((x - np.median(x, axis=0)) / np.where(scale > 0, scale, 1.0))


def design_matrix(features: Features, n_components: int = EMBEDDING_COMPONENTS) -> np.ndarray:
    """The Gaussian process's design: float64 (N, d), every column of unit variance.

    The score and metadata columns are centred on their median, divided by their
    interquartile range and compressed with asinh (:func:`robust_asinh`); the 128 embedding
    columns become
    ``n_components`` whitened principal components (scikit-learn PCA, deterministic full
    SVD), asinh-compressed the same way. d = 10 or 11 + ``n_components``.
    """
    names = features.names
    plain = [i for i, n in enumerate(names) if not n.startswith(("residual_", "real_"))]
    embedded = [i for i, n in enumerate(names) if n.startswith(("residual_", "real_"))]
    x = features.x[:, plain]
    parts = [robust_asinh(x)]
    k = min(n_components, len(embedded), len(x))
    if k:
        from sklearn.decomposition import PCA

        e = features.x[:, embedded]
        e = (e - e.mean(axis=0)) / np.where(e.std(axis=0) > 0, e.std(axis=0), 1.0)
        pcs = PCA(k, svd_solver="full").fit_transform(e)
        parts.append(np.arcsinh(pcs / np.where(pcs.std(axis=0) > 0, pcs.std(axis=0), 1.0)))
    z = np.concatenate(parts, axis=1)
    sd = z.std(axis=0)
    return z / np.where(sd > 0, sd, 1.0)


def _kernel(length_scale: float):
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel

    return ConstantKernel(GP_SIGNAL_VARIANCE, "fixed") * RBF(length_scale, "fixed")


def fit_relevance(features: Features, labels: Mapping[int, bool], *, seed: int = 0,
                  prior_labels: float = PRIOR_WEIGHT_LABELS, n_components: int = EMBEDDING_COMPONENTS,
                  design: np.ndarray | None = None) -> Relevance:
    """Relevance, uncertainty and rank of every object (see the module docstring).

    Args:
        labels: object_id -> interesting? (objects not in ``features`` are ignored).
        seed: recorded in ``params``; the fit itself is deterministic.
        prior_labels: n0 of the blend weight w = n / (n + n0).
        n_components: embedding principal components in the design (:func:`design_matrix`).
        design: a precomputed :func:`design_matrix` of ``features`` (the oracle loop reuses it).
    """
    ids = features.object_ids
    u = prior_relevance(features.prior)
    index = {int(o): i for i, o in enumerate(ids)}
    pos = np.array(sorted(index[o] for o in labels if o in index), dtype=np.int64)
    y = np.array([bool(labels[int(ids[i])]) for i in pos], dtype=bool)
    n = len(pos)
    params = {"seed": seed, "prior_score": features.prior_score, "n_labels": n}
    if n == 0:
        relevance, uncertainty, model = u.copy(), np.full(len(ids), PRIOR_UNCERTAINTY), "prior"
        params["why_no_fit"] = "no labels"
    else:
        from sklearn.gaussian_process import GaussianProcessRegressor

        z = design if design is not None else design_matrix(features, n_components)
        length = float(np.sqrt(z.shape[1]) / 2)
        gp = GaussianProcessRegressor(_kernel(length), alpha=GP_NOISE_VARIANCE, optimizer=None)
        gp.fit(z[pos], y.astype(np.float64) - GP_PRIOR_MEAN)
        mu, sigma = gp.predict(z, return_std=True)
        mu = np.clip(mu + GP_PRIOR_MEAN, 0.0, 1.0)
        w = n / (n + prior_labels)
        relevance, uncertainty, model = w * mu + (1 - w) * u, np.asarray(sigma, np.float64), "gaussian_process"
        params.update(weight=w, prior_labels=prior_labels, estimator="sklearn.gaussian_process.GaussianProcessRegressor",
                      kernel=f"{GP_SIGNAL_VARIANCE} RBF({length:.4g}), fixed", noise=GP_NOISE_VARIANCE, prior_mean=GP_PRIOR_MEAN,
                      design_columns=int(z.shape[1]), embedding_components=n_components)
    relevance = np.clip(relevance, 0.0, 1.0)
    if n:
        relevance[pos] = y.astype(np.float64)
        uncertainty[pos] = 0.0
    return Relevance(relevance, uncertainty, order(relevance, ids), model, params)


# -- the database ---------------------------------------------------------------------------
def _labelled(labels: Mapping[int, str], interesting: Iterable[str], ids: np.ndarray) -> dict[int, bool]:
    wanted = set(interesting)
    scored = set(ids.tolist())
    return {int(o): c in wanted for o, c in labels.items() if int(o) in scored}


def resolve_labels(conn: psycopg.Connection, labels: str | Path | Mapping[int, str] | None) -> tuple[dict[int, str], str]:
    """(object_id -> class, source text) from ``labels``: None or ``labels`` = the
    ``object_label`` table; a path = a CSV (:func:`read_labels_csv`); a mapping as given."""
    if labels is None or str(labels) == "labels":
        return database_labels(conn), "object_label"
    if isinstance(labels, Mapping):
        return {int(k): str(v) for k, v in labels.items()}, "given"
    path = Path(labels)
    found = read_labels_csv(path)
    return found, f"{path.resolve()} sha256:{sha256_file(path)}"


def rank(
    url: str,
    run_id: int,
    *,
    labels: str | Path | Mapping[int, str] | None = None,
    interesting: Iterable[str] = INTERESTING_CLASSES,
    seed: int = 0,
    prior_score: str | None = None,
    source: str | None = None,
    reuse: bool = True,
    features: Features | None = None,
    design: np.ndarray | None = None,
) -> RankResult:
    """Fit relevance on the labels and store a new ranking of every scored object of a run.

    Args:
        url: libpq URL.
        labels: ``None``/``"labels"`` (``object_label``, newest label per object), a CSV path
            (:func:`read_labels_csv`), or a mapping object_id -> class.
        interesting: the classes that count as interesting (others: not interesting).
        seed: recorded in the ranking's parameters (the fit is deterministic).
        prior_score: the unsupervised score (:data:`PRIOR_SCORES`; default ``detectors``).
        source: what ``ranking.label_source`` records (default: from ``labels``).
        reuse: return a stored ranking of the same run, label set and parameters instead of
            writing an identical new one.
        features: precomputed :func:`load_features` of the run (the oracle loop reuses them).
        design: precomputed :func:`design_matrix` of ``features``.

    Returns:
        :class:`RankResult`.

    Raises:
        LookupError: no such run. RankError: bad labels, incomplete run.
        FileNotFoundError: no such labels file.
    """
    interesting = tuple(sorted(set(interesting)))
    if not interesting:
        raise RankError("no interesting classes given")
    with db.connect(url) as conn:
        feats = features if features is not None else load_features(conn, run_id, prior_score=prior_score)
        classes, found_source = resolve_labels(conn, labels)
        pairs = _labelled(classes, interesting, feats.object_ids)
        digest = label_digest(pairs)
        fit = fit_relevance(feats, pairs, seed=seed, design=design)
        # "prior" names the scores behind prior_score, so that a ranking stored under another
        # definition of the default prior is never reused for this one
        params = {**fit.params, "prior": describe_prior(feats), "interesting": list(interesting), "features": len(feats.names),
                  "feature_groups": _groups(feats.names), "embedded_fraction": round(feats.embedded, 6), "dcae_run": feats.dcae_run}
        notes = []
        unknown = sorted({c for c in classes.values() if c not in KNOWN_CLASSES} | (set(interesting) - KNOWN_CLASSES))
        if unknown:
            notes.append(
                f"label class(es) {', '.join(map(repr, unknown))} are not among the known classes (docs/ranking.md); "
                "labels of a class not in --interesting count as not interesting"
            )
        left_out = len(classes) - len(pairs)
        if left_out:
            notes.append(f"{left_out:,} labelled object(s) were not scored in run {run_id} and are left out")
        if feats.embedded < 1.0:
            notes.append(
                f"{1 - feats.embedded:.1%} of the objects have no CAE embedding (median-filled): "
                f"run `hscanom characterize --run {run_id} --all` to embed every scored object"
            )
        if fit.model == "prior":
            notes.append(f"no model fitted ({fit.params['why_no_fit']}): the ranking is the unsupervised {describe_prior(feats)} order")
        n_pos = int(sum(pairs.values()))
        if reuse:
            row = conn.execute(
                "SELECT id FROM ranking WHERE run_id = %s AND label_digest = %s AND model = %s AND params = %s::jsonb ORDER BY id DESC LIMIT 1",
                (run_id, digest, fit.model, json.dumps(params)),
            ).fetchone()
            if row:
                return RankResult(row[0], run_id, len(feats.object_ids), len(pairs), n_pos, fit.model, digest, True, notes)
        with conn.transaction():
            ranking_id = conn.execute(
                "INSERT INTO ranking (run_id, label_digest, label_source, n_labels, n_interesting, model, params) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb) RETURNING id",
                (run_id, digest, source or found_source, len(pairs), n_pos, fit.model, json.dumps(params)),
            ).fetchone()[0]
            labelled = np.isin(feats.object_ids, np.fromiter(pairs.keys(), np.int64, len(pairs)))
            with conn.cursor() as cur, cur.copy(
                "COPY ranking_score (ranking_id, object_id, relevance, uncertainty, rank, labelled) FROM STDIN"
            ) as copy:
                for oid, rel, unc, rk, lab in zip(feats.object_ids.tolist(), fit.relevance.tolist(), fit.uncertainty.tolist(),
                                                  fit.rank.tolist(), labelled.tolist()):
                    copy.write_row((ranking_id, oid, rel, unc, rk, lab))
    return RankResult(ranking_id, run_id, len(feats.object_ids), len(pairs), n_pos, fit.model, digest, False, notes)


def _groups(names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in names:
        key = n.split("_")[0] if n.startswith(("residual_", "real_")) else n
        out[key] = out.get(key, 0) + 1
    return out


def newest_ranking(conn: psycopg.Connection, run_id: int) -> int | None:
    """Id of the newest ranking of a run, or None."""
    return conn.execute("SELECT max(id) FROM ranking WHERE run_id = %s", (run_id,)).fetchone()[0]


# -- what to label next ---------------------------------------------------------------------
def queue_from(features: Features, relevance: np.ndarray, labelled: np.ndarray, n: int, *, beta: float = QUEUE_BETA,
               n_components: int = EMBEDDING_COMPONENTS, design: np.ndarray | None = None) -> list[tuple[int, str]]:
    """The next ``n`` objects to label: (object_id, why), why ``relevant`` or ``uncertain``.

    Strategy: GP-BUCB (Desautels, Krause & Burdick 2014, "batch upper confidence bound").
    Greedily, the unlabelled object with the largest relevance + beta u sigma, where u is the
    prior (the anomaly score's percentile) and sigma the Gaussian process's posterior
    standard deviation given the labelled objects *and the objects already picked*. The
    relevance term brings what the model already puts on top (the person confirms or
    rejects it, which fixes the top of the list fastest); the u sigma term brings anomalous
    objects unlike anything labelled; and because sigma falls around each pick, one batch
    does not spend its labels on ten copies of one kind of object. why is ``relevant`` when
    the pick is also the most relevant object left, ``uncertain`` when the exploration term
    chose it over a more relevant one. Ties go to the smaller object_id.

    Args:
        features: :func:`load_features` of the run.
        relevance: float64 (N,) of the current ranking, aligned with ``features.object_ids``.
        labelled: bool (N,) objects not to queue (labelled, or otherwise excluded).
        n: queue length.
    """
    ids = features.object_ids
    u = prior_relevance(features.prior)
    z = design if design is not None else design_matrix(features, n_components)
    length = float(np.sqrt(z.shape[1]) / 2)
    kernel = _kernel(length)
    free = ~np.asarray(labelled, bool)
    known = list(np.flatnonzero(~free))
    out: list[tuple[int, str]] = []
    tie = np.argsort(np.argsort(ids)) / max(len(ids), 1) * 1e-12  # smaller object_id first
    while len(out) < min(n, int(free.sum())):
        if known:
            c = z[known]
            k_cc = kernel(c) + GP_NOISE_VARIANCE * np.eye(len(known))
            k_xc = kernel(z, c)
            var = GP_SIGNAL_VARIANCE - np.einsum("ij,ij->i", k_xc @ np.linalg.inv(k_cc), k_xc)
            sigma = np.sqrt(np.clip(var, 0.0, None))
        else:
            sigma = np.full(len(ids), PRIOR_UNCERTAINTY)
        explore = beta * u * sigma
        gain = np.where(free, relevance + explore - tie, -np.inf)
        i = int(np.argmax(gain))
        top = int(np.argmax(np.where(free, relevance - tie, -np.inf)))
        out.append((int(ids[i]), "relevant" if i == top else "uncertain"))
        free[i] = False
        known.append(i)
    return out


def queue(url: str, run_id: int, n: int = 20, *, ranking_id: int | None = None) -> list[dict]:
    """The next ``n`` objects to label in a run (see :func:`queue_from`), from the newest
    ranking of the run (or ``ranking_id``). Objects labelled since that ranking was made
    (``object_label``) are left out too.

    Returns:
        dicts with object_id (int), why, rank, relevance, uncertainty, prior (u: the percentile
        rank in [0, 1] of the ranking's unsupervised score, the u of relevance + beta u sigma),
        s_disc_sigma, s_anom_sigma (the run's), ranking_id.

    Raises:
        LookupError: no such run, or the run has no ranking yet (run ``hscanom rank`` first).
    """
    if n < 1:
        raise RankError(f"n must be >= 1, got {n}")
    with db.connect(url) as conn:
        _run_row(conn, run_id)
        if ranking_id is None:
            ranking_id = newest_ranking(conn, run_id)
            if ranking_id is None:
                raise LookupError(f"run {run_id} has no ranking yet: run `hscanom rank --run {run_id}` first")
        elif conn.execute("SELECT 1 FROM ranking WHERE id = %s AND run_id = %s", (ranking_id, run_id)).fetchone() is None:
            raise LookupError(f"ranking {ranking_id} is not a ranking of run {run_id}")
        rows = conn.execute(
            "SELECT s.object_id, s.relevance, s.uncertainty, s.rank, s.labelled OR EXISTS (SELECT 1 FROM object_label l WHERE l.object_id = s.object_id), "
            "n.s_disc_sigma, n.s_anom_sigma FROM ranking_score s LEFT JOIN anomaly_score_normalized n ON n.run_id = %s AND n.object_id = s.object_id "
            "WHERE s.ranking_id = %s ORDER BY s.object_id",
            (run_id, ranking_id),
        ).fetchall()
        prior = conn.execute("SELECT params ->> 'prior_score' FROM ranking WHERE id = %s", (ranking_id,)).fetchone()[0]
        feats = load_features(conn, run_id, prior_score=prior)
    ids = np.array([r[0] for r in rows], np.int64)
    if not np.array_equal(ids, feats.object_ids):
        raise RankError(f"ranking {ranking_id} does not cover the objects scored in run {run_id}")
    rel = np.array([r[1] for r in rows], np.float64)
    lab = np.array([r[4] for r in rows], bool)
    by_id = {r[0]: r for r in rows}
    u = dict(zip(ids.tolist(), prior_relevance(feats.prior).tolist()))
    out = []
    for oid, why in queue_from(feats, rel, lab, n):
        r = by_id[oid]
        out.append({"object_id": oid, "why": why, "rank": r[3], "relevance": r[1], "uncertainty": r[2], "prior": u[oid],
                    "s_disc_sigma": r[5], "s_anom_sigma": r[6], "ranking_id": ranking_id})
    return out


Progress = Callable[[str], None]
