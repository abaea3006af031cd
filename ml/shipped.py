"""The shipped demo model: a WGAN-GP and its encoder trained by hscanom on its own simulator.

``hscanom demo`` scores with this model by default instead of training one (``hscanom demo
--train`` trains from scratch). It was made by ``scripts/build_demo_model.py``, which runs
the same library calls as ``hscanom simulate`` / ``ingest`` / ``sample create`` / ``cutouts
pack`` / ``train wgan`` / ``train encoder`` on a simulation whose seed (1000) is none of
the seeds the demo or the benchmark evaluate on, so every evaluation draw is held out.

Package data ``hscanom/models/demo/``::

    generator.weights.h5, critic.weights.h5   the WGAN (float32 Keras weights)
    encoder.weights.h5                        its encoder
    model.json                                config, provenance and sha256 of every file

``model.json`` holds ``config`` (the :class:`~hscanom.ml.config.WganConfig`), ``wgan_sha256``
and ``encoder_sha256`` (as :func:`hscanom.checksum.sha256_files` over the weight files of
:data:`hscanom.ml.registry.WEIGHT_FILES`, the registry's own checksum), and ``training``: the
simulator seed, size, anomaly fraction and version, the training sample, the sha256 of its
packed shards (``data_sha256``), the number of images, the code version and the final losses.

:func:`install` copies the files into ``$HSCANOM_HOME/models/``, verifies them against
``model.json`` and registers them in the ``model`` table like any trained model (kind
``wgan`` and ``encoder``; ``sample_id`` NULL because the training sample lives in another
database; the provenance goes into ``metrics``). A second call reuses the registered rows.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg

from hscanom.checksum import sha256_files
from hscanom.ml import registry
from hscanom.ml.config import WganConfig

#: Package folder of the shipped demo model.
PACKAGE = "hscanom.models"
NAME = "demo"


@dataclass(frozen=True)
class ShippedModel:
    """The manifest of a shipped model and the folder that holds its files."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def config(self) -> WganConfig:
        return WganConfig(**self.manifest["config"])

    def verify(self) -> None:
        """Check every weight file against ``model.json``.

        Raises:
            FileNotFoundError: a weight file is missing.
            ValueError: a file's sha256 differs from the registered one.
        """
        for kind, key in (("wgan", "wgan_sha256"), ("encoder", "encoder_sha256")):
            files = [self.directory / name for name in registry.WEIGHT_FILES[kind]]
            missing = [str(f) for f in files if not f.exists()]
            if missing:
                raise FileNotFoundError(f"shipped model {self.directory}: missing {', '.join(missing)}")
            found = sha256_files(files)
            if found != self.manifest[key]:
                raise ValueError(
                    f"shipped model {self.directory}: {kind} weights have sha256 {found}, "
                    f"model.json registers {self.manifest[key]}"
                )


def shipped(directory: Path | None = None) -> ShippedModel:
    """The shipped demo model (default: the package's ``hscanom/models/demo``).

    Raises:
        FileNotFoundError: no ``model.json`` in ``directory``.
        ValueError: ``model.json`` is not valid JSON or lacks a field.
    """
    if directory is None:
        directory = Path(str(resources.files(PACKAGE).joinpath(NAME)))
    manifest_path = Path(directory) / "model.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"no shipped model: {manifest_path} does not exist")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{manifest_path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    for key in ("config", "wgan_sha256", "encoder_sha256", "training"):
        if key not in manifest:
            raise ValueError(f"{manifest_path}: field {key!r} missing")
    return ShippedModel(Path(directory), manifest)


def install(url: str, home: Path, model: ShippedModel | None = None) -> tuple[int, int]:
    """Copy, verify and register the shipped model; returns (wgan id, encoder id).

    The files go to ``home/models/shipped-<name>-<first 10 hex of the WGAN sha256>/`` (the
    WGAN) and its ``encoder/`` subfolder. Rows already registered for that folder with the
    manifest's configuration are reused (after :func:`hscanom.ml.registry.get` has re-verified
    their weights); a manifest whose configuration changed (its scoring settings, say) gets
    new rows, so that runs scored under the old one keep the model they were scored with.

    Raises:
        FileNotFoundError, ValueError: as :meth:`ShippedModel.verify`.
    """
    model = model or shipped()
    model.verify()
    manifest = model.manifest
    wgan_dir = Path(home) / "models" / f"shipped-{model.directory.name}-{manifest['wgan_sha256'][:10]}"
    encoder_dir = wgan_dir / "encoder"
    encoder_dir.mkdir(parents=True, exist_ok=True)
    for kind, target in (("wgan", wgan_dir), ("encoder", encoder_dir)):
        for name in registry.WEIGHT_FILES[kind]:
            if not (target / name).exists() or sha256_files([target / name]) != sha256_files([model.directory / name]):
                shutil.copyfile(model.directory / name, target / name)
    cfg = model.config
    provenance = {"shipped": True, "source": str(model.directory), "training": manifest["training"]}
    with psycopg.connect(url, autocommit=True) as conn:
        wgan_id = registry.find(conn, "wgan", wgan_dir, cfg=cfg)
        if wgan_id is None:
            metrics = {**provenance, "final_losses": manifest["training"].get("final_losses", {})}
            wgan_id = registry.register(conn, "wgan", cfg, wgan_dir, sample_id=None, metrics=metrics)
        registry.get(conn, wgan_id, "wgan")
        encoder_id = registry.find(conn, "encoder", encoder_dir, parent_model_id=wgan_id, cfg=cfg)
        if encoder_id is None:
            metrics = {**provenance, "final_loss": manifest["training"].get("encoder_final_loss")}
            encoder_id = registry.register(conn, "encoder", cfg, encoder_dir, sample_id=None, metrics=metrics, parent_model_id=wgan_id)
        registry.get(conn, encoder_id, "encoder")
    return wgan_id, encoder_id


def export(url: str, wgan_id: int, encoder_id: int, out: Path, training: dict[str, Any], config: WganConfig | None = None) -> ShippedModel:
    """Write a registered WGAN and encoder as a shippable folder ``out`` with its ``model.json``.

    Args:
        training: provenance to record (simulator seed, size, version, ``data_sha256`` ...);
            the final losses of both trainings are added from the registry.
        config: the configuration to record (default: the registered one). It must agree with
            the registered one on every field that one has; it may add fields (scoring
            settings of a newer code version, whose defaults the registered row predates).

    Raises:
        LookupError: the models do not exist or the encoder is not the WGAN's.
        ValueError: ``config`` contradicts the registered configuration.
    """
    with psycopg.connect(url) as conn:
        wgan = registry.get(conn, wgan_id, "wgan")
        encoder = registry.get(conn, encoder_id, "encoder")
    if encoder.parent_model_id != wgan_id:
        raise LookupError(f"encoder {encoder_id} belongs to WGAN {encoder.parent_model_id}, not {wgan_id}")
    recorded = wgan.config
    if config is not None:
        wanted = config.to_dict()
        differ = sorted(k for k, v in recorded.items() if wanted.get(k) != v)
        if differ:
            raise ValueError(f"config differs from the registered WGAN {wgan_id} in {', '.join(differ)}")
        recorded = wanted
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for record in (wgan, encoder):
        for name in registry.WEIGHT_FILES[record.kind]:
            shutil.copyfile(record.directory / name, out / name)
    manifest = {
        "config": recorded,
        "wgan_sha256": wgan.sha256,
        "encoder_sha256": encoder.sha256,
        "training": {
            **training,
            "final_losses": wgan.metrics.get("final_losses", {}),
            "encoder_final_loss": encoder.metrics.get("final_loss"),
            "encoder_steps": encoder.config.get("encoder_steps"),
        },
    }
    (out / "model.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    model = ShippedModel(out, manifest)
    model.verify()
    return model
