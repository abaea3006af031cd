"""``build_report``: the HTML page of one score run, with the paper's figures.

The folder it writes::

    <out_dir>/index.html                the page (relative links to the PNGs)
    <out_dir>/report.json               run id, seed, figures (file, pixel size), notes
    <out_dir>/real_generated.png        1. random reals beside WGAN samples
    <out_dir>/triplets_low.png, triplets_3sigma.png, triplets_5sigma.png
                                        2. real / reconstruction / residual per score bin
    <out_dir>/score_histograms.png, score_scatter.png
                                        3. score distributions [sigma]
    <out_dir>/metadata.png              4. metadata of the 3-sigma selections (paper Fig. 5)
    <out_dir>/umaps.png, clusters_umap.png, cluster_examples.png
                                        5. UMAPs and clusters (when characterised)
    <out_dir>/mask_fractions.png        7. bright-star-mask fractions (when masks exist)
    <out_dir>/ranking_rounds.png        8. labels re-rank the run (when an oracle evaluation exists)

(6., the evaluation, is an HTML table.) A figure whose data do not exist (an empty score
bin, no characterisation, no evaluation, no masks) is left out and the page says why.

The folder is built under a temporary name beside ``out_dir`` and renamed into place at the
end, so ``out_dir`` is either the previous report or the new one, never half of one. Only
a bounded number of images is read (at most :data:`MAX_IMAGES`), whatever the run's size.
The same database and ``seed`` give the same files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from hscanom import __version__, db
from hscanom.ingest.shards import ShardError
from hscanom.report import data, figures
from hscanom.report.data import SCORES, THRESHOLD_SIGMA, ReportError, RunSummary
from hscanom.report.page import Section, Shown, Table, write

#: Called after each step: (steps done, steps in all, what was just made).
Progress = Callable[[int, int, str], None]

#: Images shown per figure.
N_RANDOM = 16
N_PER_BIN = 6
N_CLUSTERS = 10
N_PER_CLUSTER = 6
#: The most images one report reads (reals, reconstructions and residuals counted once each).
MAX_IMAGES = N_RANDOM + 3 * 3 * N_PER_BIN + N_CLUSTERS * N_PER_CLUSTER

#: Score bins of the triplet figures: (file key, description, low, high) [sigma].
SCORE_BINS: tuple[tuple[str, str, float, float], ...] = (
    ("low", "well below the mean (below −1σ)", -np.inf, -1.0),
    ("3sigma", "about 3σ (2.5σ to 3.5σ)", 2.5, 3.5),
    ("5sigma", "above 5σ", 5.0, np.inf),
)

STEPS = ("summary", "real and generated images", "score bins", "score distributions", "metadata",
         "bright-star masks", "embeddings", "evaluation", "ranking", "page")

_SKIPPABLE = (ReportError, ShardError, FileNotFoundError, LookupError)


def _rng(seed: int, figure: int) -> np.random.Generator:
    """An independent generator per figure, so skipping one figure leaves the others alone."""
    return np.random.default_rng([seed, figure])


def _pick(ids: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` of ``ids`` at random (int64, in the order drawn)."""
    if len(ids) <= n:
        return np.asarray(ids, np.int64)
    return np.asarray(rng.choice(ids, size=n, replace=False), np.int64)


def _objects(n: int) -> str:
    return f"{n:,} object" + ("" if n == 1 else "s")


def _pct(k: int, n: int) -> str:
    return f"{k:,} ({100 * k / n:.2f}%)" if n else "0"


# -- sections ------------------------------------------------------------------------------
def _summary_section(s: RunSummary, scores: pd.DataFrame) -> Section:
    opt = s.params.get("optimizer") or {}
    rows = [
        ["score run", f"{s.run_id} (method {s.method}, status {s.status})"],
        ["created / finished", f"{s.created_at:%Y-%m-%d %H:%M} / {s.finished_at:%Y-%m-%d %H:%M}" if s.finished_at and s.created_at else str(s.created_at or "")],
        ["sample", f"{s.sample_name} (id {s.sample_id}): {s.n_members:,} members"],
        ["objects scored", f"{s.n_scored:,}" + (f" ({s.n_missing:,} members without packed images)" if s.n_missing else "")],
        ["model", f"{s.model_kind} model {s.model_id}" + (f", encoder model {s.encoder_id}" if s.encoder_id else "")],
        ["image size", f"{s.image_size} × {s.image_size} pixels, gri"],
        ["scoring", f"λ = {s.params.get('lambda_anom', '?')}, {s.params.get('iterations', '?')} {opt.get('name', '')} steps on z "
                    f"(learning rate {opt.get('learning_rate', '?')})" if s.method == "wgan" else json.dumps(s.params, sort_keys=True)],
    ]
    for score in SCORES:
        k = s.n_above.get(score)
        rows.append([f"{score} > {THRESHOLD_SIGMA:g}σ", "not computed by this method" if k is None else _pct(k, s.n_scored)])
    rows.append(["bright-star masks", f"version {s.mask_version}" if s.mask_version else "none ingested"])
    rows.append(["characterisation", ", ".join(f"{k} CAE model {v}" for k, v in sorted(s.embedding_models.items())) or "none"])
    config = Table(["setting", "value"], [[k, json.dumps(v)] for k, v in sorted(s.model_config.items())],
                   caption=f"Configuration of model {s.model_id} ({s.model_kind})", numeric={1})
    section = Section("summary", "Run summary", tables=[Table(["quantity", "value"], rows, caption=f"Score run {s.run_id}"), config])
    if s.status != "complete":
        section.notes.append(f"Run {s.run_id} is {s.status}: scores are normalised over the {s.n_scored:,} objects scored so far.")
    if len(scores) != s.n_scored:
        section.notes.append(f"{s.n_scored - len(scores):,} scored objects have no object_metadata row and are left out of the figures.")
    return section


def _real_generated_section(conn, s: RunSummary, scores: pd.DataFrame, out: Path, seed: int) -> Section:
    section = Section("images", "Real and generated images")
    rng = _rng(seed, 1)
    ids = _pick(scores["object_id"].to_numpy(), N_RANDOM, rng)
    try:
        reals = data.real_images(conn, s.run_id, np.sort(ids), s.image_size)
    except _SKIPPABLE as exc:
        section.notes.append(f"Real images could not be read: {exc}")
        return section
    generated, note = None, ""
    if s.model_kind == "wgan":
        try:
            generated = data.generated_images(conn, s.model_id, N_RANDOM, rng)
        except (*_SKIPPABLE, ValueError) as exc:
            note = f"WGAN model {s.model_id} could not be loaded: {exc}"
    else:
        note = f"a {s.model_kind} model generates no images from noise"
    if note:
        section.notes.append(f"No generated images: {note}.")
    fig = figures.real_and_generated(reals, generated, out / "real_generated.png", model_id=s.model_id, note=note)
    section.figures.append(Shown(
        fig,
        f"Left: {len(reals)} sample members drawn at random (seed {seed}), as the network sees them "
        f"({s.image_size} × {s.image_size} pixels, Lupton gri composite scaled to [0, 1]). "
        + (f"Right: images the generator of WGAN model {s.model_id} makes from random latent vectors z ~ N(0, 1). "
           "A well-trained generator's images are hard to tell from the real ones." if generated is not None else ""),
        "Grids of real and generated galaxy images",
    ))
    return section


def _bin_score(scores: pd.DataFrame) -> str:
    return "s_disc" if scores["s_disc_sigma"].notna().any() else "s_anom"


def _triplet_section(conn, s: RunSummary, scores: pd.DataFrame, out: Path, seed: int) -> Section:
    score = _bin_score(scores)
    section = Section(
        "triplets", "Reconstructions in score bins",
        intro=f"For objects drawn at random from three bins of {score} [σ]: the real image (top), "
              + ("the generator's best reconstruction after the latent optimisation" if s.method == "wgan" else f"the {s.method}'s reconstruction")
              + " (middle) and the residual |real − reconstruction| (bottom), all on the same [0, 1] scale. "
              "Each column is labelled with the object's s_disc and s_gen" + ("" if score in ("s_disc", "s_gen") else f" and {score}")
              + " in σ (n/a: not computed by this method).",
    )
    rng = _rng(seed, 2)
    sigma = scores[f"{score}_sigma"].to_numpy()
    for key, description, lo, hi in SCORE_BINS:
        in_bin = np.flatnonzero((sigma >= lo) & (sigma < hi))
        if in_bin.size == 0:
            section.notes.append(f"No object has {score} {description}: that bin is left out.")
            continue
        chosen = _pick(in_bin, N_PER_BIN, rng)
        chosen = chosen[np.argsort(sigma[chosen], kind="stable")]
        ids = scores["object_id"].to_numpy()[chosen]
        try:
            reals = data.real_images(conn, s.run_id, ids, s.image_size)
            results = data.result_images(conn, s.run_id, ids)
        except _SKIPPABLE as exc:
            section.notes.append(f"Bin {description}: images could not be read: {exc}")
            continue
        title = f"{figures.score_label(score)} {description}: {_objects(in_bin.size)}, {len(ids)} shown"
        shown = {name: scores[f"{name}_sigma"].to_numpy()[chosen] for name in dict.fromkeys(("s_disc", "s_gen", score))}
        fig = figures.triplets(title, reals, results["reconstructed"], results["residuals"], shown,
                               out / f"triplets_{key}.png", columns=N_PER_BIN)
        section.figures.append(Shown(
            fig, f"{len(ids)} of the {_objects(in_bin.size)} with {score} {description}, in increasing {score}.",
            f"Real, reconstructed and residual images of objects with {score} {description}",
        ))
    return section


def _distribution_section(scores: pd.DataFrame, out: Path, seed: int) -> Section:
    section = Section("scores", "Score distributions")
    section.figures.append(Shown(
        figures.score_histograms(scores, out / "score_histograms.png"),
        "Histograms of the normalised scores (s − mean) / std over the run [σ], with a logarithmic count axis. "
        "s_gen is the pixel term |x − G(z)|, s_disc the critic-feature term |d(x) − d(G(z))|, s_anom their weighted sum. "
        f"The dashed line is the {THRESHOLD_SIGMA:g}σ threshold of the high-anomaly selections; the box counts the objects above it.",
        "Histograms of s_gen, s_disc and s_anom in sigma",
    ))
    section.figures.append(Shown(
        figures.score_scatter(scores, out / "score_scatter.png", _rng(seed, 3)),
        "Discriminator score against generator score [σ] per object, coloured by the combined score s_anom [σ] "
        f"(colours saturate below −2σ and above 5σ; the highest s_anom is drawn on top). Dashed lines: {THRESHOLD_SIGMA:g}σ. "
        f"Beyond {figures.MAX_SCATTER_POINTS:,} objects a random subset is drawn, always with every object above {THRESHOLD_SIGMA:g}σ.",
        "Scatter plot of s_disc against s_gen coloured by s_anom",
    ))
    return section


def _metadata_section(scores: pd.DataFrame, out: Path) -> Section:
    section = Section("metadata", "Metadata of the high-anomaly selections")
    section.figures.append(Shown(
        figures.metadata_comparison(scores, out / "metadata.png"),
        "Normalised histograms (as the paper's Figure 5) of the full scored sample (grey) and of the objects above "
        f"{THRESHOLD_SIGMA:g}σ in each score (lines; counts in the legend): effective radius R_eff, the determinant radius of "
        "the i-band exponential CModel moments [arcsec]; ellipticity from the same moments; log10 of the i-band blendedness "
        "(values below 10^-5 in the first bin), with the blend cut 10^-0.375 of Mandelbaum et al. (2018) dashed; "
        "log10 of the i-band 3-arcsec aperture over CModel flux; g − r and r − i CModel colours [mag]. "
        "Each panel spans the 0.5th to 99.5th percentile of the full sample; values outside fall in the edge bins.",
        "Histograms of size, ellipticity, blendedness, aperture ratio and colours",
    ))
    if not any((scores[f"{sc}_sigma"] > THRESHOLD_SIGMA).any() for sc in SCORES):
        section.notes.append(f"No object is above {THRESHOLD_SIGMA:g}σ in any score: only the full sample is shown.")
    return section


def _mask_section(s: RunSummary, scores: pd.DataFrame, out: Path) -> Section:
    section = Section("masks", "Bright-star masks")
    if s.mask_version is None or scores["in_bright_star_mask"].isna().all():
        section.notes.append("No bright-star masks are ingested (run `hscanom ingest masks`), so the mask fractions are not shown.")
        return section
    fractions = figures.mask_fractions(scores)
    section.tables.append(Table(
        ["selection", "objects", "inside the mask", "fraction", "paper (HSC PDR2)"],
        [[f.label, f"{f.total:,}", f"{f.inside:,}", "—" if f.percent is None else f"{f.percent:.1f}%",
          f"{figures.PAPER_MASK_PERCENT[f.key]:g}%" if f.key in figures.PAPER_MASK_PERCENT else ""] for f in fractions],
        caption=f"Objects inside the bright-star mask (version {s.mask_version})", numeric={1, 2, 3, 4},
    ))
    section.figures.append(Shown(
        figures.mask_fraction_bars(fractions, out / "mask_fractions.png", mask_version=s.mask_version),
        f"Percentage of the full sample and of each {THRESHOLD_SIGMA:g}σ selection inside a region of the newest bright-star "
        f"mask version ({s.mask_version}). Hatched bars: Storey-Fisher et al. found 8.5% of the full sample but 44.6% of the "
        "s_disc 3σ sample inside the newer HSC masks: bright-star artefacts are a large part of what the WGAN finds.",
        "Bar chart of the fractions inside the bright-star mask",
    ))
    return section


def _embedding_section(conn, s: RunSummary, out: Path, seed: int) -> Section:
    section = Section("embeddings", "Embeddings and clusters")
    umaps = data.umap_coords(conn, s.run_id)
    model_id, clusters = data.residual_clusters(conn, s.run_id, "gmm")
    if not umaps and clusters.empty:
        section.notes.append(f"Run {s.run_id} is not characterised yet: run `hscanom characterize --run {s.run_id}` "
                             "to add the UMAPs and clusters.")
        return section
    characterised = data.characterised_sample(conn, s.run_id)
    n_mapped = max((len(f) for f in umaps.values()), default=len(clusters))
    which = (f"the {n_mapped:,} objects of sample {characterised}" if characterised else f"{n_mapped:,} objects") + \
        f" (of {s.n_scored:,} scored)"
    section.intro = (f"`hscanom characterize` embedded {which}: a convolutional autoencoder (CAE) maps each residual image, "
                     "and another each real image, to a latent vector; UMAP maps those vectors, and the flattened pixels "
                     "themselves, to two dimensions; a Gaussian mixture clusters the residual vectors.")
    if umaps:
        missing = [k for k in data.UMAP_KINDS if k not in umaps]
        if missing:
            section.notes.append(f"No UMAP of kind {', '.join(missing)} for this run.")
        section.figures.append(Shown(
            figures.umap_panels(umaps, out / "umaps.png", _rng(seed, 5)),
            "Two-dimensional UMAPs of the raw pixels, of the residual pixels, and of the convolutional autoencoder's "
            "latent vectors of the real images and of the residual images, each point an object coloured by s_disc [σ] "
            "(one colour scale over the 1st to 99th percentile, saturating beyond; where a panel mixes objects below and "
            f"above {THRESHOLD_SIGMA:g}σ, those above are ringed in red). UMAP axes have no units. Objects close together in "
            "a map look alike to what made it: pixels, residuals, or the autoencoder's features.",
            "Four UMAP scatter plots coloured by s_disc",
        ))
    if clusters.empty:
        section.notes.append("The residual embedding has no GMM cluster labels, so the cluster figures are not shown.")
        return section
    section.figures.append(Shown(
        figures.cluster_umap(clusters, out / "clusters_umap.png", model_id=model_id),
        f"The UMAP of the autoencoded residuals (CAE model {model_id}) coloured by Gaussian-mixture cluster; "
        "member counts in the legend.",
        "UMAP of the residual embedding coloured by cluster",
    ))
    rng = _rng(seed, 6)
    counts = clusters["label"].value_counts()
    labels = sorted(counts.index, key=lambda lab: (-counts[lab], lab))[:N_CLUSTERS]
    examples = []
    for label in sorted(labels):
        ids = np.sort(_pick(clusters.loc[clusters["label"] == label, "object_id"].to_numpy(), N_PER_CLUSTER, rng))
        try:
            examples.append((int(label), int(counts[label]), data.real_images(conn, s.run_id, ids, s.image_size)))
        except _SKIPPABLE as exc:
            section.notes.append(f"Cluster {label}: images could not be read: {exc}")
    if len(counts) > N_CLUSTERS:
        section.notes.append(f"{len(counts)} clusters: example images of the {N_CLUSTERS} largest are shown.")
    if examples:
        section.figures.append(Shown(
            figures.cluster_examples(examples, out / "cluster_examples.png", columns=N_PER_CLUSTER),
            f"Up to {N_PER_CLUSTER} members drawn at random from each cluster (real images); the row label gives the cluster "
            "and its size. Objects in one cluster have similar residuals: similar ways of not being reproduced by the WGAN.",
            "Example images of each cluster",
        ))
    return section


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def _evaluation_section(conn, s: RunSummary) -> Section:
    section = Section("evaluation", "Evaluation against ground truth")
    ev = data.newest_evaluation(conn, s.run_id)
    if ev is None:
        section.notes.append(f"Run {s.run_id} has no evaluation (no ground truth was compared): run "
                             f"`hscanom evaluate --run {s.run_id}` with a labels file or object labels.")
        return section
    m = ev.metrics
    rows = [[str(r.run_id), r.score, r.anomaly_class, _fmt(r.n_objects), _fmt(r.n_positive), _fmt(r.roc_auc),
             _fmt(r.average_precision), _fmt(r.recall_3sigma), _fmt(r.purity_3sigma), _fmt(r.frac_above_3sigma, 4)]
            for r in m.itertuples(index=False)]
    section.intro = (f"Evaluation {ev.id} ({ev.created_at:%Y-%m-%d %H:%M}) against {ev.truth}. "
                     "Positives are the objects of an anomaly class (or of any class, 'all'), negatives the normal objects. "
                     "ROC AUC and average precision rank objects by the score; recall is the fraction of positives above "
                     f"the threshold, purity the fraction of objects above it that are positives. Parameters: "
                     f"{json.dumps(ev.params, sort_keys=True)}.")
    if m.empty:
        section.notes.append(f"Evaluation {ev.id} has no metric rows.")
        return section
    _detector_tables(conn, section, m, s.run_id)
    section.tables.append(Table(
        ["run", "score", "class", "objects", "positives", "ROC AUC", "average precision", "recall > 3σ", "purity > 3σ", "fraction > 3σ"],
        rows, caption=f"Metrics of evaluation {ev.id}" + (" (this run's rows highlighted)" if m["run_id"].nunique() > 1 else ""),
        numeric=set(range(3, 10)), highlight={k for k, r in enumerate(m.itertuples(index=False)) if r.run_id == s.run_id and m["run_id"].nunique() > 1},
    ))
    return section


def _detector_tables(conn, section: Section, m: pd.DataFrame, run_id: int) -> None:
    """The detectors side by side (ROC AUC and AP per class and score of every compared run),
    and the paper's finding tested on this run (s_disc vs s_gen per class)."""
    from hscanom.ml.evaluate import paper_finding, paper_finding_summary, side_by_side

    methods = dict(conn.execute("SELECT id, method FROM score_run WHERE id = ANY(%s)", ([int(r) for r in m["run_id"].unique()],)).fetchall())
    table = m.assign(method=m["run_id"].map(methods))
    auc, ap = side_by_side(table, "roc_auc"), side_by_side(table, "average_precision")
    cols = list(auc.columns)
    rows = [[cls, *(f"{_fmt(auc.loc[cls, c])} / {_fmt(ap.loc[cls, c])}" for c in cols)] for cls in auc.index]
    section.tables.append(Table(
        ["class", *cols], rows, numeric=set(range(1, len(cols) + 1)),
        caption="The detectors side by side: ROC AUC / average precision per class (WGAN: s_gen pixel residual, s_disc critic "
                "features, s_anom their mix; DCAE: s_anom central-aperture residual, s_gen pixel MSE)",
    ))
    finding = paper_finding(table, run_id)
    if finding.empty:
        section.notes.append(paper_finding_summary(finding))
        return
    section.tables.append(Table(
        ["class", "paper's group", "AUC s_gen", "AUC s_disc", "s_disc − s_gen", "as in the paper"],
        [[r.anomaly_class, r.group, _fmt(r.s_gen), _fmt(r.s_disc), "—" if r.difference is None else f"{r.difference:+.3f}",
          "—" if r.as_paper is None else ("yes" if r.as_paper else "no")] for r in finding.itertuples(index=False)],
        numeric={2, 3, 4},
        caption="The paper's finding tested on run " + str(run_id) + ": s_disc should rank the interesting classes higher than "
                "s_gen does, s_gen the artefacts. " + paper_finding_summary(finding),
    ))


# -- the folder ----------------------------------------------------------------------------
def _check_out_dir(out_dir: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier report."""
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "report.json").exists())):
        raise ReportError(f"{out_dir} exists and is not an hscanom report folder; choose another --out")


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` folder to ``out_dir``, replacing a previous report there."""
    _check_out_dir(out_dir)
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old)
    else:
        tmp.rename(out_dir)


def build_report(url: str, run_id: int, out_dir: Path, *, seed: int = 0, progress: Progress | None = None) -> Path:
    """Write the report of score run ``run_id`` into ``out_dir``; returns ``out_dir/index.html``.

    Args:
        url: libpq URL of the database.
        seed: seed of every random choice (objects shown, latent vectors).
        progress: called after each of the :data:`STEPS` as ``progress("report", done, total)``
            (:class:`hscanom.progress.Progress`).

    Raises:
        ReportError: unknown run, a run without scores, or ``out_dir`` holding something else.
    """
    out_dir = Path(out_dir).resolve()
    _check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress("report", done, len(STEPS))

    try:
        with db.connect(url) as conn:
            conn.read_only = True
            s = data.run_summary(conn, run_id)
            scores = data.scored_objects(conn, run_id)
            sections = [_summary_section(s, scores)]
            step(STEPS[0])
            sections.append(_real_generated_section(conn, s, scores, tmp, seed))
            step(STEPS[1])
            sections.append(_triplet_section(conn, s, scores, tmp, seed))
            step(STEPS[2])
            sections.append(_distribution_section(scores, tmp, seed))
            step(STEPS[3])
            sections.append(_metadata_section(scores, tmp))
            step(STEPS[4])
            sections.append(_mask_section(s, scores, tmp))
            step(STEPS[5])
            sections.append(_embedding_section(conn, s, tmp, seed))
            step(STEPS[6])
            sections.append(_evaluation_section(conn, s))
            step(STEPS[7])
            from hscanom.report.ranking import ranking_section

            sections.append(ranking_section(conn, s.run_id, tmp))
            step(STEPS[8])
        manifest = {
            "run_id": s.run_id,
            "seed": seed,
            "hscanom_version": __version__,
            "figures": [{"section": sec.key, "file": f.figure.name, "width": f.figure.width, "height": f.figure.height}
                        for sec in sections for f in sec.figures],
            "notes": [{"section": sec.key, "note": n} for sec in sections for n in sec.notes],
        }
        (tmp / "report.json").write_text(json.dumps(manifest, indent=2) + "\n")
        write(tmp / "index.html", f"hscanom report: score run {s.run_id}",
              f"{s.method} model {s.model_id} on sample {s.sample_name}: {s.n_scored:,} objects scored, "
              f"status {s.status}; seed {seed}; hscanom {__version__}", sections)
        _replace_dir(tmp, out_dir)
        step(STEPS[9])
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "index.html"
