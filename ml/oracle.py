"""A simulated astronomer: measure what a few labels do to a ranking (``hscanom evaluate --oracle``).

:func:`evaluate_oracle` starts from the unsupervised ranking of a run (zero labels: the
order of the ranking's prior score, by default the two detectors' best scores, WGAN s_gen
and DCAE s_anom) and, each round, asks an :class:`Oracle` for the classes of the objects in
the labelling queue (:func:`hscanom.ml.rank.queue_from`), adds them to its label set, and ranks
again (:func:`hscanom.ml.rank.rank`, a new immutable ``ranking`` each round). After every
round (round 0 = before any label) it scores the ranking against the full truth:

* ``roc_auc`` and ``average_precision`` of relevance for interesting vs everything else;
* precision and recall in the top 1% (k = ceil(N_objects / 100)) and in the top N
  (N = the number of truly interesting objects);
* the number of artefacts in the top N.

The oracle and the scorer are kept apart: :class:`Oracle` indexes the truth file by
object_id only and parses a row's class the first time that object is asked about, so it
never reads the truth of an object it has not labelled (a test poisons every other row).
The scorer reads the whole truth (``truth``, by default the same file) only to compute the
figures after each round.

Stored: one ``evaluation`` row (``truth`` = ``oracle <path> sha256:<hex>``; ``params`` =
kind ``active_learning``, rounds, per_round, seed, the interesting and artefact classes, the
ranking ids, and per round every figure) and one ``evaluation_metric`` row per round with
``score`` = ``relevance_round<k>``, ``anomaly_class`` = ``interesting``, ``roc_auc`` and
``average_precision`` (the 3-sigma columns stay NULL: a ranking has no sigma), beside a row
for each unsupervised baseline (the prior, ``s_disc``, ``s_anom`` and ``s_gen`` alone; class ``interesting``).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from hscanom import db
from hscanom.checksum import sha256_file
from hscanom.ml import rank as ranking
from hscanom.ml.evaluate import header_names, object_id_field, read_csv_text, read_truth_csv

#: Classes of the paper that count as interesting, and the artefact classes (simulator names).
INTERESTING = ("merger_tidal", "blue_clumpy", "blue_core", "red_extended")
ARTEFACTS = ("streak", "bright_star", "empty_noise", "bad_deblend")
ROUND_COLUMNS = [
    "round", "n_labels", "n_interesting_labels", "ranking_id", "model", "roc_auc", "average_precision",
    "k_top1pct", "precision_top1pct", "recall_top1pct", "n_true", "precision_topN", "recall_topN", "artefacts_topN",
]


class OracleError(ValueError):
    """An oracle file that cannot answer (names the file, line and field)."""


class Oracle:
    """Answers "what is object X?" from a truth CSV, reading only the rows it is asked about.

    On opening, only the ``object_id`` field of each line is parsed (to find the line); a
    line's ``anomaly_class`` is parsed when that object is first asked about. ``asked``
    lists every object asked, in order.

    Raises (on opening): FileNotFoundError; OracleError for a missing column, a bad id or an
    id on two lines (file, line, field).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"oracle file {self.path} does not exist")
        self._text = read_csv_text(self.path, OracleError, "a CSV with object_id,anomaly_class").getvalue().splitlines()
        if not self._text:
            raise OracleError(f"{self.path}: line 1: empty file; expected a header with object_id,anomaly_class")
        header = header_names(next(csv.reader([self._text[0]])))
        for wanted in ("object_id", "anomaly_class"):
            if wanted not in header:
                raise OracleError(f"{self.path}: line 1: missing column {wanted!r} (header: {','.join(header)})")
        self._i_id, self._i_class = header.index("object_id"), header.index("anomaly_class")
        self._line_of: dict[int, int] = {}
        for number, text in enumerate(self._text[1:], start=2):
            if not text.strip():
                continue
            raw = next(csv.reader([text]))
            oid = object_id_field(raw[self._i_id] if self._i_id < len(raw) else "", self.path, number, OracleError)
            if oid in self._line_of:
                raise OracleError(f"{self.path}: line {number}: field object_id: object {oid} is also on line {self._line_of[oid]}")
            self._line_of[oid] = number
        self.asked: list[int] = []

    def __contains__(self, object_id: int) -> bool:
        return int(object_id) in self._line_of

    def label(self, object_id: int) -> str:
        """The class of ``object_id`` (``normal`` for a normal object).

        Raises:
            KeyError: the object is not in the file.
            OracleError: its row's class is empty or not a known class name.
        """
        oid = int(object_id)
        number = self._line_of[oid]
        self.asked.append(oid)
        raw = next(csv.reader([self._text[number - 1]]))
        value = raw[self._i_class].strip() if self._i_class < len(raw) else ""
        if not value or not value.replace("_", "").isalnum():
            raise OracleError(f"{self.path}: line {number}: field anomaly_class: {value!r} is not a class name")
        return "normal" if value.lower() == "normal" else value


@dataclass
class OracleResult:
    """What :func:`evaluate_oracle` stored: ``evaluation_id`` and one row per round (:data:`ROUND_COLUMNS`)."""

    evaluation_id: int
    run_id: int
    rounds: pd.DataFrame
    baseline: dict
    notes: list[str] = field(default_factory=list)
    baselines: dict[str, dict] = field(default_factory=dict)
    """Figures of each unsupervised ranking (the prior, ``s_disc``, ``s_anom`` and ``s_gen`` alone); ``baseline`` is s_disc's."""


def ranking_metrics(relevance: np.ndarray, object_ids: np.ndarray, classes: dict[int, str], interesting, artefacts) -> dict:
    """Figures of one ranking against the full truth (objects absent from it are left out).

    Args:
        relevance: (N,) higher = ranked earlier (ties: smaller object_id first).
        object_ids: int64 (N,).
        classes: object_id -> class.

    Returns:
        roc_auc, average_precision (interesting vs rest), k_top1pct, precision_top1pct,
        recall_top1pct, n_true, precision_topN, recall_topN, artefacts_topN.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    keep = np.array([int(o) in classes for o in object_ids])
    ids, rel = object_ids[keep], np.asarray(relevance, np.float64)[keep]
    cls = np.array([classes[int(o)] for o in ids], dtype=object)
    pos = np.isin(cls, list(interesting))
    art = np.isin(cls, list(artefacts))
    order = np.lexsort((ids, -rel))
    n_true = int(pos.sum())
    k1 = max(1, math.ceil(len(ids) / 100))
    out = {"roc_auc": None, "average_precision": None, "k_top1pct": k1, "n_true": n_true}
    if 0 < n_true < len(ids):
        out["roc_auc"] = float(roc_auc_score(pos, rel))
        out["average_precision"] = float(average_precision_score(pos, rel))
    top1, topn = order[:k1], order[: max(n_true, 1)]
    out["precision_top1pct"] = float(pos[top1].mean())
    out["recall_top1pct"] = float(pos[top1].sum() / n_true) if n_true else None
    out["precision_topN"] = float(pos[topn].mean()) if n_true else None
    out["recall_topN"] = out["precision_topN"]
    out["artefacts_topN"] = int(art[topn].sum()) if n_true else 0
    return out


def evaluate_oracle(
    url: str,
    run_id: int,
    oracle: str | Path,
    *,
    rounds: int = 3,
    per_round: int = 10,
    truth: str | Path | None = None,
    seed: int = 0,
    interesting: tuple[str, ...] = INTERESTING,
    artefacts: tuple[str, ...] = ARTEFACTS,
    prior_score: str | None = None,
) -> OracleResult:
    """Run the simulated-astronomer loop on a run and store its figures (module docstring).

    Args:
        oracle: truth CSV (``object_id``, ``anomaly_class``) the simulated person answers from.
        rounds: labelling rounds after the unsupervised ranking.
        per_round: objects labelled per round (the queue's first ``per_round``).
        truth: truth CSV the figures are computed against (default: ``oracle``).
        seed: seed of every ranking.

    Raises:
        LookupError: no such run. FileNotFoundError, OracleError, TruthError: bad files.
        RankError: an incomplete run; ValueError: rounds < 0 or per_round < 1.
    """
    if rounds < 0 or per_round < 1:
        raise ValueError(f"rounds must be >= 0 and per_round >= 1, got {rounds} and {per_round}")
    asker = Oracle(oracle)
    full = read_truth_csv(truth or oracle)
    with db.connect(url) as conn:
        feats = ranking.load_features(conn, run_id, prior_score=prior_score)
        unsupervised = {name: ranking.score_values(conn, run_id, name, feats.object_ids) for name in ("s_disc", "s_anom", "s_gen") if name != feats.prior_score}
    unsupervised = {name: values for name, values in unsupervised.items() if not np.isnan(values).all()}  # a DCAE run has no s_disc
    design = ranking.design_matrix(feats)
    source = f"oracle {asker.path.resolve()} sha256:{sha256_file(asker.path)}"
    known: dict[int, str] = {}
    rows, notes = [], []
    missing = int(sum(int(o) not in full.classes for o in feats.object_ids))
    if missing:
        notes.append(f"{missing:,} scored objects are not in the truth file and are left out of the figures")
    unknown = sorted(set(full.classes.values()) - {"normal", *interesting, *artefacts, *ranking.KNOWN_CLASSES})
    if unknown:
        notes.append(
            f"class(es) {', '.join(map(repr, unknown))} in {Path(truth or oracle)} are neither interesting nor artefacts "
            "(a typo?): those objects count as not interesting"
        )
    baselines = {feats.prior_score: ranking_metrics(feats.prior, feats.object_ids, full.classes, interesting, artefacts)}
    for name, values in unsupervised.items():
        baselines[name] = ranking_metrics(values, feats.object_ids, full.classes, interesting, artefacts)
    reference = "s_disc" if "s_disc" in baselines else feats.prior_score
    baseline = baselines[reference]
    fit_rel = feats.prior
    for r in range(rounds + 1):
        if r > 0:
            labelled = np.isin(feats.object_ids, np.fromiter(known.keys(), np.int64, len(known)))
            skip = labelled | ~np.isin(feats.object_ids, list(asker._line_of))
            for oid, _why in ranking.queue_from(feats, fit_rel, skip, per_round, design=design):
                known[oid] = asker.label(oid)
        result = ranking.rank(url, run_id, labels=dict(known), interesting=interesting, seed=seed, source=source, features=feats, design=design)
        with db.connect(url) as conn:
            stored = conn.execute(
                "SELECT object_id, relevance, uncertainty FROM ranking_score WHERE ranking_id = %s ORDER BY object_id", (result.ranking_id,)
            ).fetchall()
        fit_rel = np.array([s[1] for s in stored], np.float64)
        m = ranking_metrics(fit_rel, feats.object_ids, full.classes, interesting, artefacts)
        rows.append({"round": r, "n_labels": result.n_labels, "n_interesting_labels": result.n_interesting,
                     "ranking_id": result.ranking_id, "model": result.model, **m})
    table = pd.DataFrame(rows, columns=ROUND_COLUMNS)
    params = {
        "kind": "active_learning", "rounds": rounds, "per_round": per_round, "seed": seed,
        "interesting": list(interesting), "artefacts": list(artefacts), "prior_score": feats.prior_score,
        "truth_file": f"{Path(truth or oracle).resolve()}", "truth_sha256": full.digest,
        "asked": len(asker.asked), "per_round_figures": json.loads(table.to_json(orient="records")),
        "baseline": {"score": reference, **baseline},
        "baselines": baselines,
    }
    with db.connect(url) as conn, conn.transaction():
        evaluation_id = conn.execute(
            "INSERT INTO evaluation (run_id, truth, params) VALUES (%s, %s, %s::jsonb) RETURNING id", (run_id, source, json.dumps(params))
        ).fetchone()[0]
        n_obj = int(sum(int(o) in full.classes for o in feats.object_ids))
        metric_rows = list(baselines.items()) + [(f"relevance_round{row['round']}", row) for row in rows]
        for score, m in metric_rows:
            conn.execute(
                "INSERT INTO evaluation_metric (evaluation_id, run_id, score, anomaly_class, n_objects, n_positive, roc_auc, average_precision) "
                "VALUES (%s, %s, %s, 'interesting', %s, %s, %s, %s)",
                (evaluation_id, run_id, score, n_obj, m["n_true"], m["roc_auc"], m["average_precision"]),
            )
    return OracleResult(evaluation_id, run_id, table, {"score": reference, **baseline}, notes, baselines)


def active_learning_evaluations(conn: psycopg.Connection, run_id: int) -> list[tuple[int, dict]]:
    """(evaluation id, params) of a run's oracle evaluations, newest first."""
    rows = conn.execute(
        "SELECT id, params FROM evaluation WHERE run_id = %s AND params ->> 'kind' = 'active_learning' ORDER BY id DESC", (run_id,)
    ).fetchall()
    return [(r[0], r[1]) for r in rows]

