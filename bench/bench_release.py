"""Benchmark: cutting a catalog release of N scored objects with images, vs. bare h5py.

Fabricates, in a throwaway database (or ``HSCANOM_DATABASE_URL``), what a complete score
run of N objects leaves behind: ``hsc_object`` rows with the metadata columns, a sample, WGAN
/ encoder / CAE model rows, a complete ``score_run`` with ``anomaly_score`` rows (about 1.4
per cent above 3 sigma in s_disc, as in the paper), 96 x 96 packed shards written by
:class:`hscanom.ingest.shards.ShardWriter`, result shards of 256 objects in the layout of
:mod:`hscanom.ml.jobs` (``reconstructed``/``residuals`` uint8, one image per gzip chunk),
64-d residual and real embeddings, GMM labels and UMAP coordinates of every object, and 200
bright-star mask circles. Images are random galaxy-like uint8 stamps (Poisson background
plus a Gaussian blob; gzip shrinks them about 1.9 times), drawn from a pool of 256 per kind.

Then, each in its own child process (peak RSS: that child's own ``VmHWM``):

* ``release``: :func:`hscanom.catalog.release.cut` (every file of the release);
* ``bare h5py``: the same two HDF5 files' arrays (scores, ids and the same N x 96 x 96 x 3
  images, same chunks and gzip level) written by plain h5py from memory, one block at a
  time, reading nothing and writing no other file.

Prints seconds, objects/s, CPU seconds (all threads), peak RSS (goal: < 2 GB for N =
200,000), the ratios of the two, the load average around each (the machine may be shared:
wall-clock ratios are only fair at equal load; CPU seconds depend less on it), the time per
stage of the cut and the size of each file. The release and baseline files are
deleted after being measured (at N = 200,000 each takes about 9 GB).

Usage: ``python bench/bench_release.py [--n 200000] [--workdir DIR]`` (``HSCANOM_BENCH_N``
also sets N; e.g. ``--n 5000`` for a quick check).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from _common import database  # noqa: E402

SIZE = 96
POOL = 256
BATCH = 256  # objects per result shard, as `hscanom score` batches
PACK_SHARD = 10_000  # images per packed shard, as `hscanom cutouts pack`
BASE_ID = 43_158_176_442_000_000  # real 17-digit range, > 2**53
EMBED_DIM = 64
VERSION = "bench"


# -- the images: the same function of (kind, object number) for fabrication and baseline ----
def image_pool(kind: int, size: int = SIZE, n: int = POOL) -> np.ndarray:
    """``n`` galaxy-like uint8 RGB stamps (size x size x 3), reproducible per ``kind``."""
    rng = np.random.default_rng(1000 + kind)
    y, x = np.mgrid[:size, :size]
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        cx, cy = rng.uniform(0.4 * size, 0.6 * size, 2)
        sigma, peak = rng.uniform(0.03 * size, 0.1 * size), rng.uniform(60, 200)
        blob = peak * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        out[k] = np.clip(rng.poisson(4, (size, size, 3)) + blob[..., None] * rng.uniform(0.6, 1.0, 3), 0, 255)
    return out


STRIDES = {0: 7, 1: 11, 2: 13}  # reals, reconstructed, residuals


def images(pool: np.ndarray, kind: int, numbers: np.ndarray) -> np.ndarray:
    """Images of objects ``numbers`` (0-based) of one kind: pool[(number * stride) % POOL]."""
    return pool[(numbers * STRIDES[kind]) % len(pool)]


def scores(n: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s_gen, s_disc, s_anom) with about 1.4 per cent of s_disc above 3 sigma."""
    rng = np.random.default_rng(seed)
    s_gen = rng.lognormal(3.0, 0.3, n)
    s_disc = rng.lognormal(2.0, 0.25, n)
    tail = rng.random(n) < 0.016
    s_disc[tail] *= rng.uniform(2.2, 4.0, tail.sum())
    return s_gen, s_disc, 0.7 * s_gen + 0.3 * s_disc


# -- fabrication ---------------------------------------------------------------------------
def _copy(conn: psycopg.Connection, sql: str, rows) -> None:
    with conn.cursor().copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def fabricate(url: str, n: int, work: Path) -> int:
    """Store a complete score run of ``n`` objects with shards; returns its id."""
    import h5py

    from hscanom.ingest.shards import ShardWriter
    from hscanom.samples import create_sample

    rng = np.random.default_rng(0)
    ids = BASE_ID + np.arange(n, dtype=np.int64) * 7919
    ra, dec = rng.uniform(150.0, 152.0, n), rng.uniform(1.0, 3.0, n)
    i_mag = rng.uniform(20.0, 20.5, n)
    i11, i22 = rng.uniform(0.1, 1.0, n), rng.uniform(0.1, 1.0, n)
    i12 = rng.uniform(-0.05, 0.05, n)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        _copy(
            conn,
            "COPY hsc_object (object_id, ra, dec, i_cmodel_mag, g_cmodel_mag, r_cmodel_mag, i_blendedness_abs_flux, "
            "i_cmodel_exp_ellipse_11, i_cmodel_exp_ellipse_22, i_cmodel_exp_ellipse_12, i_convolvedflux_3_20_flux, i_cmodel_flux) FROM STDIN",
            zip(ids.tolist(), ra.tolist(), dec.tolist(), i_mag.tolist(), (i_mag + 1.0).tolist(), (i_mag + 0.4).tolist(),
                rng.uniform(0, 0.5, n).tolist(), i11.tolist(), i22.tolist(), i12.tolist(), rng.uniform(500, 900, n).tolist(), np.full(n, 1000.0).tolist()),
        )
        conn.execute(
            "INSERT INTO bright_star_mask (mask_version, shape, circle) "
            "SELECT 'bench', 'circle', scircle(spoint(radians(150 + 2 * random()), radians(1 + 2 * random())), radians(0.05)) FROM generate_series(1, 200)"
        )
    sample = create_sample("bench", "SELECT object_id FROM hsc_object", url=url)
    with psycopg.connect(url) as conn:
        config = json.dumps({"image_size": SIZE, "latent_dim": 128, "lambda_anom": 0.3})
        wgan = conn.execute("INSERT INTO model (kind, config, sample_id) VALUES ('wgan', %s, %s) RETURNING id", (config, sample.id)).fetchone()[0]
        encoder = conn.execute("INSERT INTO model (kind, config, sample_id, parent_model_id) VALUES ('encoder', %s, %s, %s) RETURNING id", (config, sample.id, wgan)).fetchone()[0]
        params = {"lambda_anom": 0.3, "iterations": 10, "encoder_id": encoder, "batch_size": BATCH, "image_size": SIZE}
        run_id = conn.execute(
            "INSERT INTO score_run (method, model_id, sample_id, params, status, finished_at) VALUES ('wgan', %s, %s, %s, 'complete', now()) RETURNING id",
            (wgan, sample.id, json.dumps(params)),
        ).fetchone()[0]
    print(f"  rows: {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    pools = [image_pool(k) for k in range(3)]
    reals_float = pools[0].astype(np.float32) / np.float32(255.0)
    packed_rows = []
    with psycopg.connect(url) as conn:
        for s, lo in enumerate(range(0, n, PACK_SHARD)):
            hi = min(lo + PACK_SHARD, n)
            path = work / "shards" / f"bench-{s:05d}.h5"
            with ShardWriter(path, image_shape=(SIZE, SIZE, 3), config={"size": SIZE, "sample": "bench"}) as writer:
                for b in range(lo, hi, 1024):
                    numbers = np.arange(b, min(b + 1024, hi))
                    writer.append(ids[numbers], reals_float[(numbers * STRIDES[0]) % POOL])
            written = writer.written
            shard_id = conn.execute(
                "INSERT INTO image_shard (kind, uri, sha256, n_images, config, sample_id) VALUES ('packed', %s, %s, %s, %s, %s) RETURNING id",
                (str(written.path), written.sha256, written.n_images, json.dumps({"size": SIZE, "sample": "bench"}), sample.id),
            ).fetchone()[0]
            packed_rows.extend((shard_id, int(ids[k]), k - lo) for k in range(lo, hi))
        _copy(conn, "COPY packed_image (shard_id, object_id, row) FROM STDIN", packed_rows)
    print(f"  packed shards: {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    s_gen, s_disc, s_anom = scores(n)
    score_rows = []
    with psycopg.connect(url) as conn:
        for b, lo in enumerate(range(0, n, BATCH)):
            numbers = np.arange(lo, min(lo + BATCH, n))
            path = work / "results" / f"batch-{b:06d}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as f:  # the layout of hscanom.ml.jobs._write_result_shard
                f.create_dataset("object_ids", data=ids[numbers])
                for kind, name in ((1, "reconstructed"), (2, "residuals")):
                    data = images(pools[kind], kind, numbers)
                    f.create_dataset(name, data=data, chunks=(1, *data.shape[1:]), compression="gzip", compression_opts=4, shuffle=True)
            shard_id = conn.execute(
                "INSERT INTO image_shard (kind, uri, n_images, run_id, config) VALUES ('result', %s, %s, %s, %s) RETURNING id",
                (str(path), len(numbers), run_id, json.dumps({"datasets": ["reconstructed", "residuals"]})),
            ).fetchone()[0]
            score_rows.extend(
                (run_id, int(ids[k]), float(s_gen[k]), float(s_disc[k]), float(s_anom[k]), shard_id, r) for r, k in enumerate(numbers)
            )
        _copy(conn, "COPY anomaly_score (run_id, object_id, s_gen, s_disc, s_anom, result_shard_id, result_row) FROM STDIN", score_rows)
    print(f"  result shards: {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        cae = {}
        for kind in ("residual", "real"):
            cae[kind] = conn.execute("INSERT INTO model (kind, config) VALUES ('cae', %s) RETURNING id", (json.dumps({"latent_dim": EMBED_DIM, "input": kind}),)).fetchone()[0]
            vectors = rng.normal(size=(n, EMBED_DIM)).astype(np.float32)
            _copy(conn, "COPY embedding (run_id, model_id, object_id, kind, vector) FROM STDIN",
                  ((run_id, cae[kind], int(oid), kind, vec) for oid, vec in zip(ids, vectors.tolist())))
        labels = rng.integers(0, 8, n)
        _copy(conn, "COPY cluster_label (run_id, model_id, object_id, method, label, probability) FROM STDIN",
              ((run_id, cae["residual"], int(oid), "gmm", int(lab), 0.9) for oid, lab in zip(ids, labels)))
        xy = rng.normal(size=(n, 2))
        _copy(conn, "COPY umap_coord (run_id, model_id, object_id, kind, x, y) FROM STDIN",
              ((run_id, cae["residual"], int(oid), "residual", float(x), float(y)) for oid, (x, y) in zip(ids, xy)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  embeddings, clusters, UMAP: {time.perf_counter() - t0:.0f} s", flush=True)
    return run_id


# -- the two measured jobs (child processes) -----------------------------------------------
def child_release(run_id: int, out: Path) -> dict:
    from hscanom import db
    from hscanom.catalog import release

    stages: dict[str, float] = {}
    last = [time.perf_counter(), None]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if last[1] is not None:
            stages[last[1]] = stages.get(last[1], 0.0) + now - last[0]
        last[0], last[1] = now, stage

    t0 = time.perf_counter()
    info = release.cut(db.database_url(), VERSION, run_id, out=out, progress=progress)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "stages": stages, "rows": info.row_counts,
            "files": {k: v["size"] for k, v in info.manifest["files"].items()}}


def child_baseline(n: int, out: Path) -> dict:
    """Write the two HDF5 files' arrays with plain h5py (same chunks and gzip level)."""
    import h5py

    from hscanom.catalog.published import GZIP_LEVEL, IMAGE_CHUNK_ROWS, VALUE_CHUNK_ROWS

    pools = [image_pool(k) for k in range(3)]
    s_gen, s_disc, s_anom = scores(n)
    sigma = {k: (v - v.mean()) / v.std() for k, v in (("gen", s_gen), ("disc", s_disc), ("anom", s_anom))}
    high = np.flatnonzero(sigma["disc"] > 3)
    ids = BASE_ID + np.arange(n, dtype=np.int64) * 7919
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("full.h5", np.arange(n)), ("3sigd.h5", high)):
        m = len(rows)
        with h5py.File(out / name, "w") as f:
            values = {"anomaly_scores": s_anom, "anomaly_scores_sigma": sigma["anom"], "disc_scores": s_disc, "disc_scores_sigma": sigma["disc"],
                      "gen_scores": s_gen, "gen_scores_sigma": sigma["gen"], "idxs": np.arange(n, dtype=np.int64), "object_ids": ids}
            for key, v in values.items():
                f.create_dataset(key, data=v[rows], chunks=(min(VALUE_CHUNK_ROWS, max(m, 1)),), compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True)
            chunk = min(IMAGE_CHUNK_ROWS, max(m, 1))
            sets = [f.create_dataset(key, shape=(m, SIZE, SIZE, 3), dtype=np.uint8, chunks=(chunk, SIZE, SIZE, 3), compression="gzip", compression_opts=GZIP_LEVEL)
                    for key in ("reals", "reconstructed", "residuals")]
            for lo in range(0, m, 256):
                numbers = rows[lo : lo + 256]
                for kind, ds in enumerate(sets):
                    ds[lo : lo + len(numbers)] = images(pools[kind], kind, numbers)
    return {"seconds": time.perf_counter() - t0, "files": {p.name: p.stat().st_size for p in out.iterdir()}}


def peak_rss_mib() -> float | None:
    """This process's own peak RSS [MiB]: ``VmHWM`` of /proc/self/status (Linux).

    Not ``getrusage``/``wait4``: after fork + exec their ``ru_maxrss`` still counts the
    parent's memory at the fork, which here is the fabrication's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _child(args: list[str], env: dict) -> tuple[dict, float]:
    """Run this script as a child; returns (its JSON result, its peak RSS in MiB)."""
    proc = subprocess.run([sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, result["peak_rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("HSCANOM_BENCH_N", 200_000)), help="objects (default 200,000)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for shards and outputs (default: a temporary one)")
    parser.add_argument("--child", choices=("release", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        load = os.getloadavg()[0]
        result = child_release(args.run, args.out) if args.child == "release" else child_baseline(args.n, args.out)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib(), "cpu_seconds": cpu, "load": [load, os.getloadavg()[0]]}))
        return

    from hscanom.catalog.published import compression_threads

    n = args.n
    with tempfile.TemporaryDirectory(prefix="hscanom-bench-release-", dir=args.workdir) as tmp, database() as url:
        work = Path(tmp)
        print(f"fabricating a scored run of {n:,} objects with {SIZE}x{SIZE} images in {work} ...", flush=True)
        t0 = time.perf_counter()
        run_id = fabricate(url, n, work)
        print(f"  total {time.perf_counter() - t0:.0f} s", flush=True)
        env = dict(os.environ, HSCANOM_DATABASE_URL=url)

        rel, rel_rss = _child(["--child", "release", "--run", str(run_id), "--out", str(work / "releases")], env)
        shutil.rmtree(work / "releases")
        base, base_rss = _child(["--child", "baseline", "--n", str(n), "--out", str(work / "baseline")], env)
        shutil.rmtree(work / "baseline")

    print()
    print(f"release of {n:,} objects ({rel['rows']['disc3sigma']:,} above 3 sigma), {SIZE}x{SIZE} images, {compression_threads()} deflate threads")
    for name, r, rss in (("hscanom release cut:", rel, rel_rss), ("bare h5py (2 files):", base, base_rss)):
        print(
            f"  {name:21s} {r['seconds']:8.1f} s  {n / r['seconds']:7.0f} objects/s  CPU {r['cpu_seconds']:7.1f} s  "
            f"peak RSS {rss:6.0f} MiB  (load average {r['load'][0]:.1f} -> {r['load'][1]:.1f})"
        )
    print(
        f"  ratio release / bare h5py: {rel['seconds'] / base['seconds']:.2f} in time, {rel['cpu_seconds'] / base['cpu_seconds']:.2f} in CPU"
        f"   (RSS goal < 2048 MiB: {'met' if rel_rss < 2048 else 'NOT met'})"
    )
    print("  stages of the cut: " + ", ".join(f"{k} {v:.1f} s" for k, v in rel["stages"].items()))
    print("  files: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sorted(rel["files"].items())))


if __name__ == "__main__":
    main()
