"""Benchmark: a few labels vs the unsupervised s_disc ranking (the simulated astronomer).

For each ``--home`` (an ``$HSCANOM_HOME`` where ``hscanom demo`` has scored and characterised
a simulation, e.g. ``HSCANOM_HOME=/tmp/seed2 hscanom demo --seed 2``), on its newest complete
WGAN run:

1. embeds every scored object (``hscanom characterize --all``; nothing to do if done);
2. runs :func:`hscanom.ml.oracle.evaluate_oracle` with the simulator's ``labels.csv``:
   ``--rounds`` rounds of ``--per-round`` labels from the queue, starting from the
   unsupervised ranking (round 0: the default prior, WGAN s_gen + DCAE s_anom); the
   rankings by s_disc, s_anom and s_gen alone are measured in the same call (the baselines);
3. prints per round ROC AUC (interesting vs rest), average precision, precision and recall
   in the top 1% and top N (N = truly interesting objects), artefacts in the top N, and the
   ratio of the last round to the s_disc baseline, then checks the issue's targets
   (ROC AUC >= 0.95 and precision in the top N >= 0.8 after the last round).

Each run adds an ``evaluation`` row and one ``ranking`` per round to that home's database.

Usage: ``python bench/bench_rank.py [--home DIR ...] [--rounds 3] [--per-round 10] [--seed 0]``
(no ``--home``: the demo's home, ``$HSCANOM_HOME`` else ``./.hscanom``).
Exit status 1 when a target is missed (the figures are printed either way).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import demo_homes, simulation_truth  # noqa: E402

TARGET_AUC = 0.95
TARGET_PRECISION_N = 0.8


def _f(v, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _ratio(a, b) -> str:
    return "-" if a is None or b in (None, 0) else f"{a / b:.2f}x"


def bench_home(home: Path, rounds: int, per_round: int, seed: int) -> bool:
    truth = simulation_truth(home)
    os.environ["HSCANOM_HOME"] = str(home)
    os.environ.pop("HSCANOM_DATABASE_URL", None)
    import psycopg

    from hscanom import db
    from hscanom.ml.characterize import CharacterizeError, embed_all
    from hscanom.ml.oracle import evaluate_oracle

    url = db.database_url()
    db.upgrade(url)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(id) FROM score_run WHERE method = 'wgan' AND status = 'complete'").fetchone()
    if row[0] is None:
        raise SystemExit(f"{home}: no complete WGAN score run (run `hscanom demo` with HSCANOM_HOME={home} first)")
    run = row[0]
    started = time.perf_counter()
    try:
        every = embed_all(url, run)
    except CharacterizeError as exc:
        raise SystemExit(f"{home}: {exc}") from None
    embedded_s = time.perf_counter() - started
    started = time.perf_counter()
    result = evaluate_oracle(url, run, truth, rounds=rounds, per_round=per_round, seed=seed)
    loop_s = time.perf_counter() - started
    b, t = result.baseline, result.rounds
    print(f"\n== {home} (run {run}, {every.n_scored:,} objects; embedded now {sum(every.written.values()):,} rows in "
          f"{embedded_s:.0f} s; {rounds} rounds x {per_round} labels in {loop_s:.0f} s; evaluation {result.evaluation_id})")
    print(f"   N = {b['n_true']} truly interesting objects, top 1% = {b['k_top1pct']} objects")
    head = f"   {'ranking':<34} {'labels':>7} {'AUC':>6} {'AP':>6} {'P@1%':>6} {'R@1%':>6} {'P@N':>6} {'art@N':>6}"
    print(head)
    for name, m in sorted(result.baselines.items()):
        print(f"   {name + ' alone (unsupervised)':<34} {0:>7} {_f(m['roc_auc']):>6} {_f(m['average_precision']):>6} "
              f"{_f(m['precision_top1pct']):>6} {_f(m['recall_top1pct']):>6} {_f(m['precision_topN']):>6} {m['artefacts_topN']:>6}")
    for r in t.itertuples(index=False):
        print(f"   {f'round {r.round} ({r.model})':<34} {r.n_labels:>7} {_f(r.roc_auc):>6} {_f(r.average_precision):>6} "
              f"{_f(r.precision_top1pct):>6} {_f(r.recall_top1pct):>6} {_f(r.precision_topN):>6} {r.artefacts_topN:>6}")
    last = t.iloc[-1]
    print(f"   ratio last round / s_disc: AUC {_ratio(last.roc_auc, b['roc_auc'])}, AP {_ratio(last.average_precision, b['average_precision'])}, "
          f"P@N {_ratio(last.precision_topN, b['precision_topN'])}, P@1% {_ratio(last.precision_top1pct, b['precision_top1pct'])}")
    ok = last.roc_auc is not None and last.roc_auc >= TARGET_AUC and last.precision_topN is not None and last.precision_topN >= TARGET_PRECISION_N
    print(f"   targets (AUC >= {TARGET_AUC}, P@N >= {TARGET_PRECISION_N}): {'met' if ok else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", action="append", type=Path, help="an HSCANOM_HOME with a scored demo run (repeatable; default: $HSCANOM_HOME, else ./.hscanom, where make demo ran)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = [bench_home(h, args.rounds, args.per_round, args.seed) for h in demo_homes(args.home)]
    print(f"\n{sum(results)} of {len(results)} homes meet the targets")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
