"""Benchmark: scoring throughput with the paper-size model, against the original code's way.

Prints, in one run on the same random-weight paper-size networks (latent 128, width 64,
96 x 96 x 3; the weights do not change the work done):

* **ours** — :class:`hscanom.ml.score.Scorer`: one compiled ``tf.function`` per batch
  shape (encoder guess, 10 Adam steps on z for the whole batch, final terms), batch
  ``--batch`` (default 32), each batch's reconstructions and |residuals| written as one
  compressed HDF5 result shard (what a score worker does). Images/s, and images/s of the
  scoring step alone.
* **baseline** — the same computation done the way the original code did it: batches of
  10; for every batch a fresh graph (``keras.backend.clear_session()``, the three networks
  rebuilt and their weights loaded from disk, a new ``tf.function`` traced for the Adam
  step); one step call per iteration; every object's scores and images appended to the
  HDF5 file row by row. Images/s.
* the ratio ours / baseline (goal >= 5);
* the machine's dense matmul FLOP/s in ours' compute dtype measured here (2048 x 2048, best
  of 5), the
  scoring step's FLOP/s (analytic FLOPs per image from ``Scorer.flops_per_image`` x
  images/s), and their ratio (goal >= 0.6).

Usage: ``python bench/bench_score.py [--batch 32] [--batches 3] [--baseline-batches 2]
[--precision float32|mixed_float16|mixed_bfloat16]``. ``--precision`` sets the Keras dtype
policy of ours (``mixed_float16`` for GPUs); the baseline is always float32. No database is needed: the batch claiming is timed by the score-job tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def matmul_flops(dtype: str = "float32", n: int = 2048, reps: int = 10, tries: int = 5) -> float:
    """Best dense matmul rate [FLOP/s] in ``dtype`` of ``reps`` chained n x n products."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((n, n), seed=(3, 4)) / np.sqrt(n), dtype)

    @tf.function
    def chain(x):
        for _ in range(reps):
            x = tf.matmul(x, b)
        return tf.reduce_sum(x)

    chain(a).numpy()
    best = np.inf
    for _ in range(tries):
        t0 = time.perf_counter()
        chain(a).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 * reps / best


def _images(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.floor(rng.uniform(0, 1, (n, size, size, 3)) * 255) / 255).astype(np.float32)


def build_models(cfg, weights_dir: Path, *, load: bool = False):
    """The three networks (under the current dtype policy): random weights saved to
    ``weights_dir``, or (``load``) the weights saved there."""
    from hscanom.ml.networks import build_critic, build_encoder, build_generator

    models = build_generator(cfg), build_critic(cfg), build_encoder(cfg)
    for m in models:
        path = weights_dir / f"{m.name}.weights.h5"
        m.load_weights(path) if load else m.save_weights(path)
    return models


def run_ours(cfg, models, batch: int, n_batches: int, out_dir: Path) -> dict:
    """The Scorer plus one result shard per batch, as a score worker runs them."""
    from hscanom.ml.jobs import _write_result_shard
    from hscanom.ml.score import Scorer

    scorer = Scorer(cfg, *models)
    t0 = time.perf_counter()
    scorer(_images(batch, cfg.image_size, 0))  # trace once (amortised over a whole run)
    trace_s = time.perf_counter() - t0
    compute = total = 0.0
    for k in range(n_batches):
        x = _images(batch, cfg.image_size, k + 1)
        ids = np.arange(k * batch, (k + 1) * batch, dtype=np.int64) + 2**62
        t0 = time.perf_counter()
        scores = scorer(x)
        t1 = time.perf_counter()
        _write_result_shard(out_dir / f"ours-{k:04d}.h5", ids, x, scores.reconstruction)
        t2 = time.perf_counter()
        compute += t1 - t0
        total += t2 - t0
    n = batch * n_batches
    return {"images_per_s": n / total, "compute_images_per_s": n / compute, "trace_s": trace_s, "flops_per_image": scorer.flops_per_image()}


def run_baseline(cfg, weights_dir: Path, n_batches: int, out_path: Path, batch: int = 10) -> dict:
    """Batches of 10, a fresh graph and model load per batch, per-row HDF5 appends."""
    import keras
    import tensorflow as tf

    from hscanom.ml.losses import anomaly_terms
    from hscanom.ml.networks import build_critic, build_encoder, build_generator

    size = cfg.image_size
    with h5py.File(out_path, "w") as f:
        for name, shape, dtype in (("object_ids", (), "i8"), ("anomaly_scores", (), "f8"), ("gen_scores", (), "f8"),
                                   ("disc_scores", (), "f8"), ("reconstructed", (size, size, 3), "u1"), ("residuals", (size, size, 3), "u1")):
            f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(1, *shape))
    parts = {"graph_and_load_s": 0.0, "compute_s": 0.0, "write_s": 0.0}
    t0 = time.perf_counter()
    for k in range(n_batches):
        x = tf.constant(_images(batch, size, 100 + k))
        ta = time.perf_counter()
        keras.backend.clear_session()
        generator, critic, encoder = build_generator(cfg), build_critic(cfg), build_encoder(cfg)
        for m in (generator, critic, encoder):
            m.load_weights(weights_dir / f"{m.name}.weights.h5")
        z = tf.Variable(encoder(x, training=False))
        optimizer = keras.optimizers.Adam(cfg.score_learning_rate)
        _, fx = critic(x, training=False)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                rec = generator(z, training=False)
                _, fr = critic(rec, training=False)
                loss = tf.reduce_sum(anomaly_terms(x, rec, fx, fr, cfg.lambda_anom)[2])
            optimizer.apply_gradients([(tape.gradient(loss, z), z)])

        step.get_concrete_function()  # the fresh graph is built before the first step
        tb = time.perf_counter()
        for _ in range(cfg.score_iterations):
            step()
        rec = generator(z, training=False)
        _, fr = critic(rec, training=False)
        s_gen, s_disc, s_anom = (t.numpy() for t in anomaly_terms(x, rec, fx, fr, cfg.lambda_anom))
        rec8 = np.round(rec.numpy() * 255).astype(np.uint8)
        res8 = np.round(np.abs(x.numpy() - rec.numpy()) * 255).astype(np.uint8)
        tc = time.perf_counter()
        for i in range(batch):
            with h5py.File(out_path, "a") as f:
                row = f["object_ids"].shape[0]
                values = {"object_ids": 2**62 + k * batch + i, "anomaly_scores": s_anom[i], "gen_scores": s_gen[i],
                          "disc_scores": s_disc[i], "reconstructed": rec8[i], "residuals": res8[i]}
                for name, value in values.items():
                    f[name].resize(row + 1, axis=0)
                    f[name][row] = value
        parts["graph_and_load_s"] += tb - ta
        parts["compute_s"] += tc - tb
        parts["write_s"] += time.perf_counter() - tc
    elapsed = time.perf_counter() - t0
    return {"images_per_s": batch * n_batches / elapsed, **{k: v / n_batches for k, v in parts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="our batch size")
    parser.add_argument("--batches", type=int, default=3, help="timed batches of ours")
    parser.add_argument("--baseline-batches", type=int, default=2, help="timed batches of 10 of the baseline")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"],
                        help="Keras dtype policy of ours (mixed_float16 for GPUs; mixed_bfloat16 for CPUs with AVX512-BF16/AMX)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from hscanom.ml.config import preset

    cfg = preset("paper")
    devices = [d.device_type for d in tf.config.list_logical_devices()]
    print(f"devices: {devices}; threads: intra {tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()}")
    compute_dtype = keras.mixed_precision.Policy(args.precision).compute_dtype
    peak = matmul_flops(compute_dtype)
    print(f"dense {compute_dtype} matmul (2048^2, best of 5): {peak / 1e9:,.1f} GFLOP/s")
    with tempfile.TemporaryDirectory(prefix="hscanom-bench-score-") as tmp:
        tmp = Path(tmp)
        build_models(cfg, tmp)
        base = run_baseline(cfg, tmp, args.baseline_batches, tmp / "baseline.h5")
        keras.mixed_precision.set_global_policy(args.precision)
        models = build_models(cfg, tmp, load=True)
        ours = run_ours(cfg, models, args.batch, args.batches, tmp)
    achieved = ours["flops_per_image"] * ours["compute_images_per_s"]
    print(f"paper-size model: {ours['flops_per_image'] / 1e9:.1f} GFLOP per scored image (10 Adam steps)")
    print(f"ours (batch {args.batch}, {args.batches} batches): {ours['images_per_s']:.2f} images/s with result shards, "
          f"{ours['compute_images_per_s']:.2f} images/s scoring alone; one-off trace {ours['trace_s']:.1f} s")
    print(f"baseline (batch 10, fresh graph per batch, per-row HDF5; {args.baseline_batches} batches): {base['images_per_s']:.2f} images/s; "
          f"per batch: graph + weights {base['graph_and_load_s']:.2f} s, compute {base['compute_s']:.2f} s, row writes {base['write_s']:.2f} s")
    print(f"ratio ours / baseline: {ours['images_per_s'] / base['images_per_s']:.1f}x (goal >= 5)")
    print(f"scoring step: {achieved / 1e9:,.1f} GFLOP/s = {achieved / peak:.2f} of the matmul rate (goal >= 0.6)")
    paper_n = 942_782
    print(f"the paper's {paper_n:,} objects at this rate: {paper_n / ours['images_per_s'] / 3600:,.1f} h")


if __name__ == "__main__":
    main()
