"""``hscanom rank`` and ``hscanom rank queue``: relevance learnt from labels (active learning)."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from hscanom import db
from hscanom.cli._common import console, reported_errors

_ERRORS = (LookupError, FileNotFoundError, ValueError)

app = typer.Typer(
    help="Rank a run's objects by relevance learnt from labels; list what to label next.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _classes(value: str | None) -> tuple[str, ...]:
    from hscanom.ml.rank import INTERESTING_CLASSES

    if not value:
        return INTERESTING_CLASSES
    out = tuple(v.strip() for v in value.split(",") if v.strip())
    if not out:
        raise typer.BadParameter("give at least one class, e.g. --interesting merger,blue_core")
    return out


@app.callback()
def rank(
    ctx: typer.Context,
    run: int = typer.Option(None, "--run", help="Id of the (complete) score run to rank (required without a command)."),
    labels: str = typer.Option("labels", "--labels", help="'labels' (object_label, the newest label of each object) or a CSV with object_id and label (or anomaly_class)."),
    interesting: str = typer.Option(None, "--interesting", help="Comma-separated label classes that count as interesting (default: merger, tidal_feature, merger_tidal, star_forming_clump, blue_clumpy, blue_core, red_extended)."),
    seed: int = typer.Option(0, "--seed", help="Seed recorded with the ranking (the fit is deterministic: same labels = same ranking)."),
    prior: str = typer.Option("detectors", "--prior", help="Unsupervised score the ranking starts from: detectors (default: the WGAN run's s_gen, its best score, averaged in rank with the DCAE's s_anom when the sample has a DCAE run), s_anom, s_disc or s_gen."),
) -> None:
    """Fit relevance on the labelled objects and write a new, immutable ranking of every scored object.

    relevance = w * mu + (1 - w) * u: u = percentile rank of the unsupervised score, mu = a
    Gaussian process regression of the labels (1 interesting, 0 not) on scores, metadata and
    embeddings (0.5 far from every label), w = n / (n + 10) for n labels. With no labels the
    ranking is the unsupervised order. Stored in the ranking and ranking_score tables
    (docs/ranking.md).
    """
    if ctx.invoked_subcommand is not None:
        return
    if run is None:
        console.print(ctx.get_help())
        console.print("error: missing option --run (the score run to rank), or a command (queue)", highlight=False)
        raise typer.Exit(2)
    with reported_errors(*_ERRORS):
        from hscanom.ml.rank import rank as run_rank

        result = run_rank(db.database_url(), run, labels=labels, interesting=_classes(interesting), seed=seed, prior_score=prior)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    verb = "the same as stored ranking" if result.reused else "stored as ranking"
    console.print(
        f"run {result.run_id}: {result.n_objects:,} objects ranked from {result.n_labels:,} label{'' if result.n_labels == 1 else 's'} "
        f"({result.n_interesting:,} interesting), model {result.model}; {verb} {result.ranking_id}"
    )
    console.print(f"next: hscanom rank queue --run {run} --ranking {result.ranking_id}   |   hscanom sql run top-ranked -p ranking_id={result.ranking_id}")


@app.command("queue")
def queue(
    run: int = typer.Option(..., "--run", help="Id of the score run."),
    n: int = typer.Option(20, "-n", help="Objects to list."),
    ranking: int = typer.Option(None, "--ranking", help="Ranking id (default: the run's newest)."),
) -> None:
    """List the objects whose labels would help most: a batch that mixes the most relevant
    unlabelled objects with anomalous ones unlike anything labelled (GP-BUCB, docs/ranking.md)."""
    with reported_errors(*_ERRORS):
        from hscanom.ml.rank import queue as next_objects

        rows = next_objects(db.database_url(), run, n, ranking_id=ranking)
    if not rows:
        console.print("nothing left to label")
        return
    table = Table(title=f"label next (run {run}, ranking {rows[0]['ranking_id']})", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    for name in ("#", "object_id", "why", "rank", "relevance", "uncertainty", "prior u"):
        table.add_column(name, justify="right" if name != "why" else "left", no_wrap=True)
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), str(r["object_id"]), r["why"], str(r["rank"]), f"{r['relevance']:.3f}", f"{r['uncertainty']:.3f}",
                      f"{r['prior']:.3f}")
    console.print(table)
