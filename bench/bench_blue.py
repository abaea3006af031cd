"""Why the blue classes rank below random: colour in the preprocessed images, and what a
colour-blind reconstruction does to a pixel-residual score (issue 15, item 3).

The WGAN's scores are residuals between an image x and a reconstruction r (s_gen = sum|x - r|;
s_disc compares critic features of x and r). This script needs no trained model: it measures,
on the exact preprocessed images the models see, how each anomaly class ranks against the
normal galaxies under stand-in reconstructions, so the cause can be separated from training:

* ``colour``: the central-aperture (radius 6 px) colour B/R of the Lupton image itself (is the
  class's colour still there after preprocessing? AUC 1 = every member bluer than every normal);
* ``grey rec``: r = Gaussian-smoothed (sigma 1.5 px) channel mean, copied into R, G and B: a
  reconstruction that keeps shape and brightness but no colour (the demo WGAN's grey blobs);
* ``normal-colour rec``: the same luminance times the mean colour of the normal galaxies in the
  aperture: a reconstruction that learned the colour of typical galaxies only;
* ``smooth rec``: x smoothed in each channel (keeps colour exactly; a perfect but blurry model).

For each stand-in it prints the ROC AUC of the residual L1 per anomaly class against the
normals, over the whole image (as s_gen) and in the central aperture (as the DCAE's score).

Usage::

    .venv/bin/python bench/bench_blue.py                         # simulates 400 objects (40% anomalies)
    .venv/bin/python bench/bench_blue.py --home /work/scratch/detect-seed1 --figures docs/images

With ``--home`` it reads the packed shards (``shards/paper-pdr2``) and ``simulation/labels.csv``
of an ``HSCANOM_HOME`` after ``hscanom demo`` (or the pipeline up to ``pack``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

APERTURE_RADIUS = 6.0


def aperture(size: int, radius: float = APERTURE_RADIUS) -> np.ndarray:
    """Boolean (size, size) mask of pixel centres within ``radius`` of ((size-1)/2, (size-1)/2)."""
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2.0
    return (xx - c) ** 2 + (yy - c) ** 2 <= radius**2


def load_home(home: Path, sample: str = "paper-pdr2") -> tuple[np.ndarray, np.ndarray]:
    """(images (N, S, S, 3) float32, classes (N,)) from the packed shards of an HSCANOM_HOME."""
    from hscanom.ingest.shards import iter_batches

    labels = _labels(home / "simulation" / "labels.csv")
    shards = sorted((home / "shards" / sample).glob("*.h5"))
    if not shards:
        raise SystemExit(f"{home}: no packed shards under shards/{sample} (run the pipeline up to pack first)")
    ids, images = zip(*iter_batches(shards, 1024))
    ids = np.concatenate(ids)
    return np.concatenate(images), np.array([labels.get(int(i), "unknown") for i in ids])


def load_sim(sim: Path, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed stamps centred on the catalog position, as packing makes them."""
    from hscanom.ingest.pack import read_stamp
    from hscanom.ml.preprocess import preprocess
    from hscanom.simulate.cutouts import cutout_filename

    labels = _labels(sim / "labels.csv")
    pos = {}
    with open(sim / "catalog.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            key = row.get("# object_id", row.get("object_id"))
            pos[int(key)] = (float(row["ra"]), float(row["dec"]))
    ids = sorted(labels)
    images = np.empty((len(ids), size, size, 3), np.float32)
    for k, oid in enumerate(ids):
        g, r, i = (read_stamp(str(sim / "cutouts" / cutout_filename(oid, b)), "IMAGE", None, *pos[oid], size) for b in "gri")
        images[k] = preprocess(g, r, i)
    return images, np.array([labels[i] for i in ids])


def _labels(path: Path) -> dict[int, str]:
    with open(path, newline="") as handle:
        return {int(row["object_id"]): row["anomaly_class"] for row in csv.DictReader(handle)}


def stand_ins(x: np.ndarray, normal: np.ndarray, ap: np.ndarray) -> dict[str, np.ndarray]:
    """The stand-in reconstructions of ``x`` (N, S, S, 3), see the module docstring."""
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(x, sigma=(0, 1.5, 1.5, 0))
    lum = smooth.mean(-1, keepdims=True)
    colour = x[normal][:, ap].mean((0, 1))
    colour = colour / colour.mean()
    return {
        "grey rec": np.repeat(lum, 3, axis=-1),
        "normal-colour rec": np.clip(lum * colour, 0, 1),
        "smooth rec": smooth,
    }


def auc_table(x: np.ndarray, classes: np.ndarray) -> tuple[dict[str, dict[str, float]], dict]:
    """{score name: {class: AUC vs normals}} and the stand-in arrays."""
    from sklearn.metrics import roc_auc_score

    normal = classes == "normal"
    ap = aperture(x.shape[1])
    recs = stand_ins(x, normal, ap)
    scores = {
        "colour B/R (aperture)": x[:, ap, 2].mean(1) / np.maximum(x[:, ap, 0].mean(1), 1e-3),
        "total light sum(x)": x.sum((1, 2, 3)),
    }
    for name, rec in recs.items():
        res = np.abs(x - rec)
        scores[f"{name}: sum|x-r| image"] = res.sum((1, 2, 3))
        scores[f"{name}: sum|x-r| aperture"] = res[:, ap].sum((1, 2))
    table = {}
    for name, s in scores.items():
        table[name] = {}
        for cls in sorted(set(classes) - {"normal", "unknown"}):
            keep = normal | (classes == cls)
            table[name][cls] = float(roc_auc_score(classes[keep] == cls, s[keep]))
    return table, {"recs": recs, "scores": scores, "ap": ap}


def colour_summary(x: np.ndarray, classes: np.ndarray) -> list[tuple[str, int, float, float, float]]:
    """Per class: (class, n, median aperture mean R, G, B)."""
    ap = aperture(x.shape[1])
    m = x[:, ap].mean(1)
    out = []
    for cls in ["normal", *sorted(set(classes) - {"normal", "unknown"})]:
        sel = classes == cls
        out.append((cls, int(sel.sum()), *np.median(m[sel], 0)))
    return out


def figures(x: np.ndarray, classes: np.ndarray, extra: dict, out: Path) -> list[Path]:
    """Two small PNGs: examples with their grey stand-in and residual; score distributions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hscanom.ml.preprocess import to_uint8

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    normal_idx = np.flatnonzero(classes == "normal")
    # a blue-cloud and a red-sequence normal (by aperture colour), and two of each blue class
    ap = extra["ap"]
    br = extra["scores"]["colour B/R (aperture)"]
    picks = [("normal (blue cloud)", normal_idx[np.argsort(np.abs(br[normal_idx] - np.quantile(br[normal_idx], 0.8)))[0]]),
             ("normal (red)", normal_idx[np.argsort(br[normal_idx])[len(normal_idx) // 20]])]
    for cls in ("blue_clumpy", "blue_core"):
        idx = np.flatnonzero(classes == cls)
        for k in rng.choice(idx, size=min(2, len(idx)), replace=False):
            picks.append((cls, k))
    grey, ncol = extra["recs"]["grey rec"], extra["recs"]["normal-colour rec"]
    crop = slice(24, 72)
    cols = ["image (Lupton RGB)", "grey stand-in r", "|x - r| (grey)", "|x - r| (normal colour)"]
    fig, axes = plt.subplots(len(picks), 4, figsize=(6.4, 1.65 * len(picks)), squeeze=False)
    for row, (label, k) in enumerate(picks):
        panels = [x[k], grey[k], np.clip(3 * np.abs(x[k] - grey[k]), 0, 1), np.clip(3 * np.abs(x[k] - ncol[k]), 0, 1)]
        for col, img in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(to_uint8(img[crop, crop]), origin="lower", interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(cols[col], fontsize=7)
            if col == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle("central 48x48 px; residuals x3; aperture r = 6 px", fontsize=7)
    fig.tight_layout()
    p1 = out / "blue_classes_stand_ins.png"
    fig.savefig(p1, dpi=90)
    plt.close(fig)

    names = ["colour B/R (aperture)", "grey rec: sum|x-r| aperture", "normal-colour rec: sum|x-r| aperture"]
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.2))
    for ax, name in zip(axes, names):
        s = extra["scores"][name]
        bins = np.linspace(np.quantile(s, 0.005), np.quantile(s, 0.995), 30)
        for cls, colr in (("normal", "0.5"), ("blue_clumpy", "tab:blue"), ("blue_core", "tab:cyan")):
            ax.hist(s[classes == cls], bins=bins, density=True, histtype="step", color=colr, label=cls)
        ax.set_title(name, fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    p2 = out / "blue_classes_distributions.png"
    fig.savefig(p2, dpi=90)
    plt.close(fig)
    return [p1, p2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an HSCANOM_HOME with packed shards and simulation/labels.csv")
    parser.add_argument("--sim", type=Path, help="a simulation directory (catalog.csv, labels.csv, cutouts/)")
    parser.add_argument("--objects", type=int, default=400, help="objects to simulate when neither --home nor --sim is given")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--figures", type=Path, help="write the two PNGs here")
    args = parser.parse_args(argv)

    if args.home:
        x, classes = load_home(args.home)
        source = f"packed shards of {args.home}"
    elif args.sim:
        x, classes = load_sim(args.sim)
        source = f"simulation {args.sim}"
    else:
        from hscanom.simulate import simulate

        tmp = tempfile.mkdtemp(prefix="hscanom-blue-")
        simulate(tmp, n=args.objects, anomaly_fraction=0.4, seed=args.seed)
        x, classes = load_sim(Path(tmp))
        source = f"a fresh simulation (n={args.objects}, 40% anomalies, seed {args.seed})"
    print(f"images: {source}: {len(x):,} ({(classes == 'normal').sum():,} normal)")
    print("\nmedian of the central-aperture (r = 6 px) mean per channel (R, G, B = i, r, g):")
    print(f"{'class':14s} {'n':>5s} {'R':>6s} {'G':>6s} {'B':>6s}")
    for cls, n, r, g, b in colour_summary(x, classes):
        print(f"{cls:14s} {n:5d} {r:6.3f} {g:6.3f} {b:6.3f}")
    table, extra = auc_table(x, classes)
    names = list(next(iter(table.values())))
    print("\nROC AUC against the normals (0.5 = random, < 0.5 = the class looks MORE normal than normals):")
    print(f"{'score':40s} " + " ".join(f"{c[:11]:>11s}" for c in names))
    for score, row in table.items():
        print(f"{score:40s} " + " ".join(f"{row[c]:11.3f}" for c in names))
    if args.figures:
        for p in figures(x, classes, extra, args.figures):
            print(f"wrote {p}")


if __name__ == "__main__":
    main()
