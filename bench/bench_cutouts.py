"""Benchmark: cutout ingest (files/s) and packing (images/s) with 1 and 2 worker processes.

Prints, for N objects with g, r, i HSC-like FITS cutouts (112 x 112 pixels, IMAGE/MASK/
VARIANCE, TAN WCS, every file distinct, written by ``tests/fitsfactory.py``):

* ``ingest_cutouts`` throughput (files/s) with ``workers=1`` and ``workers=2``, and the ratio;
* ``pack_sample`` throughput (images/s, 96 x 96) with ``workers=1`` and ``workers=2``, and the ratio;
* the load average of the machine before and after each measurement (the machine may be
  shared: the ratio is only as good as the cores that were free);
* a projection for the paper's sample (942,782 objects x 3 files) on 16 cores:
  ``time = work / (rate_1 x 16 x e)``, with ``e = ratio_2 / 2`` the parallel efficiency
  measured here at 2 workers, assumed to hold at 16 (optimistic: the single database writer
  and the disk are not modelled).

Both worker counts run on the same files from the page cache, on a fresh set of rows each
(the previous run's rows are deleted), in this one run: the ratio is measured side by side.

Usage: ``python bench/bench_cutouts.py [--n 1000]``. Uses ``HSCANOM_DATABASE_URL`` when set,
else a throwaway embedded cluster (fsync off).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from _common import database, store_sample  # noqa: E402
from fitsfactory import PIXEL_SCALE, write_object_cutouts  # noqa: E402

from hscanom.ingest.cutouts import ingest_cutouts  # noqa: E402
from hscanom.ingest.pack import pack_sample  # noqa: E402

BASE_ID = 43_158_176_442_000_000
PAPER_OBJECTS = 942_782
CORES = 16


def _populate(url: str, folder: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for k in range(n):
        oid = BASE_ID + k
        ra, dec = 150.0 + k * 0.002, 2.0 + rng.uniform(-0.5, 0.5)
        off = rng.uniform(-8, 8, 2) * PIXEL_SCALE / 3600
        write_object_cutouts(folder / f"{k // 500:03d}", oid, ra=ra + off[0], dec=dec + off[1], blob=(ra, dec), shape=(112, 112),
                             seed=k, flux=float(rng.uniform(100, 2000)), sigma_pix=float(rng.uniform(1.5, 5)))
        rows.append((oid, ra, dec))
    store_sample(url, rows)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _clear(url: str, what: str) -> None:
    with psycopg.connect(url) as conn:
        if what == "cutouts":
            conn.execute("DELETE FROM ingest_reject; DELETE FROM cutout; DELETE FROM ingest_batch WHERE kind = 'cutouts'")
        else:
            conn.execute("DELETE FROM image_shard WHERE kind = 'packed'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="objects (3 files each)")
    args = parser.parse_args()
    n, n_files = args.n, 3 * args.n
    print(f"machine: {os.cpu_count()} cores; load average (1/5/15 min) at start {_load()}")
    results: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench_cutouts_") as tmp, database() as url:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        _populate(url, tmp / "cutouts", n)
        for p in (tmp / "cutouts").rglob("*.fits"):
            p.read_bytes()  # page cache
        print(f"setup: {n} objects x 3 bands = {n_files} distinct FITS files in {time.perf_counter() - t0:.1f} s")
        for workers in (1, 2):
            _clear(url, "cutouts")
            before = _load()
            t0 = time.perf_counter()
            report = ingest_cutouts(tmp / "cutouts", url=url, workers=workers)
            s = time.perf_counter() - t0
            assert report.stored == n_files and not report.rejects, (report.stored, report.rejects[:3])
            results[("ingest", workers)] = n_files / s
            print(f"ingest, {workers} worker(s): {n_files / s:8.1f} files/s ({s:.1f} s); load before {before}, after {_load()}")
        for workers in (1, 2):
            _clear(url, "shards")
            out = tmp / f"shards-{workers}"
            before = _load()
            t0 = time.perf_counter()
            report = pack_sample("bench", size=96, out=out, url=url, workers=workers)
            s = time.perf_counter() - t0
            assert report.packed == n and not report.skipped, (report.packed, report.skipped[:3])
            results[("pack", workers)] = n / s
            print(f"pack,   {workers} worker(s): {n / s:8.1f} images/s ({s:.1f} s); load before {before}, after {_load()}")
            shutil.rmtree(out)
    print()
    for stage, unit, work in (("ingest", "files", 3 * PAPER_OBJECTS), ("pack", "images", PAPER_OBJECTS)):
        r1, r2 = results[(stage, 1)], results[(stage, 2)]
        ratio = r2 / r1
        eff = ratio / 2
        hours = work / (r1 * CORES * eff) / 3600
        print(
            f"{stage}: 2 workers / 1 worker = {ratio:.2f}x (goal >= 1.7x); projection for the paper sample "
            f"({work:,} {unit}) on {CORES} cores at {eff:.0%} efficiency: {hours:.2f} h (1 worker here: {work / r1 / 3600:.1f} h)"
        )


if __name__ == "__main__":
    main()
