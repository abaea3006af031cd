"""``hscanom characterize`` and ``hscanom similar``: residual embeddings, maps, clusters, neighbours."""

from __future__ import annotations

from contextlib import ExitStack

import typer
from rich import box
from rich.table import Table

from hscanom import db
from hscanom.cli._common import console, progress_bar, reported_errors
from hscanom.config import Settings

_ERRORS = (LookupError, FileNotFoundError, ValueError)


class _StageBars:
    """Adapts ``progress(stage, step, total, info)``: a bar per CAE training, a line per other step."""

    def __init__(self, stack: ExitStack):
        stack.callback(self._close_bar)
        self.stage: str | None = None
        self.bar: ExitStack | None = None
        self.advance = None

    def _close_bar(self) -> None:
        if self.bar:
            self.bar.close()
            self.bar = None

    def __call__(self, stage: str, step: int, total: int, info: dict) -> None:
        if not stage.startswith("CAE"):
            self._close_bar()
            self.stage = None
            console.print(f"{stage}: {', '.join(str(v) for v in info.values())}")
            return
        if stage != self.stage:
            self._close_bar()
            self.bar = ExitStack()
            self.advance = self.bar.enter_context(progress_bar(f"train {stage}", total))
            self.stage = stage
        self.advance(1, "  ".join(f"{k} {v:.3g}" for k, v in info.items()))


def characterize(
    run: int = typer.Option(..., "--run", help="Id of the (complete) score run."),
    sample: str = typer.Option(None, "--sample", help="Sample to characterise (default: the run's run<ID>-disc3sigma)."),
    gmm_components: int = typer.Option(8, "--gmm-components", help="Gaussian-mixture components (at most objects / 2)."),
    seed: int = typer.Option(0, help="Seed of the autoencoders, UMAP and the mixture."),
    max_epochs: int = typer.Option(50, "--max-epochs", help="Cap on autoencoder epochs (training stops when the held-out loss stops improving)."),
    all_objects: bool = typer.Option(False, "--all", help="Then embed EVERY scored object of the run with the same two CAEs (for hscanom rank); batched, resumable."),
) -> None:
    """Embed a run's high-anomaly objects: CAEs on residual and real images -> embedding, UMAP, clusters.

    Writes embedding (64-d, kinds residual/real), umap_coord (residual, real, pixels,
    residual_pixels) and cluster_label (gmm, hdbscan on the residual embedding). A second
    call with the same settings reuses the models and writes nothing. With --all, every
    other scored object of the run gets its two embedding rows too (1,024 objects per
    transaction; a killed call resumes where it stopped).
    """
    with reported_errors(*_ERRORS):
        from hscanom.ml.characterize import characterize as run_characterize

        url = db.database_url()
        with ExitStack() as stack:
            result = run_characterize(
                url, run, home=Settings.from_env().home, sample=sample, gmm_components=gmm_components,
                seed=seed, max_epochs=max_epochs, progress=_StageBars(stack),
            )
    console.print(
        f"run {result.run_id}, sample {result.sample}: {result.n_objects:,} objects characterised"
        + (f", {len(result.skipped):,} members skipped (not scored in the run)" if result.skipped else "")
    )
    console.print(
        f"CAE models: residual {result.residual_model_id}, real {result.real_model_id}"
        + (f" (trained now: {', '.join(result.trained)})" if result.trained else " (reused)")
    )
    if result.written:
        console.print("rows written: " + ", ".join(f"{k} {v:,}" for k, v in result.written.items()))
    else:
        console.print("nothing to do: every table was filled already")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    if all_objects:
        with reported_errors(*_ERRORS):
            from hscanom.ml.characterize import embed_all

            every = embed_all(url, run)
        console.print(
            f"--all: {every.n_scored:,} scored objects; embedded now: "
            + ", ".join(f"{k} {every.written[k]:,} (had {every.before[k]:,})" for k in every.models)
        )


def _fmt(value, digits: int = 2) -> str:
    """A table cell: floats with ``digits`` decimals, missing values (None, NaN, NA) as '-'."""
    import pandas as pd

    if value is None or pd.isna(value):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def similar(
    object_id: int = typer.Argument(..., help="HSC object_id."),
    k: int = typer.Option(20, "-k", "--k", help="Rows to list (the object itself included)."),
    run: int = typer.Option(None, "--run", help="Score run (default: the newest run with an embedding of the object)."),
    kind: str = typer.Option("residual", "--kind", help="Embedding space: residual or real."),
) -> None:
    """List the objects nearest to OBJECT_ID in a run's embedding space, with scores and metadata."""
    with reported_errors(*_ERRORS):
        from hscanom.ml.characterize import similar as find_similar

        frame = find_similar(db.database_url(), object_id, run_id=run, k=k, kind=kind)
    table = Table(
        title=f"objects like {object_id} (run {frame.attrs['run_id']}, {kind} embedding)", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False,
        caption="distance: Euclidean, in the 64-d embedding; s_disc, s_gen in sigma; r_eff in arcsec; cluster: GMM/HDBSCAN label (-1 noise)",
    )
    id_width = max([len("object_id"), *(len(str(v)) for v in frame["object_id"])])
    for name in ("rank", "object_id", "distance", "s_disc", "s_gen", "r_eff", "g-r", "cluster"):
        table.add_column(name, justify="right", no_wrap=True, min_width=id_width if name == "object_id" else None)
    for r in frame.itertuples(index=False):
        table.add_row(
            str(r.rank), str(r.object_id), _fmt(r.distance, 3), _fmt(r.s_disc_sigma), _fmt(r.s_gen_sigma),
            _fmt(r.r_eff_arcsec), _fmt(r.g_r), f"{_fmt(r.gmm_label)}/{_fmt(r.hdbscan_label)}",
        )
    console.print(table)
