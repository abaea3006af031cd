"""GPU check: training and scoring rates of the ``paper`` preset, against the original code's way.

What it does, in one run on one machine (``bench/gpu_check.sh`` sets up the venv and calls it):

1. **Images.** Simulates ``--sim-objects`` HSC-like objects with hscanom's simulator (2%
   injected anomalies, seed 1), cuts 96 x 96 stamps centred on their catalog positions,
   preprocesses them (the shared Lupton mapping) and writes them as one packed HDF5 shard.
   No database is used: the check needs no PostgreSQL on the GPU node.
2. **Training.** Trains the WGAN-GP of the ``paper`` preset (latent 128, width 64, batch 32,
   5 critic updates per generator iteration) for ``--iterations`` generator iterations on that
   shard, with the project's trainer (:class:`hscanom.ml.train.WganTrainer`, tf.data input).
   Prints generator iterations/s over the iterations after the first ``warmup`` (the
   compile time is printed apart).
3. **Scoring.** Scores ``--images`` images (default 50,000) with ``--precision`` (default
   ``mixed_float16``) the way a score worker does: batches of ``--score-batch`` read from the
   packed shard, :class:`hscanom.ml.score.Scorer` (encoder guess + 10 Adam steps on z, one
   compiled graph), one compressed result shard of reconstructions and residuals per batch.
   **The same ``--sim-objects`` images are scored over and over** to reach ``--images``
   (simulating 50,000 distinct objects would take about an hour of CPU); the work per image
   does not depend on its content. The networks are the ones just trained plus an untrained
   encoder (the same work as a trained one). The database's batch claiming is not included.
4. **Baseline.** The original code's way, from ``bench/bench_score.py`` (batches of 10, a
   fresh graph and a weight load per batch, per-row HDF5 appends; float32), on the same device
   for ``--baseline-batches`` batches. Prints both rates and the ratio.

``--dry-run`` runs every step at a toy size on any machine (the ``test`` preset, a few
iterations, 256 images), to check the script itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))


def make_shard(out: Path, n_objects: int, seed: int = 1) -> tuple[Path, int]:
    """Simulate ``n_objects`` objects and pack their 96-px images into one shard; (path, n)."""
    from bench_blue import load_sim

    from hscanom.ingest.shards import ShardWriter
    from hscanom.simulate import simulate

    sim = out / "simulation"
    simulate(sim, n=n_objects, anomaly_fraction=0.02, seed=seed)
    images, _classes = load_sim(sim, 96)
    ids = np.arange(len(images), dtype=np.int64) + 2**62
    path = out / "gpu-check-000000.h5"
    with ShardWriter(path, image_shape=images.shape[1:], dtype=np.uint8, config={"source": "gpu_check"}) as writer:
        writer.append(ids, images)
    return path, len(images)


def train_rate(cfg, shard: Path, directory: Path, warmup: int) -> dict:
    """Train ``cfg.iterations`` generator iterations; iterations/s after ``warmup``."""
    from hscanom.ml.data import training_batches
    from hscanom.ml.train import WganTrainer

    stamps: list[float] = []

    def progress(step, total, losses):
        stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    trainer = WganTrainer(cfg, directory)
    trainer.fit(training_batches([shard], cfg.batch_size, stack=cfg.n_critic, seed=cfg.seed), progress)
    total = time.perf_counter() - t0
    timed = stamps[warmup:]
    rate = (len(timed) - 1) / (timed[-1] - timed[0]) if len(timed) > 1 else float("nan")
    return {"iterations_per_s": rate, "first_iterations_s": stamps[warmup - 1] - t0 if len(stamps) >= warmup else total, "total_s": total}


def score_rate(cfg, weights: Path, shard: Path, n_images: int, batch: int, precision: str, out: Path) -> dict:
    """Score ``n_images`` (the shard's images repeated) as a score worker does; images/s."""
    import keras

    from hscanom.ingest.shards import iter_batches
    from hscanom.ml.jobs import _write_result_shard
    from hscanom.ml.networks import build_encoder
    from hscanom.ml.score import Scorer
    from hscanom.ml.train import load_wgan

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        generator, critic = load_wgan(cfg, weights)
        encoder = build_encoder(cfg)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    scorer = Scorer(cfg, generator, critic, encoder)

    def batches():
        while True:
            yield from iter_batches([shard], batch)

    source = batches()
    ids, x = next(source)
    t0 = time.perf_counter()
    scorer(x)  # trace once per batch shape (a run traces once)
    trace_s = time.perf_counter() - t0
    done, compute, k = 0, 0.0, 0
    t_start = time.perf_counter()
    while done < n_images:
        ids, x = next(source)
        ta = time.perf_counter()
        result = scorer(x)
        compute += time.perf_counter() - ta
        _write_result_shard(out / f"batch-{k:06d}.h5", ids, x, result.reconstruction)
        (out / f"batch-{k:06d}.h5").unlink()  # keep the disk small; the write was timed
        done += len(x)
        k += 1
    elapsed = time.perf_counter() - t_start
    return {"images": done, "images_per_s": done / elapsed, "compute_images_per_s": done / compute, "trace_s": trace_s,
            "flops_per_image": scorer.flops_per_image()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="toy sizes (test preset, 4 iterations, 256 images): checks the script on any machine")
    p.add_argument("--iterations", type=int, help="generator iterations to train (default 300)")
    p.add_argument("--images", type=int, help="images to score (default 50,000)")
    p.add_argument("--score-batch", type=int, help="images per scoring batch (default 256)")
    p.add_argument("--precision", default="mixed_float16", choices=["float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--sim-objects", type=int, help="simulated objects in the shard (default 512)")
    p.add_argument("--baseline-batches", type=int, help="batches of 10 of the original-style baseline (default 20)")
    p.add_argument("--workdir", type=Path, help="keep the shard, model and results here (default: a temporary folder)")
    args = p.parse_args(argv)
    small = args.dry_run
    iterations = args.iterations or (4 if small else 300)
    n_images = args.images or (256 if small else 50_000)
    batch = args.score_batch or (64 if small else 256)
    n_sim = args.sim_objects or (40 if small else 512)
    baseline_batches = args.baseline_batches or (1 if small else 20)
    warmup = 2 if small else 20

    import tensorflow as tf

    from bench_score import build_models, run_baseline

    from hscanom.ml.config import preset

    gpus = tf.config.list_physical_devices("GPU")
    print(f"TensorFlow {tf.__version__}; GPUs: {[g.name for g in gpus] or 'none'}")
    for g in gpus:
        details = tf.config.experimental.get_device_details(g)
        print(f"  {g.name}: {details.get('device_name', '?')}, compute capability {details.get('compute_capability', '?')}")
    if not gpus and not small:
        print("no GPU visible to TensorFlow: refusing to report GPU figures (use --dry-run to check the script on a CPU)")
        raise SystemExit(2)
    cfg = preset("test" if small else "paper", iterations=iterations, checkpoint_every=iterations, image_size=96)
    print(f"preset {'test (dry run)' if small else 'paper'}: latent {cfg.latent_dim}, width {cfg.width}, batch {cfg.batch_size}, "
          f"n_critic {cfg.n_critic}, {cfg.image_size} px")
    with tempfile.TemporaryDirectory(prefix="hscanom-gpu-check-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        shard, n = make_shard(work, n_sim)
        print(f"1. images: {n} simulated objects packed into {shard.name} in {time.perf_counter() - t0:.0f} s")

        tr = train_rate(cfg, shard, work / "wgan", warmup)
        print(f"2. training: {iterations} generator iterations in {tr['total_s']:.0f} s; {tr['iterations_per_s']:.2f} iterations/s "
              f"after the first {warmup} ({tr['first_iterations_s']:.0f} s, compile included); "
              f"the paper's 10,000 iterations at this rate: {10_000 / tr['iterations_per_s'] / 60:.0f} min")

        results = work / "results"
        results.mkdir(exist_ok=True)
        sc = score_rate(cfg, work / "wgan", shard, n_images, batch, args.precision, results)
        print(f"3. scoring ({args.precision}, batch {batch}, the {n} images repeated): {sc['images']:,} images, "
              f"{sc['images_per_s']:,.1f} images/s with shard reads and result writes, {sc['compute_images_per_s']:,.1f} images/s "
              f"scoring alone; trace {sc['trace_s']:.1f} s; {sc['flops_per_image'] / 1e9:.1f} GFLOP per image")

        weights = work / "baseline-weights"
        weights.mkdir(exist_ok=True)
        build_models(cfg, weights)
        base = run_baseline(cfg, weights, baseline_batches, work / "baseline.h5")
        print(f"4. baseline (bench_score.py's original-style way: batch 10, fresh graph per batch, per-row HDF5, float32; "
              f"{baseline_batches} batches): {base['images_per_s']:.2f} images/s")
    ratio = sc["images_per_s"] / base["images_per_s"]
    print(f"ratio scoring / baseline on this device: {ratio:.1f}x")
    print(f"the paper's 942,782 objects at this rate: {942_782 / sc['images_per_s'] / 3600:.2f} h on one device")
    return {"train": tr, "score": sc, "baseline": base, "ratio": ratio}


if __name__ == "__main__":
    main()
