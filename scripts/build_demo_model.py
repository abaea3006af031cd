"""Rebuild the shipped demo model (``hscanom/models/demo``) from scratch with hscanom itself.

Usage (one command; about 35 minutes on a loaded 2-core machine)::

    HSCANOM_HOME=/tmp/demo-model .venv/bin/python scripts/build_demo_model.py --out hscanom/models/demo

It runs, in the ``HSCANOM_HOME`` given (its own embedded database; never the demo's):

1. the demo chain up to ``pack`` (:func:`hscanom.pipeline.run`): simulate 5,000 objects with
   2% anomalies at seed ``--seed`` (1000: not a seed the demo or the benchmark evaluate on),
   ingest, the ``paper-pdr2`` sample, 96-pixel packed shards;
2. ``hscanom train wgan --sample paper-pdr2 --preset demo --seed 1000`` (the same library
   call, :func:`hscanom.ml.runs.train_wgan`);
3. ``hscanom train encoder --model <wgan>`` (:func:`hscanom.ml.runs.train_encoder`);
4. :func:`hscanom.ml.shipped.export`: copies the weights to ``--out`` and writes
   ``model.json`` (config, sha256 of the weights, and the provenance: simulator seed, size and
   version, sha256 of the packed training shards, code version, final losses).

Every step reuses what an earlier, interrupted run left (a killed training resumes from its
checkpoint). The demo preset trains in ``mixed_bfloat16``: a rebuild on the same CPU type and
TensorFlow version gives the same simulation and shards bit for bit (``data_sha256``), and
weights that match within bfloat16 round-off, not bit for bit (oneDNN's threaded
reductions); docs/evaluation.md states the tolerance measured on the scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("hscanom/models/demo"), help="folder to write (default hscanom/models/demo)")
    parser.add_argument("--seed", type=int, default=1000, help="simulation and training seed (default 1000)")
    parser.add_argument("--objects", type=int, default=5000, help="simulated objects (default 5000)")
    args = parser.parse_args(argv)

    import json

    from hscanom import __version__, db, pipeline
    from hscanom.checksum import sha256_files
    from hscanom.config import Settings
    from hscanom.ml import runs, shipped
    from hscanom.ml.data import count_images

    home = Settings.from_env().home
    url = db.database_url()
    db.upgrade(url)
    cfg = pipeline.PipelineConfig(home=home, n_objects=args.objects, seed=args.seed, wgan_preset="demo")
    state = pipeline.run(cfg, url, report=lambda stage, msg: print(f"{stage:>10} {msg}", flush=True), until="pack")
    wgan_cfg = cfg.wgan_config()
    shards = runs.packed_shards(url, state.sample, wgan_cfg.image_size)

    def progress(step: int, total: int, losses: dict) -> None:
        if step % 100 == 0 or step == total:
            print(f"  step {step}/{total} " + " ".join(f"{k} {v:.4g}" for k, v in losses.items()), flush=True)

    wgan_id = runs.train_wgan(url, state.sample, wgan_cfg, home, progress).model_id
    encoder_id = runs.train_encoder(url, wgan_id, progress).model_id
    simulation = json.loads((cfg.sim_dir / "simulation.json").read_text())
    training = {
        "command": f"HSCANOM_HOME=<empty dir> .venv/bin/python scripts/build_demo_model.py --seed {args.seed} --objects {args.objects}",
        "simulator_seed": args.seed,
        "n_objects": args.objects,
        "anomaly_fraction": cfg.anomaly_fraction,
        "simulator_version": simulation.get("simulator_version"),
        "sample": state.sample,
        "image_size": wgan_cfg.image_size,
        "n_train_images": count_images(shards),
        "data_sha256": sha256_files(shards),
        "data_files": [Path(p).name for p in shards],
        "code_version": __version__,
    }
    model = shipped.export(url, wgan_id, encoder_id, args.out, training, config=wgan_cfg)
    print(f"wrote {model.directory} (WGAN {model.manifest['wgan_sha256'][:12]}, encoder {model.manifest['encoder_sha256'][:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
