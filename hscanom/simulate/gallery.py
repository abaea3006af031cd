"""Picture a simulated dataset: a labelled grid of gri cutouts through the shared preprocessing."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from hscanom.imaging import preprocess, to_uint8
from hscanom.simulate.cutouts import cutout_filename


def read_labels(sim_dir: Path) -> dict[int, str]:
    """``labels.csv`` of a simulation as ``{object_id: anomaly_class}``."""
    with open(Path(sim_dir) / "labels.csv", newline="") as handle:
        return {int(row["object_id"]): row["anomaly_class"] for row in csv.DictReader(handle)}


def load_gri(sim_dir: Path, object_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The g, r, i ``IMAGE`` arrays (counts, float32, 128x128) of one simulated object."""
    out = []
    for band in ("g", "r", "i"):
        with fits.open(Path(sim_dir) / "cutouts" / cutout_filename(object_id, band)) as hdul:
            out.append(np.asarray(hdul["IMAGE"].data))
    return out[0], out[1], out[2]


def pick_examples(labels: dict[int, str], classes: Sequence[str], per_class: int = 1) -> list[tuple[int, str]]:
    """Up to ``per_class`` object ids of each class, in ``classes`` order."""
    out = []
    for name in classes:
        ids = [oid for oid, c in labels.items() if c == name][:per_class]
        out += [(oid, name) for oid in ids]
    return out


def gallery(sim_dir: Path, path: Path, examples: Sequence[tuple[int, str]], *, ncols: int = 3, dpi: int = 110) -> None:
    """Write a PNG grid of the gri cutouts of ``examples`` (``(object_id, label)`` pairs).

    Each panel is ``to_uint8(preprocess(g, r, i))`` of the full cutout, titled with the label.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nrows = int(np.ceil(len(examples) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 3.45 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (object_id, label) in zip(axes.ravel(), examples):
        rgb = to_uint8(preprocess(*load_gri(sim_dir, object_id)))
        ax.imshow(rgb, origin="lower", interpolation="nearest")
        ax.set_title(f"{label}\n{object_id}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
