"""Detection benchmark: every hscanom detector and two baselines on one seeded simulation.

Runs the main job's stages (:mod:`hscanom.pipeline`: simulate, ingest, sample, pack, train the
WGAN and encoder, score, train and score the DCAE) in an ``HSCANOM_HOME`` -- reusing whatever
an earlier run left there, so a repeat costs seconds -- then measures, against the
simulator's injected truth (``simulation/labels.csv``), in the same run:

* the WGAN run's ``s_gen``, ``s_disc``, ``s_anom`` (Storey-Fisher et al.);
* ``wgan s_ap``: sum over the central aperture (radius 6 px) and channels of the WGAN run's
  stored |residual| (derived here from the result shards; not a stored score);
* the DCAE run's ``s_anom`` (Tanaka et al. central-aperture score) and ``s_gen`` (pixel MSE);
* ``pixel_pca_iforest``: an isolation forest on 32 principal components of the packed pixels
  (binned 2x2), and ``catalog_iforest``: an isolation forest on g-r, r-i, r_eff and
  ellipticity from ``object_metadata`` (:mod:`hscanom.ml.baselines`).

It prints one table -- ROC AUC and average precision per anomaly class and overall -- then
the reconstruction fidelity on the normal objects (per RGB channel: median and interquartile
range of reconstructed / real flux in the central aperture of radius 6 px), and the paper's
finding (does s_disc rank the interesting classes above s_gen, and s_gen the artefacts?).

Usage::

    .venv/bin/python bench/bench_detect.py                                   # seed 1, demo size, ./.hscanom-bench/seed-1
    .venv/bin/python bench/bench_detect.py --seed 2 --home /work/scratch/detect-seed2
    .venv/bin/python bench/bench_detect.py --objects 300 --anomaly-fraction 0.1 --preset test --image-size 32

The database is ``HSCANOM_DATABASE_URL`` when set, else the embedded cluster of ``--home``.
``--out DIR`` also writes ``scores.csv``, ``metrics.csv``, ``fidelity.csv``, ``summary.json``
and ``score_ranks.png`` (per class, the percentile rank of its objects in each score).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHUNK = 512


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1, help="simulation and training seed (the demo's is 1)")
    p.add_argument("--objects", type=int, default=5000, help="simulated galaxies passing the sample cuts (the demo's 5,000)")
    p.add_argument("--anomaly-fraction", type=float, default=0.02, help="fraction with an injected anomaly (the demo's 0.02)")
    p.add_argument("--preset", default="demo", help="WGAN preset (demo, test, paper)")
    p.add_argument("--dcae-preset", default="auto", help="DCAE preset (default: the one named like --preset); 'none' skips the DCAE")
    p.add_argument("--image-size", type=int, default=96, help="packed image side [pixels]")
    p.add_argument("--score-batch", type=int, default=256, help="objects per scoring batch")
    p.add_argument("--home", type=Path, help="HSCANOM_HOME to run in or reuse (default: $HSCANOM_HOME, else ./.hscanom-bench/seed-N)")
    p.add_argument("--train", action="store_true", help="train the WGAN and encoder from scratch instead of installing the shipped demo model")
    p.add_argument("--baselines-only", action="store_true", help="stop the pipeline after packing and measure the two baselines only (no training)")
    p.add_argument("--out", type=Path, help="also write scores.csv, metrics.csv, fidelity.csv, summary.json, score_ranks.png here")
    return p


# -- the detectors ---------------------------------------------------------------------------
def _run_scores(url: str, run_id: int) -> pd.DataFrame:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT object_id, s_gen, s_disc, s_anom FROM anomaly_score WHERE run_id = %s", (run_id,)).fetchall()
    frame = pd.DataFrame(rows, columns=["object_id", "s_gen", "s_disc", "s_anom"])
    frame["object_id"] = frame["object_id"].astype(np.int64)
    return frame.set_index("object_id").astype(np.float64)


def _reconstruction_pass(url: str, run_id: int, ids: np.ndarray, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(aperture flux ratios (N, 3), aperture |residual| sums (N,)) of a run, in ``ids`` order."""
    import psycopg

    from hscanom.ml.evaluate import FIDELITY_APERTURE_RADIUS, aperture_flux_ratios, central_aperture
    from hscanom.report.data import real_images, result_images

    ap = central_aperture(image_size, FIDELITY_APERTURE_RADIUS)
    ratios, s_ap = np.empty((len(ids), 3)), np.empty(len(ids))
    with psycopg.connect(url) as conn:
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            real = real_images(conn, run_id, part, image_size)
            res = result_images(conn, run_id, part)
            ratios[start : start + len(part)] = aperture_flux_ratios(real, res["reconstructed"])
            s_ap[start : start + len(part)] = res["residuals"][:, ap].sum((1, 2))
    return ratios, s_ap


def _metrics(frame: pd.DataFrame, detectors: list[str]) -> pd.DataFrame:
    """Rows (detector, anomaly_class, n_objects, n_positive, roc_auc, average_precision)."""
    from hscanom.ml.evaluate import ALL, NORMAL, selection_metrics

    classes = sorted(c for c in frame["anomaly_class"].unique() if c != NORMAL)
    rows = []
    for det in detectors:
        have = frame[frame[det].notna()]
        normal = (have["anomaly_class"] == NORMAL).to_numpy()
        for cls in [ALL, *classes]:
            keep = np.ones(len(have), bool) if cls == ALL else normal | (have["anomaly_class"] == cls).to_numpy()
            sub = have[keep]
            s = sub[det].to_numpy(np.float64)
            sigma = (s - s.mean()) / s.std() if s.std() > 0 else np.zeros_like(s)
            m = selection_metrics((sub["anomaly_class"] != NORMAL).to_numpy(), s, sigma, 3.0)
            rows.append({"detector": det, "anomaly_class": cls, "n_objects": m["n_objects"], "n_positive": m["n_positive"],
                         "roc_auc": m["roc_auc"], "average_precision": m["average_precision"]})
    return pd.DataFrame(rows)


def _fmt(v) -> str:
    return "   —  " if v is None or not np.isfinite(v) else f"{v:6.3f}"


def print_table(metrics: pd.DataFrame, counts: dict[str, int]) -> None:
    classes = list(dict.fromkeys(metrics["anomaly_class"]))
    width = max(len(d) for d in metrics["detector"]) + 2
    head = "".join(f"{c[:12]:>13s}" for c in classes)
    print(f"{'detector':{width}s}{'':4s}{head}")
    print(f"{'(positives)':{width}s}{'':4s}" + "".join(f"{counts.get(c, 0):>13,d}" for c in classes))
    for det, sub in metrics.groupby("detector", sort=False):
        by = sub.set_index("anomaly_class")
        for key, label in (("roc_auc", "AUC"), ("average_precision", "AP")):
            name = det if label == "AUC" else ""
            print(f"{name:{width}s}{label:>4s}" + "".join(f"{_fmt(by.loc[c, key]):>13s}" for c in classes))


def rank_figure(frame: pd.DataFrame, detectors: list[str], path: Path) -> None:
    """Per class and detector, the percentile ranks (0 = most normal, 100 = most anomalous) of
    the class's objects among all scored objects: the score distributions as a strip plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = sorted(c for c in frame["anomaly_class"].unique() if c != "normal")
    fig, axes = plt.subplots(1, len(detectors), figsize=(1.6 * len(detectors) + 1.2, 0.32 * len(classes) + 1.0), sharey=True, squeeze=False)
    for ax, det in zip(axes[0], detectors):
        pct = frame[det].rank(pct=True) * 100
        for k, cls in enumerate(classes):
            v = pct[frame["anomaly_class"] == cls].dropna()
            ax.scatter(v, np.full(len(v), k) + np.random.default_rng(k).uniform(-0.2, 0.2, len(v)), s=4, alpha=0.7)
        ax.axvline(50, color="0.6", lw=0.6)
        ax.set_title(det, fontsize=6)
        ax.set_xlim(0, 100)
        ax.tick_params(labelsize=6)
    axes[0][0].set_yticks(range(len(classes)), classes, fontsize=6)
    fig.supxlabel("percentile rank among all objects (100 = most anomalous)", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    args = _parser().parse_args(argv)
    home = (args.home or Path(os.environ.get("HSCANOM_HOME") or f".hscanom-bench/seed-{args.seed}")).resolve()
    os.environ["HSCANOM_HOME"] = str(home)
    from hscanom import db, pipeline
    from hscanom.ml import baselines
    from hscanom.ml.evaluate import fidelity_summary, paper_finding, paper_finding_summary, read_truth_csv

    url = db.database_url()
    db.upgrade(url)
    dcae_preset = None if args.dcae_preset.lower() == "none" else args.dcae_preset
    cfg = pipeline.PipelineConfig(home=home, n_objects=args.objects, anomaly_fraction=args.anomaly_fraction, seed=args.seed,
                                  wgan_preset=args.preset, image_size=args.image_size, score_batch=args.score_batch, dcae_preset=dcae_preset)
    if args.train:
        if not hasattr(cfg, "use_shipped"):
            raise SystemExit("--train: this version of the pipeline has no shipped model; it always trains")
        cfg.use_shipped = False
    shipped = getattr(cfg, "use_shipped", False)
    print(f"bench_detect: seed {args.seed}, {args.objects:,} objects, {args.anomaly_fraction:g} anomalies, WGAN preset {args.preset} "
          f"({'shipped model if it is the preset' if shipped else 'trained here'}), "
          f"DCAE preset {dcae_preset}, {args.image_size} px, home {home}")
    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def report(stage: str, message: str) -> None:
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - clock[0]
        print(f"  {stage:>9s} {message} ({now - clock[0]:.0f} s)", flush=True)
        clock[0] = now

    state = pipeline.run(cfg, url, report=report, until="pack" if args.baselines_only else "dcae")
    truth = read_truth_csv(cfg.sim_dir / "labels.csv")

    frame = pd.DataFrame({"anomaly_class": pd.Series(truth.classes)})
    frame.index = frame.index.astype(np.int64)
    frame.index.name = "object_id"
    detectors: list[str] = []
    ratios: dict[str, pd.DataFrame] = {}
    t0 = time.perf_counter()
    if state.run_id is not None:
        wgan = _run_scores(url, state.run_id)
        ids = wgan.index.to_numpy(np.int64)
        frame = frame.loc[frame.index.intersection(wgan.index)]
        for col in ("s_gen", "s_disc", "s_anom"):
            frame[f"wgan {col}"] = wgan[col]
        wgan_ratios, wgan_ap = _reconstruction_pass(url, state.run_id, ids, cfg.image_size)
        frame["wgan s_ap"] = pd.Series(wgan_ap, index=ids)
        detectors += ["wgan s_gen", "wgan s_disc", "wgan s_anom", "wgan s_ap"]
        ratios["wgan"] = pd.DataFrame(wgan_ratios, index=ids)
    dcae_run = state.extra.get("dcae_run_id")
    if dcae_run is not None:
        dc = _run_scores(url, dcae_run)
        frame["dcae s_anom"], frame["dcae s_gen"] = dc["s_anom"], dc["s_gen"]
        detectors += ["dcae s_anom", "dcae s_gen"]
        dcae_ids = dc.index.to_numpy(np.int64)
        ratios["dcae"] = pd.DataFrame(_reconstruction_pass(url, dcae_run, dcae_ids, cfg.image_size)[0], index=dcae_ids)
    timings["reconstructions"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pix_ids, images = baselines.sample_images(url, state.sample, cfg.image_size)
    frame["pixel_pca_iforest"] = pd.Series(baselines.pixel_pca_iforest(images, seed=args.seed), index=pix_ids)
    del images
    timings["pixel_pca_iforest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    import psycopg

    with psycopg.connect(url) as conn:
        feats = baselines.catalog_features(conn, pix_ids)
    frame["catalog_iforest"] = pd.Series(baselines.catalog_iforest(feats, seed=args.seed), index=pix_ids)
    timings["catalog_iforest"] = time.perf_counter() - t0
    detectors += ["pixel_pca_iforest", "catalog_iforest"]
    frame = frame[frame["pixel_pca_iforest"].notna()]

    metrics = _metrics(frame, detectors)
    counts = frame["anomaly_class"].value_counts().to_dict()
    counts["all"] = int((frame["anomaly_class"] != "normal").sum())
    print(f"\nROC AUC and average precision against the injected truth ({len(frame):,} objects, {counts['all']:,} anomalies):")
    print_table(metrics, counts)

    normal_ids = frame.index[frame["anomaly_class"] == "normal"]
    fidelity = []
    if ratios:
        print("\nreconstruction fidelity on normal objects: reconstructed / real flux in the central aperture (radius 6 px)")
        print(f"{'detector':10s} {'channel':>7s} {'n':>6s} {'median':>7s} {'q25':>7s} {'q75':>7s} {'IQR':>7s}  median in [0.9, 1.1]")
    for det, r in ratios.items():
        summ = fidelity_summary(r.loc[r.index.intersection(normal_ids)].to_numpy())
        for row in summ.itertuples(index=False):
            ok = "yes" if 0.9 <= row.median <= 1.1 else "NO"
            print(f"{det:10s} {row.channel:>7s} {row.n:6,d} {row.median:7.3f} {row.q25:7.3f} {row.q75:7.3f} {row.iqr:7.3f}  {ok}")
            fidelity.append({"detector": det, **row._asdict()})

    finding = pd.DataFrame()
    if state.run_id is not None:
        table = metrics.rename(columns={"detector": "score"}).assign(run_id=state.run_id, method="wgan")
        table = table[table["score"].isin(["wgan s_gen", "wgan s_disc"])].assign(score=lambda t: t["score"].str.replace("wgan ", ""))
        finding = paper_finding(table, state.run_id)
        print("\nthe paper's finding (ROC AUC of s_disc vs s_gen per class):")
        for r in finding.itertuples(index=False):
            print(f"  {r.group:11s} {r.anomaly_class:13s} s_gen {_fmt(r.s_gen)}  s_disc {_fmt(r.s_disc)}  s_disc - s_gen {r.difference:+.3f}  "
                  f"{'as the paper' if r.as_paper else 'NOT as the paper'}")
        print("  " + paper_finding_summary(finding))

        best = metrics[(metrics["anomaly_class"] == "all")].set_index("detector")["roc_auc"]
        wgan_best = max(best[d] for d in detectors if d.startswith("wgan") and d != "wgan s_ap")
        print(f"\nbest WGAN score overall AUC {wgan_best:.3f}; ratios to the baselines: pixel_pca_iforest "
              f"{wgan_best / best['pixel_pca_iforest']:.2f}x, catalog_iforest {wgan_best / best['catalog_iforest']:.2f}x")
    print("timings [s]: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))

    summary = {"seed": args.seed, "objects": args.objects, "anomaly_fraction": args.anomaly_fraction, "preset": args.preset,
               "dcae_preset": dcae_preset, "image_size": args.image_size, "home": str(home), "wgan_run": state.run_id,
               "dcae_run": dcae_run, "timings_s": timings, "metrics": metrics.to_dict("records"), "fidelity": fidelity,
               "paper_finding": finding.to_dict("records")}
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out / "scores.csv")
        metrics.to_csv(args.out / "metrics.csv", index=False)
        pd.DataFrame(fidelity).to_csv(args.out / "fidelity.csv", index=False)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
        rank_figure(frame, detectors, args.out / "score_ranks.png")
        print(f"wrote {args.out}/scores.csv, metrics.csv, fidelity.csv, summary.json, score_ranks.png")
    return summary


if __name__ == "__main__":
    main()
