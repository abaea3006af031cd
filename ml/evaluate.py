"""How well each score finds known anomalies: ROC AUC, average precision, recall and purity.

:func:`evaluate` compares score runs (a run and, by default, every other complete run on the
same sample, e.g. the DCAE beside the WGAN) against ground truth:

* a CSV file with columns ``object_id`` and ``anomaly_class`` (the simulator's
  ``labels.csv``): ``normal`` objects are the negatives, every other class a positive;
  scored objects absent from the file are left out (and counted);
* ``"labels"``: the ``object_label`` table, newest label per object: labelled objects are
  positives of their label's class, scored objects WITHOUT a label are the negatives.

For every run, every score column with values (``s_gen``, ``s_disc``, ``s_anom``; a DCAE run
has no ``s_disc``) and every class (``all`` = all anomalies vs normals, or one class vs the
normals, other classes left out):

* ``roc_auc``, ``average_precision``: scikit-learn's, of the raw score;
* ``recall``: fraction of the positives selected by ``<score>_sigma > threshold``
  (``anomaly_score_normalized``: (s - mean) / std over the whole run);
* ``purity``: fraction of the selected objects (of that row's objects) that are positives;
* ``frac_above``: fraction of the row's objects selected.

A row without positives (or without negatives, for AUC/AP) has NULL metrics. Results are
stored as one ``evaluation`` row (truth source, params) and ``evaluation_metric`` rows (the
columns ``recall_3sigma``, ``purity_3sigma``, ``frac_above_3sigma`` hold the values at
``params.threshold``, 3 by default). Evaluating complete runs again against the same truth
(same file content, or the same labels) with the same threshold returns the stored evaluation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from hscanom import db
from hscanom.checksum import sha256_file
from hscanom.scores import SCORES

NORMAL = "normal"
ALL = "all"
#: ``truth`` value meaning the ``object_label`` table.
LABELS = "labels"

_INT = re.compile(r"[+-]?\d+")
_INT64 = (-(2**63), 2**63 - 1)

#: Columns of :attr:`EvaluationResult.table`.
TABLE_COLUMNS = [
    "run_id", "method", "score", "anomaly_class", "n_objects", "n_positive",
    "roc_auc", "average_precision", "recall", "purity", "frac_above",
]


class TruthError(ValueError):
    """Ground truth that cannot be used (the message names the file, line and field)."""


@dataclass
class Truth:
    """Ground truth: classes per object id.

    Attributes:
        classes: object_id -> class (``normal`` for negatives).
        source: what ``evaluation.truth`` records (file path + sha256, or ``object_label``).
        unlabelled_are_negatives: scored objects absent from ``classes`` count as normals
            (``object_label`` truth) instead of being left out (file truth).
    """

    classes: dict[int, str]
    source: str
    unlabelled_are_negatives: bool = False

    @property
    def digest(self) -> str:
        """sha256 of the (object_id, class) pairs in id order: identifies the truth's content."""
        h = hashlib.sha256()
        for oid in sorted(self.classes):
            h.update(f"{oid},{self.classes[oid]}\n".encode())
        return h.hexdigest()

    @property
    def anomaly_classes(self) -> list[str]:
        return sorted({c for c in self.classes.values() if c != NORMAL})


@dataclass
class EvaluationResult:
    """What :func:`evaluate` stored: ``evaluation_id``, the metric ``table`` (:data:`TABLE_COLUMNS`)
    and ``notes`` (what was left out, how negatives were defined); ``reused`` when an identical
    evaluation was stored before."""

    evaluation_id: int
    table: pd.DataFrame
    truth: str
    threshold: float
    runs: list[int]
    notes: list[str] = field(default_factory=list)
    reused: bool = False


# -- ground truth ---------------------------------------------------------------------------
def read_csv_text(path: Path, error: type[Exception], expected: str) -> io.StringIO:
    """The text of a CSV file (UTF-8, a byte-order mark allowed), ready for :func:`csv.reader`
    (line endings kept as they are, as ``open(newline="")`` keeps them).

    Raises:
        ``error``: the file is not UTF-8 (the message names it, the byte and ``expected``).
    """
    try:
        return io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); expected {expected}") from None


def header_names(header: list[str]) -> list[str]:
    """A CSV header's column names, stripped of spaces and of a leading ``#`` (``# object_id``)."""
    return [h.strip().lstrip("#").strip() for h in header]


def object_id_field(raw: str, path: Path, line: int, error: type[Exception]) -> int:
    """``raw`` (spaces stripped) as a 64-bit integer object id.

    Raises:
        ``error``: not an integer, or outside int64; the message names the file, line and field.
    """
    raw = raw.strip()
    if not _INT.fullmatch(raw) or not _INT64[0] <= int(raw) <= _INT64[1]:
        raise error(f"{path}: line {line}: field object_id: {raw!r} is not an integer (int64) object id")
    return int(raw)


def read_truth_csv(path: str | Path) -> Truth:
    """Ground truth from a CSV with columns ``object_id`` (int64) and ``anomaly_class``.

    Raises:
        FileNotFoundError: no such file.
        TruthError: a missing column, a non-integer id, an empty class, or one id with two
            classes; the message names the file, the line (1-based, header = 1) and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"truth file {path} does not exist")
    classes: dict[int, str] = {}
    first_line: dict[int, int] = {}
    with read_csv_text(path, TruthError, "a CSV with object_id,anomaly_class") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise TruthError(f"{path}: line 1: empty file; expected a header with object_id,anomaly_class")
        names = header_names(header)
        for wanted in ("object_id", "anomaly_class"):
            if wanted not in names:
                raise TruthError(f"{path}: line 1: missing column {wanted!r} (header: {','.join(names)})")
        i_id, i_class = names.index("object_id"), names.index("anomaly_class")
        for row in reader:
            line = reader.line_num
            if not row or all(not v.strip() for v in row):
                continue
            oid = object_id_field(row[i_id] if i_id < len(row) else "", path, line, TruthError)
            label = row[i_class].strip() if i_class < len(row) else ""
            if not label:
                raise TruthError(f"{path}: line {line}: field anomaly_class: empty")
            label = NORMAL if label.lower() == NORMAL else label
            if label == ALL:
                raise TruthError(f"{path}: line {line}: field anomaly_class: {ALL!r} is reserved for all anomalies together")
            if oid in classes and classes[oid] != label:
                raise TruthError(
                    f"{path}: line {line}: field anomaly_class: object {oid} is {label!r} here but "
                    f"{classes[oid]!r} on line {first_line[oid]}"
                )
            classes[oid] = label
            first_line.setdefault(oid, line)
    return Truth(classes, f"{path.resolve()} sha256:{sha256_file(path)}")


def labels_truth(conn: psycopg.Connection) -> Truth:
    """Ground truth from ``object_label``: the newest label of each labelled object."""
    rows = conn.execute(
        "SELECT DISTINCT ON (object_id) object_id, label FROM object_label ORDER BY object_id, created_at DESC, id DESC"
    ).fetchall()
    return Truth({oid: label for oid, label in rows}, "object_label", unlabelled_are_negatives=True)


def load_truth(conn: psycopg.Connection, truth: str | Path | None) -> Truth:
    """File or ``labels`` truth (see :func:`evaluate`)."""
    if truth is None:
        raise TruthError("no ground truth given: pass --truth FILE.csv (object_id,anomaly_class) or --truth labels (the object_label table)")
    if str(truth) == LABELS:
        return labels_truth(conn)
    return read_truth_csv(truth)


# -- metrics --------------------------------------------------------------------------------
def _num(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def selection_metrics(positive: np.ndarray, score: np.ndarray, sigma: np.ndarray, threshold: float) -> dict:
    """Metrics of one score on one set of objects.

    Args:
        positive: (N,) bool, the truth.
        score: (N,) raw scores (higher = more anomalous).
        sigma: (N,) normalised scores; NaN (undefined) is never selected.
        threshold: selection ``sigma > threshold``.

    Returns:
        n_objects, n_positive, roc_auc, average_precision, recall, purity, frac_above (None
        where undefined: everything without positives; AUC/AP without negatives; purity
        without selected objects).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    positive = np.asarray(positive, bool)
    n, n_pos = len(positive), int(positive.sum())
    out = {"n_objects": n, "n_positive": n_pos, "roc_auc": None, "average_precision": None, "recall": None, "purity": None, "frac_above": None}
    if n_pos == 0:
        return out
    if n_pos < n:
        out["roc_auc"] = float(roc_auc_score(positive, score))
        out["average_precision"] = float(average_precision_score(positive, score))
    selected = np.nan_to_num(np.asarray(sigma, np.float64), nan=-np.inf) > threshold
    hits = int((selected & positive).sum())
    out["recall"] = hits / n_pos
    out["purity"] = hits / int(selected.sum()) if selected.any() else None
    out["frac_above"] = int(selected.sum()) / n
    return out


def run_metrics(scores: pd.DataFrame, classes: list[str], threshold: float) -> list[dict]:
    """Metric rows of one run.

    Args:
        scores: one row per object with truth: ``anomaly_class`` and, per score column
            present, ``<score>`` and ``<score>_sigma``. All-NULL score columns are skipped;
            objects with a NULL value are left out of that column's rows.
        classes: the anomaly classes (each gets a row, NULL when it has no positives).
    """
    rows = []
    for col in SCORES:
        if col not in scores or scores[col].isna().all():
            continue
        have = scores[scores[col].notna()]
        is_normal = (have["anomaly_class"] == NORMAL).to_numpy()
        for cls in [ALL, *classes]:
            keep = np.ones(len(have), bool) if cls == ALL else is_normal | (have["anomaly_class"] == cls).to_numpy()
            sub = have[keep]
            positive = (sub["anomaly_class"] != NORMAL).to_numpy()
            m = selection_metrics(positive, sub[col].to_numpy(np.float64), sub[f"{col}_sigma"].to_numpy(np.float64), threshold)
            rows.append({"score": col, "anomaly_class": cls, **m})
    return rows


# -- runs -----------------------------------------------------------------------------------
def _runs(conn: psycopg.Connection, run_id: int, compare: list[int] | None) -> list[tuple[int, str, str]]:
    """(run id, method, status) of the evaluated run and the compared ones, in order."""
    row = conn.execute("SELECT sample_id, status FROM score_run WHERE id = %s", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"no score run {run_id}")
    if compare is None:
        compare = [r[0] for r in conn.execute(
            "SELECT id FROM score_run WHERE sample_id = %s AND id <> %s AND status = 'complete' ORDER BY id", (row[0], run_id)
        )]
    ids = list(dict.fromkeys([int(run_id), *(int(c) for c in compare)]))
    found = {r[0]: r[1:] for r in conn.execute("SELECT id, method, status FROM score_run WHERE id = ANY(%s)", (ids,))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise LookupError(f"no score run {', '.join(map(str, missing))}")
    return [(i, *found[i]) for i in ids]


def _scores(conn: psycopg.Connection, run_id: int) -> pd.DataFrame:
    """Raw and normalised scores of a run: object_id (int64), s_*, s_*_sigma (float, NaN = NULL)."""
    cols = [*SCORES, *(f"{s}_sigma" for s in SCORES)]
    rows = conn.execute(f"SELECT object_id, {', '.join(cols)} FROM anomaly_score_normalized WHERE run_id = %s", (run_id,)).fetchall()
    frame = pd.DataFrame(rows, columns=["object_id", *cols])
    frame["object_id"] = frame["object_id"].astype(np.int64)
    return frame.astype({c: np.float64 for c in cols})


def _with_truth(scores: pd.DataFrame, truth: Truth) -> tuple[pd.DataFrame, int, int]:
    """(scores with anomaly_class, truth objects not scored, scored objects without truth)."""
    classes = pd.Series(truth.classes, dtype=object, name="anomaly_class")
    classes.index = classes.index.astype(np.int64)
    merged = scores.join(classes, on="object_id")
    without = int(merged["anomaly_class"].isna().sum())
    unscored = len(set(truth.classes) - set(scores["object_id"].tolist()))
    if truth.unlabelled_are_negatives:
        merged["anomaly_class"] = merged["anomaly_class"].fillna(NORMAL)
        return merged, unscored, 0
    return merged[merged["anomaly_class"].notna()], unscored, without


def _notes(source: str, classes: list[str], params: dict) -> list[str]:
    notes = [
        f"truth: {source}: {params['truth_objects']:,} objects, classes {', '.join(classes) or '(none)'}; "
        f"negatives = {params['negatives']}"
    ]
    for rid, d in params["per_run"].items():
        if d["truth_objects_not_scored"]:
            notes.append(f"run {rid}: {d['truth_objects_not_scored']:,} truth objects were not scored (left out)")
        if d["scored_without_truth"]:
            notes.append(f"run {rid}: {d['scored_without_truth']:,} scored objects have no truth (left out)")
    return notes


def _stored(conn: psycopg.Connection, run_id: int, source: str, params: dict) -> tuple[int, pd.DataFrame] | None:
    """(id, table) of an evaluation stored with exactly this run, truth and params."""
    row = conn.execute(
        "SELECT id FROM evaluation WHERE run_id = %s AND truth = %s AND params = %s::jsonb ORDER BY id DESC LIMIT 1",
        (run_id, source, json.dumps(params)),
    ).fetchone()
    if row is None:
        return None
    rows = conn.execute(
        """
        SELECT m.run_id, r.method, m.score, m.anomaly_class, m.n_objects, m.n_positive, m.roc_auc, m.average_precision,
               m.recall_3sigma, m.purity_3sigma, m.frac_above_3sigma
          FROM evaluation_metric m JOIN score_run r ON r.id = m.run_id
         WHERE m.evaluation_id = %s
         ORDER BY array_position(%s::bigint[], m.run_id), array_position(%s::text[], m.score),
                  m.anomaly_class <> %s, m.anomaly_class COLLATE "C"
        """,
        (row[0], params["runs"], list(SCORES), ALL),
    ).fetchall()
    return row[0], pd.DataFrame(rows, columns=TABLE_COLUMNS)


def evaluate(
    url: str,
    run_id: int,
    *,
    truth: str | Path | None = None,
    compare: list[int] | None = None,
    threshold: float = 3.0,
) -> EvaluationResult:
    """Evaluate score run ``run_id`` (and the ``compare`` runs) against ``truth``; store and return the metrics.

    Args:
        url: libpq URL of the database.
        truth: a CSV file (object_id, anomaly_class; ``normal`` = negative) or ``"labels"``
            (the ``object_label`` table; unlabelled scored objects are the negatives).
        compare: other runs to evaluate beside it (default: every other complete run on the
            same sample; ``[]`` for none).
        threshold: the selection ``<score>_sigma > threshold`` of recall, purity, frac_above.

    Raises:
        TruthError: no truth given, or a malformed truth file (file, line and field named).
        LookupError: an unknown run.
    """
    with db.connect(url) as conn:
        runs = _runs(conn, run_id, compare)
        gt = load_truth(conn, truth)
        classes = gt.anomaly_classes
        rows, details = [], {}
        for rid, method, _status in runs:
            merged, unscored, without = _with_truth(_scores(conn, rid), gt)
            details[str(rid)] = {"truth_objects_not_scored": unscored, "scored_without_truth": without}
            rows += [{"run_id": rid, "method": method, **r} for r in run_metrics(merged, classes, threshold)]
        params = {
            "threshold": float(threshold),
            "runs": [rid for rid, *_ in runs],
            "class_column": "anomaly_class",
            "negatives": "scored objects without a label" if gt.unlabelled_are_negatives else "class 'normal'",
            "truth_objects": len(gt.classes),
            "truth_sha256": gt.digest,
            "per_run": details,
        }
        notes = _notes(gt.source, classes, params)
        if all(status == "complete" for *_, status in runs):
            stored = _stored(conn, run_id, gt.source, params)
            if stored:
                return EvaluationResult(stored[0], stored[1], gt.source, threshold, params["runs"], notes, reused=True)
        table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
        with conn.transaction():
            evaluation_id = conn.execute(
                "INSERT INTO evaluation (run_id, truth, params) VALUES (%s, %s, %s) RETURNING id",
                (run_id, gt.source, json.dumps(params)),
            ).fetchone()[0]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO evaluation_metric (evaluation_id, run_id, score, anomaly_class, n_objects, n_positive, roc_auc, "
                    "average_precision, recall_3sigma, purity_3sigma, frac_above_3sigma) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (evaluation_id, r["run_id"], r["score"], r["anomaly_class"], r["n_objects"], r["n_positive"],
                         *(_num(r[k]) for k in ("roc_auc", "average_precision", "recall", "purity", "frac_above")))
                        for r in rows
                    ],
                )
    return EvaluationResult(evaluation_id, table, gt.source, threshold, params["runs"], notes)


# -- the paper's finding, detectors side by side ---------------------------------------------
#: Classes Storey-Fisher et al. call scientifically interesting (s_disc should favour them) and
#: the artefacts (s_gen should favour them), by the simulator's class names.
INTERESTING: tuple[str, ...] = ("merger_tidal", "blue_clumpy", "blue_core", "red_extended")
ARTEFACTS: tuple[str, ...] = ("streak", "bright_star", "empty_noise", "bad_deblend")


def paper_finding(table: pd.DataFrame, run_id: int, metric: str = "roc_auc") -> pd.DataFrame:
    """Test the paper's finding on one WGAN run: does s_disc rank the interesting classes above
    where s_gen ranks them, and s_gen the artefacts above where s_disc ranks them?

    Args:
        table: an :attr:`EvaluationResult.table` (or rows of the same columns).
        run_id: the WGAN run (it must have s_gen and s_disc rows).
        metric: the ranking measure compared (``roc_auc`` or ``average_precision``).

    Returns:
        One row per class of :data:`INTERESTING` and :data:`ARTEFACTS` present in the table:
        ``anomaly_class``, ``group`` (``interesting``/``artefact``), ``s_gen``, ``s_disc`` (the
        metric), ``difference`` = s_disc - s_gen, and ``as_paper`` (s_disc > s_gen for an
        interesting class, s_gen > s_disc for an artefact; ``None`` when a value is missing).
        Empty when the run has no s_gen or s_disc rows.
    """
    rows = table[(table["run_id"] == run_id) & table["score"].isin(["s_gen", "s_disc"])]
    wide = rows.pivot_table(index="anomaly_class", columns="score", values=metric, aggfunc="first")
    out = []
    if not {"s_gen", "s_disc"} <= set(wide.columns):
        return pd.DataFrame(columns=["anomaly_class", "group", "s_gen", "s_disc", "difference", "as_paper"])
    for group, classes, sign in (("interesting", INTERESTING, 1.0), ("artefact", ARTEFACTS, -1.0)):
        for cls in classes:
            if cls not in wide.index:
                continue
            g, d = _num(wide.loc[cls, "s_gen"]), _num(wide.loc[cls, "s_disc"])
            diff = None if g is None or d is None else d - g
            out.append({"anomaly_class": cls, "group": group, "s_gen": g, "s_disc": d, "difference": diff,
                        "as_paper": None if diff is None else bool(sign * diff > 0)})
    return pd.DataFrame(out, columns=["anomaly_class", "group", "s_gen", "s_disc", "difference", "as_paper"])


def paper_finding_summary(finding: pd.DataFrame) -> str:
    """One sentence with the numbers of :func:`paper_finding`."""
    if finding.empty:
        return "The paper's finding cannot be tested: the run has no s_gen and s_disc metrics for the paper's classes."
    parts = []
    for group, wanted, other in (("interesting", "s_disc", "s_gen"), ("artefact", "s_gen", "s_disc")):
        sub = finding[(finding["group"] == group) & finding["as_paper"].notna()]
        if sub.empty:
            continue
        k = int(sub["as_paper"].sum())
        parts.append(
            f"{wanted} ranks {k} of {len(sub)} {'interesting classes' if group == 'interesting' else 'artefact classes'} above "
            f"{other} (mean AUC {sub[wanted].mean():.3f} vs {sub[other].mean():.3f})"
        )
    holds = all(bool(v) for v in finding["as_paper"].dropna())
    verdict = "The paper's finding holds for every class" if holds else "The paper's finding does not hold for every class"
    return f"{verdict}: " + "; ".join(parts) + "."


def side_by_side(table: pd.DataFrame, metric: str = "roc_auc") -> pd.DataFrame:
    """``metric`` per class (rows: ``all`` first, then the classes) and detector score
    (columns ``"<method> <score> (run N)"`` in the table's run and score order)."""
    if table.empty:
        return pd.DataFrame()
    keys = list(dict.fromkeys(zip(table["run_id"], table["method"], table["score"])))
    classes = list(dict.fromkeys([ALL, *sorted(c for c in table["anomaly_class"] if c != ALL)]))
    out = pd.DataFrame(index=classes)
    for rid, method, score in keys:
        sub = table[(table["run_id"] == rid) & (table["score"] == score)].set_index("anomaly_class")[metric]
        out[f"{method} {score} (run {rid})"] = [_num(sub.get(c)) for c in classes]
    out.index.name = "anomaly_class"
    return out


# -- reconstruction fidelity ----------------------------------------------------------------
#: Radius of the central aperture of the fidelity measure [pixels].
FIDELITY_APERTURE_RADIUS = 6.0


def central_aperture(size: int, radius: float = FIDELITY_APERTURE_RADIUS) -> np.ndarray:
    """(size, size) bool: pixels whose centres lie within ``radius`` of ((size-1)/2, (size-1)/2)."""
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2.0
    return (xx - c) ** 2 + (yy - c) ** 2 <= radius**2


def aperture_flux_ratios(real: np.ndarray, reconstructed: np.ndarray, radius: float = FIDELITY_APERTURE_RADIUS) -> np.ndarray:
    """Per image and channel, reconstructed / real flux in the central aperture.

    Args:
        real, reconstructed: (N, S, S, C) images in the same units (the preprocessed [0, 1]
            pixels the models see and make).
        radius: aperture radius [pixels].

    Returns:
        (N, C) float64 ratios sum_ap(reconstructed) / sum_ap(real); NaN where the real
        aperture sum is 0.
    """
    real, reconstructed = np.asarray(real, np.float64), np.asarray(reconstructed, np.float64)
    if real.shape != reconstructed.shape or real.ndim != 4:
        raise ValueError(f"real {real.shape} and reconstructed {reconstructed.shape} must be equal (N, S, S, C) shapes")
    ap = central_aperture(real.shape[1], radius)
    num, den = reconstructed[:, ap].sum(1), real[:, ap].sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def fidelity_summary(ratios: np.ndarray, channels: tuple[str, ...] = ("R", "G", "B")) -> pd.DataFrame:
    """Median, quartiles and interquartile range of :func:`aperture_flux_ratios` per channel
    (NaN ratios left out); columns ``channel, n, median, q25, q75, iqr``."""
    rows = []
    for k, name in enumerate(channels):
        v = ratios[:, k][np.isfinite(ratios[:, k])]
        q25, med, q75 = (np.quantile(v, q) for q in (0.25, 0.5, 0.75)) if len(v) else (np.nan,) * 3
        rows.append({"channel": name, "n": len(v), "median": float(med), "q25": float(q25), "q75": float(q75), "iqr": float(q75 - q25)})
    return pd.DataFrame(rows)
