"""Benchmark: packing cutouts into HDF5 shards vs. just reading the same FITS files.

Prints, for N objects (default 20,000) with g, r, i FITS cutouts:

* packing throughput (images/s) of ``hscanom.ingest.pack.pack_sample`` (read + sha256 check
  + WCS + Cutout2D + preprocessing + compressed HDF5 writes + database registration);
* the baseline, measured in the same run on the same files: reading every object's three
  ``IMAGE`` arrays into memory with astropy, writing nothing (images/s);
* their ratio, and the peak RSS of each (each runs in its own child process; its peak RSS
  from ``os.wait4``, i.e. getrusage of that one child). Goal: packing 20,000 objects under 1 GB.

The data: ``--distinct`` objects (default 500) get their own HSC-like FITS files (112 x 112
pixels, IMAGE/MASK/VARIANCE, TAN WCS, written by ``tests/fitsfactory.py``); the N objects
point at hard links of those files (one path per object and band, like a real cutout
folder, without N x 3 x 150 kB of disk). Both measurements read through the same page
cache, so the ratio compares the work done per image, not the disk.

Usage: ``python bench/bench_pack.py [--n 20000] [--distinct 500]``. Uses
``HSCANOM_DATABASE_URL`` when set, else a throwaway embedded cluster (fsync off).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from _common import store_sample  # noqa: E402
from fitsfactory import PIXEL_SCALE, write_object_cutouts  # noqa: E402

from hscanom import db  # noqa: E402
from hscanom.embedded import EmbeddedCluster  # noqa: E402

BASE_ID = 43_158_176_442_000_000  # real 17-digit range, > 2**53
FILE_SHAPE = (112, 112)

READ_ONLY = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from astropy.io import fits
    paths = open(sys.argv[1]).read().split()
    t0 = time.perf_counter()
    total = 0.0
    for p in paths:
        with fits.open(p, memmap=False) as hdul:
            total += float(np.asarray(hdul["IMAGE"].data, dtype=np.float32)[0, 0])
    print(time.perf_counter() - t0)
    """
)

PACK = textwrap.dedent(
    """
    import sys, time
    from hscanom.ingest.pack import pack_sample
    t0 = time.perf_counter()
    report = pack_sample("bench", size=96, out=sys.argv[1], shard_size=10_000, batch_size=64)
    assert report.packed == int(sys.argv[2]) and not report.skipped, (report.packed, report.skipped[:3])
    print(time.perf_counter() - t0)
    """
)


def _child(code: str, *args: str, env: dict) -> tuple[float, float]:
    """Run ``code`` in a fresh Python; return (seconds it printed, its own peak RSS in MiB).

    ``os.wait4`` gives the resource usage of exactly that child (``ru_maxrss``, KiB on Linux).
    """
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"child failed ({proc.returncode}): {err[-2000:]}")
    return float(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def _populate(url: str, folder: Path, n: int, distinct: int) -> list[str]:
    """Write the files, the hsc_object/cutout rows and a sample 'bench'; return FITS paths."""
    rng = np.random.default_rng(1)
    base = []
    for k in range(distinct):
        ra, dec = 150.0 + k * 0.01, 2.0 + rng.uniform(-0.5, 0.5)
        off = rng.uniform(-8, 8, 2) * PIXEL_SCALE / 3600  # object a few pixels off the file centre
        files = write_object_cutouts(
            folder / "base", None, ra=ra + off[0], dec=dec + off[1], blob=(ra, dec), name=f"b{k}",
            shape=FILE_SHAPE, seed=k, flux=float(rng.uniform(100, 2000)), sigma_pix=float(rng.uniform(1.5, 5)),
        )
        shas = {b: hashlib.sha256(p.read_bytes()).hexdigest() for b, p in files.items()}
        base.append((ra, dec, files, shas))
    objects, cutouts, paths = [], [], []
    for j in range(n):
        oid = BASE_ID + j
        ra, dec, files, shas = base[j % distinct]
        objects.append((oid, ra, dec))
        for band, src in files.items():
            link = folder / "cutouts" / f"{j // 1000:03d}" / f"{oid}_HSC-{band.upper()}.fits"
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, link)
            cutouts.append((oid, band, str(link), "IMAGE", "fits", [*FILE_SHAPE], shas[band]))
            paths.append(str(link))
    store_sample(url, objects, cutouts)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="objects to pack")
    parser.add_argument("--distinct", type=int, default=500, help="objects with their own files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_pack_") as tmp:
        tmp = Path(tmp)
        # The bench's own 0700 folder holds the cluster's home: let the server account
        # (postgres, when run as root) pass through it; hscanom itself never changes
        # permissions outside HSCANOM_HOME.
        tmp.chmod(0o711)
        cluster = None
        url = os.environ.get("HSCANOM_DATABASE_URL")
        if not url:
            cluster = EmbeddedCluster(tmp / "pg", server_settings={"fsync": "off", "synchronous_commit": "off"})
            cluster.start()
            url = cluster.url()
            db.upgrade(url)
        try:
            t0 = time.perf_counter()
            paths = _populate(url, tmp / "data", args.n, min(args.distinct, args.n))
            print(f"setup: {args.n} objects x 3 bands ({len(set(Path(p).stat().st_ino for p in paths))} distinct files) in {time.perf_counter() - t0:.1f} s")
            listing = tmp / "paths.txt"
            listing.write_text("\n".join(paths))
            env = {**os.environ, "HSCANOM_DATABASE_URL": url}
            for p in paths:  # warm the page cache: both runs read from memory
                Path(p).read_bytes()
            read_s, read_rss = _child(READ_ONLY, str(listing), env=env)
            pack_s, pack_rss = _child(PACK, str(tmp / "shards"), str(args.n), env=env)
            shard_bytes = sum(p.stat().st_size for p in (tmp / "shards").glob("*.h5"))
        finally:
            if cluster is not None:
                cluster.stop(mode="immediate")
    read_rate, pack_rate = args.n / read_s, args.n / pack_s
    print(f"baseline, read g/r/i IMAGE arrays only: {read_rate:8.1f} images/s ({read_s:.1f} s), peak RSS {read_rss:.0f} MiB")
    print(f"pack (cut, preprocess, write shards):   {pack_rate:8.1f} images/s ({pack_s:.1f} s), peak RSS {pack_rss:.0f} MiB")
    print(f"ratio pack / read-only: {pack_rate / read_rate:.2f}  (packing costs {read_rate / pack_rate:.2f}x the reading alone)")
    print(f"shards: {shard_bytes / 2**20:.1f} MiB for {args.n} images of 96x96x3 uint8 ({shard_bytes / args.n / 1024:.1f} KiB/image)")
    print(f"peak RSS packing {args.n} objects: {pack_rss:.0f} MiB ({'under' if pack_rss < 1024 else 'OVER'} the 1 GB goal)")


if __name__ == "__main__":
    main()
