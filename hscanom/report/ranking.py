"""The report's active-learning section: what a few labels did to the ranking of a run.

Reads the run's newest oracle evaluation (``hscanom evaluate --oracle``, ``evaluation.params``
kind ``active_learning``) and draws, per labelling round, the ROC AUC of interesting vs the
rest, the precision in the top 1% and in the top N (N = truly interesting objects), and the
artefacts in the top N, beside the unsupervised s_disc ranking.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from hscanom.report.figures import FigureFile, _figure, _save
from hscanom.report.page import Section, Shown, Table


def _f(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def rounds_figure(per_round: list[dict], baseline: dict, path: Path) -> FigureFile:
    """Two panels over the labelling rounds (0 = no labels): AUC, P@1%, P@N (left) and
    artefacts in the top N (right); dashed lines = the unsupervised baseline score."""
    rounds = [r["round"] for r in per_round]
    labels = [r["n_labels"] for r in per_round]
    with _figure(8.0, 3.2) as fig:
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        for key, name, colour in (("roc_auc", "ROC AUC", "C0"), ("precision_topN", "precision, top N", "C1"),
                                  ("precision_top1pct", "precision, top 1%", "C2")):
            values = [r[key] if r[key] is not None else float("nan") for r in per_round]
            left.plot(rounds, values, "o-", color=colour, label=name)
            if baseline.get(key) is not None:
                left.axhline(baseline[key], color=colour, ls="--", lw=1)
        left.set_ylim(0, 1.02)
        left.set_xticks(rounds, [f"{r}\n({n} labels)" for r, n in zip(rounds, labels)])
        left.set_xlabel("round")
        left.set_title(f"interesting vs rest (dashed: unsupervised {baseline.get('score', 's_disc')})", fontsize=9)
        left.legend(fontsize=8, loc="lower right")
        right.bar(rounds, [r["artefacts_topN"] for r in per_round], color="C3")
        right.axhline(baseline.get("artefacts_topN", 0), color="C3", ls="--", lw=1)
        right.set_xticks(rounds)
        right.set_xlabel("round")
        right.set_title("artefacts in the top N", fontsize=9)
        fig.tight_layout()
        return _save(fig, path)


def ranking_section(conn: psycopg.Connection, run_id: int, out: Path) -> Section:
    """The section (a note saying how to make one when the run has no oracle evaluation)."""
    section = Section("ranking", "Labels re-rank the run (active learning, simulated astronomer)")
    row = conn.execute(
        "SELECT id, truth, params, created_at FROM evaluation WHERE run_id = %s AND params ->> 'kind' = 'active_learning' "
        "ORDER BY id DESC LIMIT 1", (run_id,)
    ).fetchone()
    if row is None:
        section.notes.append(f"Run {run_id} has no simulated-astronomer evaluation: run "
                             f"`hscanom evaluate --run {run_id} --oracle TRUTH.csv --rounds 3 --per-round 10`.")
        return section
    ev_id, truth, params, created = row
    per_round, base = params["per_round_figures"], params["baseline"]
    section.intro = (
        f"Evaluation {ev_id} ({created:%Y-%m-%d %H:%M}): starting from the unsupervised ranking, a simulated astronomer "
        f"labels the {params['per_round']} objects of the labelling queue per round from the truth file ({truth}), and "
        f"`hscanom rank` re-ranks every object after each round. Interesting = {', '.join(params['interesting'])}; "
        f"artefacts = {', '.join(params['artefacts'])}. N = {base['n_true']} truly interesting objects; the top 1% is "
        f"{base['k_top1pct']} objects. See docs/ranking.md."
    )
    fig = rounds_figure(per_round, base, out / "ranking_rounds.png")
    section.figures.append(Shown(fig, "Per labelling round: ROC AUC of relevance (interesting vs rest), precision in the top 1% "
                                      "and in the top N, and artefacts in the top N. Dashed: the unsupervised score's ranking.",
                                 "active-learning figures per round"))
    rows = [[f"{base['score']} (unsupervised)", "0", _f(base["roc_auc"]), _f(base["average_precision"]), _f(base["precision_top1pct"]),
             _f(base["recall_top1pct"]), _f(base["precision_topN"]), _f(base["artefacts_topN"])]]
    rows += [[f"round {r['round']} (ranking {r['ranking_id']}, {r['model']})", f"{r['n_labels']} ({r['n_interesting_labels']} interesting)",
              _f(r["roc_auc"]), _f(r["average_precision"]), _f(r["precision_top1pct"]), _f(r["recall_top1pct"]),
              _f(r["precision_topN"]), _f(r["artefacts_topN"])] for r in per_round]
    section.tables.append(Table(["ranking", "labels", "ROC AUC", "average precision", "precision top 1%", "recall top 1%",
                                 "precision top N", "artefacts top N"], rows, caption=f"Evaluation {ev_id}", numeric=set(range(2, 8)),
                                highlight={len(rows) - 1}))
    return section
