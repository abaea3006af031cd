"""``hscanom evaluate``: ROC AUC, average precision, recall and purity of score runs against ground truth."""

from __future__ import annotations

import math

import typer
from rich.table import Table

from hscanom import db
from hscanom.cli._common import console, plain, reported_errors


def _fmt(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def metrics_table(result) -> Table:
    """The Rich table of an :class:`hscanom.ml.evaluate.EvaluationResult` (one section per run and score)."""
    from rich import box

    t = result.threshold
    table = Table(
        title=f"evaluation {result.evaluation_id}: runs {', '.join(map(str, result.runs))}; recall, purity, frac of score_sigma > {t:g}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    table.add_column("run", no_wrap=True)
    table.add_column("score", no_wrap=True)
    table.add_column("class", overflow="fold")
    for name in ("n", "pos", "AUC", "AP", "recall", "purity", "frac"):
        table.add_column(name, justify="right", no_wrap=True)
    previous = None
    for r in result.table.itertuples(index=False):
        key = (r.run_id, r.score)
        if previous is not None and key != previous:
            table.add_section()
        previous = key
        table.add_row(plain("baseline" if r.method == "baseline" else f"{r.run_id} {r.method}"), plain(r.score), plain(r.anomaly_class), f"{r.n_objects:,}", f"{r.n_positive:,}",
                      *(_fmt(v) for v in (r.roc_auc, r.average_precision, r.recall, r.purity, r.frac_above)))
    return table


def evaluate(
    run: int = typer.Option(..., "--run", help="Id of the score run to evaluate."),
    truth: str = typer.Option(None, "--truth", help="CSV with object_id,anomaly_class ('normal' = negative; e.g. the simulator's labels.csv), or 'labels' for the object_label table."),
    compare: list[int] = typer.Option(None, "--compare", help="Other runs to evaluate beside it (repeatable; default: every other complete run on the same sample)."),
    threshold: float = typer.Option(3.0, "--threshold", help="Selection <score>_sigma > THRESHOLD for recall, purity and frac."),
    oracle: str = typer.Option(None, "--oracle", help="Simulated astronomer instead: a truth CSV (object_id,anomaly_class) that answers the labelling queue, round by round (docs/ranking.md)."),
    rounds: int = typer.Option(3, "--rounds", help="With --oracle: labelling rounds."),
    per_round: int = typer.Option(10, "--per-round", help="With --oracle: objects labelled per round."),
    seed: int = typer.Option(0, "--seed", help="With --oracle: seed of the rankings."),
    baselines: bool = typer.Option(False, "--baselines", help="Also measure two baselines on the run's objects (not stored): an isolation forest on a PCA of the pixels, and one on catalog colours, size and ellipticity."),
) -> None:
    """Measure how well each score of RUN (and the compared runs) finds known anomalies.

    Per run, score (s_gen, s_disc, s_anom) and anomaly class ('all' = every anomaly vs the
    normals; a class = that class vs the normals): ROC AUC and average precision of the raw
    score, and recall, purity and fraction of objects of the selection score_sigma >
    THRESHOLD. Stored in the evaluation and evaluation_metric tables.

    With --oracle: start from the unsupervised ranking, label the queue's --per-round objects
    from the oracle file each round, re-rank, and record per round the ROC AUC of interesting
    vs the rest, precision and recall in the top 1% and top N (N = truly interesting) and
    artefacts in the top N (--truth, if given, is the file the figures are computed against).

    Otherwise, after the metrics: the paper's finding tested on RUN (does s_disc rank the
    interesting classes above s_gen, and s_gen the artefacts?), and with --baselines two
    baselines measured the same way.
    """
    if oracle is not None:
        _oracle(run, oracle, truth, rounds, per_round, seed)
        return
    import pandas as pd

    with reported_errors(LookupError, FileNotFoundError, ValueError):
        from hscanom.ml.evaluate import evaluate as run_evaluation
        from hscanom.ml.evaluate import paper_finding, paper_finding_summary

        url = db.database_url()
        result = run_evaluation(url, run, truth=truth, compare=compare or None, threshold=threshold)
        extra = None
        if baselines:
            from hscanom.ml.baselines import evaluate_baselines

            extra = evaluate_baselines(url, run, truth, threshold=threshold)
    for note in result.notes:
        console.print(note, highlight=False)
    shown = result
    if extra is not None:
        import dataclasses

        shown = dataclasses.replace(result, table=pd.concat([result.table, extra], ignore_index=True))
    console.print(metrics_table(shown))
    finding = paper_finding(result.table, run)
    if not finding.empty:
        console.print(paper_finding_summary(finding), highlight=False)
    done = "the same as stored evaluation" if result.reused else "stored as evaluation"
    console.print(f"{done} {result.evaluation_id} (SELECT * FROM evaluation_metric WHERE evaluation_id = {result.evaluation_id})")


def _oracle(run: int, oracle: str, truth: str | None, rounds: int, per_round: int, seed: int) -> None:
    from rich import box

    with reported_errors(LookupError, FileNotFoundError, ValueError):
        from hscanom.ml.oracle import evaluate_oracle

        result = evaluate_oracle(db.database_url(), run, oracle, rounds=rounds, per_round=per_round, truth=truth, seed=seed)
    for note in result.notes:
        console.print(note, highlight=False)
    table = Table(title=f"evaluation {result.evaluation_id}: simulated astronomer on run {run} (interesting vs rest)",
                  box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    for name in ("ranking", "labels", "AUC", "AP", "P@1%", "R@1%", "P@N", "artefacts@N"):
        table.add_column(name, justify="right", no_wrap=True)
    b = result.baseline
    for name, m in sorted(result.baselines.items()):
        table.add_row(f"{name} alone (unsupervised)", "0", _fmt(m["roc_auc"]), _fmt(m["average_precision"]), _fmt(m["precision_top1pct"]),
                      _fmt(m["recall_top1pct"]), _fmt(m["precision_topN"]), str(m["artefacts_topN"]))
    for r in result.rounds.itertuples(index=False):
        table.add_row(f"round {r.round} (ranking {r.ranking_id}, {r.model})", f"{r.n_labels} ({r.n_interesting_labels} int.)", _fmt(r.roc_auc),
                      _fmt(r.average_precision), _fmt(r.precision_top1pct), _fmt(r.recall_top1pct), _fmt(r.precision_topN), str(r.artefacts_topN))
    console.print(table)
    console.print(f"N = {b['n_true']} truly interesting objects; top 1% = {b['k_top1pct']} objects. Stored as evaluation {result.evaluation_id}.")
