"""Benchmark: what the ranking features give with every object labelled (the supervised ceiling).

``bench/bench_rank.py`` measures what ``hscanom rank`` reaches with 30 labels. This script
estimates how far a ranker on the *same features* gets with ~4,000 labels: for each ``--home``
(an ``$HSCANOM_HOME`` where ``hscanom demo``, or ``bench/bench_detect.py`` followed by
``hscanom characterize --run R --all``, has scored a simulation and embedded every object), on
its newest complete WGAN run, it

1. builds the features :func:`hscanom.ml.rank.load_features` gives ``hscanom rank`` and the
   design :func:`hscanom.ml.rank.design_matrix` its Gaussian process sees;
2. labels every object from the simulator's ``labels.csv`` (interesting = merger_tidal,
   blue_clumpy, blue_core, red_extended; everything else not) and scores each object with
   two standard classifiers -- a random forest (500 trees, otherwise scikit-learn's defaults)
   and an RBF support-vector machine (scikit-learn's defaults; ranked by its decision
   function) -- trained in stratified ``--folds``-fold cross-validation, so each object is
   ranked by a model that saw the other objects' labels (~4,000 of 5,000 at 5 folds) and not
   its own; repeated over ``--repeats`` fold splits and averaged;
3. prints, for the design and for two feature groups (scores + metadata alone; the two CAE
   embeddings alone), ROC AUC and precision in the top N (N = truly interesting objects;
   :func:`hscanom.ml.oracle.ranking_metrics`, the figures the oracle loop reports), the
   classes in the top N, and the ratio to the unsupervised ``detectors`` prior (round 0 of the
   oracle loop) of the same run;
4. runs the oracle loop (:func:`hscanom.ml.oracle.evaluate_oracle`, ``--rounds`` x
   ``--per-round`` labels, as ``hscanom evaluate --oracle`` does) and prints its last round
   beside the **pinned ceiling**. The loop's ranking puts each object it labelled at relevance 1 (interesting)
   or 0 (not), so its precision in the top N already counts the interesting objects it found
   by labelling; the pinned ceiling gives the classifiers the same credit: the loop's
   labelled objects first (interesting) or last (not), every other object by its
   cross-validated score.

The pinned ceiling is an estimate, not a bound: the classifiers are not tuned, and one fold
split moves it by a few hundredths. A target near or above it is out of reach of a ranker
that learns from 30 labels on these features (docs/evaluation.md, "The ceiling of the
features"). Exit status 0: the script measures; it checks no target.

Time: about 4-5 min per home on 2 cores at ``--repeats 3`` (the random forest on the 128
embedding columns is the slow part).

Usage: ``python bench/bench_rank_ceiling.py [--home DIR ...] [--folds 5] [--repeats 3] [--rounds 3]
[--per-round 10]`` (no ``--home``: the demo's home, ``$HSCANOM_HOME`` else ``./.hscanom``).
Stores only what the oracle loop stores (an ``evaluation`` row; its rankings are reused when
identical ones exist, e.g. after ``bench/bench_rank.py``); starts the home's embedded database
server if it is stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import demo_homes, simulation_truth  # noqa: E402

import numpy as np

TARGET_PRECISION_N = 0.8


def _classifiers():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.svm import SVC

    # (make, cross_val_predict method): the SVM is ranked by its decision function (a ranking
    # needs no probability; SVC(probability=True) is deprecated in scikit-learn 1.9)
    return {"random forest": (lambda: RandomForestClassifier(500, random_state=0, n_jobs=-1), "predict_proba"),
            "RBF SVM": (lambda: SVC(random_state=0), "decision_function")}


def _scaled(x: np.ndarray) -> np.ndarray:
    """:func:`hscanom.ml.rank.robust_asinh` columns of unit variance (as in ``design_matrix``)."""
    from hscanom.ml.rank import robust_asinh

    z = robust_asinh(x)
    sd = z.std(axis=0)
    return z / np.where(sd > 0, sd, 1.0)


def bench_home(home: Path, folds: int, repeats: int, rounds: int, per_round: int) -> list[float]:
    """Print the ceiling table of one home; return the design's pinned-ceiling P@N per classifier."""
    os.environ["HSCANOM_HOME"] = str(home)
    os.environ.pop("HSCANOM_DATABASE_URL", None)
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from hscanom import db
    from hscanom.ml.evaluate import read_truth_csv
    from hscanom.ml.oracle import ARTEFACTS, INTERESTING, evaluate_oracle, ranking_metrics
    from hscanom.ml.rank import design_matrix, load_features, prior_relevance

    truth_path = simulation_truth(home)
    url = db.database_url()
    with db.connect(url) as conn:
        run = conn.execute("SELECT max(id) FROM score_run WHERE method = 'wgan' AND status = 'complete'").fetchone()[0]
        if run is None:
            raise SystemExit(f"{home}: no complete WGAN score run (run `hscanom demo` with HSCANOM_HOME={home} first)")
        feats = load_features(conn, run)
    if feats.embedded < 1.0:
        raise SystemExit(f"{home}: {1 - feats.embedded:.1%} of run {run}'s objects have no embedding: "
                         f"run `HSCANOM_HOME={home} hscanom characterize --run {run} --all` first")
    classes = read_truth_csv(truth_path).classes
    keep = np.array([int(o) in classes for o in feats.object_ids])
    ids = feats.object_ids[keep]
    cls = np.array([classes[int(o)] for o in ids], dtype=object)
    y = np.isin(cls, INTERESTING)
    n_true = int(y.sum())
    embedded = [i for i, n in enumerate(feats.names) if n.startswith(("residual_", "real_"))]
    plain = [i for i in range(len(feats.names)) if i not in embedded]
    design = design_matrix(feats)
    # the oracle loop itself (hscanom evaluate --oracle): its last round's labelled objects
    loop = evaluate_oracle(url, run, truth_path, rounds=rounds, per_round=per_round).rounds.iloc[-1]
    with db.connect(url) as conn:
        asked = conn.execute("SELECT object_id FROM ranking_score WHERE ranking_id = %s AND labelled", (int(loop.ranking_id),)).fetchall()
    labelled = np.isin(ids, np.array([r[0] for r in asked], np.int64))
    answer = labelled & y
    groups = {
        f"design ({design.shape[1]} columns, what the GP sees)": design[keep],
        f"scores + metadata ({len(plain)})": _scaled(feats.x[keep][:, plain]),
        f"CAE embeddings alone ({len(embedded)})": _scaled(feats.x[keep][:, embedded]),
    }
    prior = ranking_metrics(prior_relevance(feats.prior)[keep], ids, classes, INTERESTING, ARTEFACTS)
    w = max(14, 6 * repeats)
    print(f"\n== {home} (run {run}, {len(ids):,} objects, N = {n_true} truly interesting; "
          f"{folds}-fold CV x {repeats} splits, every object labelled)")
    print(f"   {'features':<44} {'classifier':<14} {'AUC':>6} {'P@N':>6}  {'P@N per split':<{w}} {'vs prior':>8}  top N (last split)")
    print(f"   {'unsupervised prior: ' + feats.prior_score:<44} {'-':<14} {prior['roc_auc']:>6.3f} {prior['precision_topN']:>6.3f}  "
          f"{'':<{w}} {'1.00x':>8}")
    print(f"   {f'oracle loop, {int(labelled.sum())} labels ({int(answer.sum())} interesting)':<44} {'GP (rank)':<14} {loop.roc_auc:>6.3f} "
          f"{loop.precision_topN:>6.3f}  {'':<{w}} {loop.precision_topN / prior['precision_topN']:>7.2f}x")
    design_pn = []
    for group, x in groups.items():
        for name, (make, method) in _classifiers().items():
            started = time.perf_counter()
            aucs, pns, pinned = [], [], []
            for split in range(repeats):
                cv = StratifiedKFold(folds, shuffle=True, random_state=split)
                p = cross_val_predict(make(), x, y, cv=cv, method=method)
                p = prior_relevance(p[:, 1] if p.ndim == 2 else p)  # percentile rank in [0, 1]
                m = ranking_metrics(p, ids, classes, INTERESTING, ARTEFACTS)
                aucs.append(m["roc_auc"])
                pns.append(m["precision_topN"])
                # scores are percentile ranks in [0, 1]: labelled interesting -> 1.5, labelled not -> -0.5
                pinned.append(ranking_metrics(np.where(labelled, 2.0 * answer - 0.5, p), ids, classes, INTERESTING, ARTEFACTS)["precision_topN"])
            top = Counter(cls[np.lexsort((ids, -p))[:n_true]])
            pn = float(np.mean(pns))
            print(f"   {group:<44} {name:<14} {np.mean(aucs):>6.3f} {pn:>6.3f}  {' '.join(f'{v:.3f}' for v in pns):<{w}} "
                  f"{pn / prior['precision_topN']:>7.2f}x  {', '.join(f'{c} {k}' for c, k in top.most_common())}"
                  f"  ({time.perf_counter() - started:.0f} s)", flush=True)
            if group.startswith("design"):
                design_pn.append(float(np.mean(pinned)))
                print(f"   {'  pinned: + the loop labels':<44} {name:<14} {'':>6} {design_pn[-1]:>6.3f}  "
                      f"{' '.join(f'{v:.3f}' for v in pinned):<{w}} {design_pn[-1] / prior['precision_topN']:>7.2f}x", flush=True)
    return design_pn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, action="append", help="an HSCANOM_HOME with a scored, characterised simulation (repeatable; default: $HSCANOM_HOME, else ./.hscanom, where make demo ran)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5: each model sees 80%% of the labels)")
    parser.add_argument("--repeats", type=int, default=3, help="fold splits to average over (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="oracle-loop rounds whose labels are pinned (default 3)")
    parser.add_argument("--per-round", type=int, default=10, help="labels per round (default 10)")
    args = parser.parse_args(argv)
    if args.folds < 2 or args.repeats < 1 or args.rounds < 0 or args.per_round < 1:
        parser.error("--folds must be >= 2, --repeats >= 1, --rounds >= 0 and --per-round >= 1")
    best = {}
    for home in demo_homes(args.home):
        best[home] = max(bench_home(home, args.folds, args.repeats, args.rounds, args.per_round))
    print(f"\npinned ceiling per home (precision in the top N on the design, the better of the two classifiers); "
          f"the target after {args.rounds * args.per_round} labels is >= {TARGET_PRECISION_N}:")
    for home, pn in best.items():
        print(f"   {home}: {pn:.3f}{'' if pn >= TARGET_PRECISION_N else '  (below the target even with the other objects labelled)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
