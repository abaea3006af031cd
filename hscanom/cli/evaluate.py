"""``hscanom evaluate``: ROC AUC, average precision, recall and purity of score runs against ground truth."""

from __future__ import annotations

import math

import typer
from rich.table import Table

from hscanom import db
from hscanom.cli._common import console, reported_errors


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
        table.add_row("baseline" if r.method == "baseline" else f"{r.run_id} {r.method}", r.score, r.anomaly_class, f"{r.n_objects:,}", f"{r.n_positive:,}",
                      *(_fmt(v) for v in (r.roc_auc, r.average_precision, r.recall, r.purity, r.frac_above)))
    return table


def evaluate(
    run: int = typer.Option(..., "--run", help="Id of the score run to evaluate."),
    truth: str = typer.Option(None, "--truth", help="CSV with object_id,anomaly_class ('normal' = negative; e.g. the simulator's labels.csv), or 'labels' for the object_label table."),
    compare: list[int] = typer.Option(None, "--compare", help="Other runs to evaluate beside it (repeatable; default: every other complete run on the same sample)."),
    threshold: float = typer.Option(3.0, "--threshold", help="Selection <score>_sigma > THRESHOLD for recall, purity and frac."),
    baselines: bool = typer.Option(False, "--baselines", help="Also measure two baselines on the run's objects (not stored): an isolation forest on a PCA of the pixels, and one on catalog colours, size and ellipticity."),
) -> None:
    """Measure how well each score of RUN (and the compared runs) finds known anomalies.

    Per run, score (s_gen, s_disc, s_anom) and anomaly class ('all' = every anomaly vs the
    normals; a class = that class vs the normals): ROC AUC and average precision of the raw
    score, and recall, purity and fraction of objects of the selection score_sigma >
    THRESHOLD. Stored in the evaluation and evaluation_metric tables.

    Then: the paper's finding tested on RUN (does s_disc rank the interesting classes above
    s_gen, and s_gen the artefacts?), and with --baselines two baselines measured the same way.
    """
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
