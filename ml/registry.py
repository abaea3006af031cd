"""The model registry: trained networks as rows of ``model``.

A row records the kind (``wgan``, ``encoder``, ...), the configuration, the training sample,
the parent model (an encoder's WGAN), the model folder (``checkpoint_uri``), the sha256 of
its final weight files, metrics (final losses, history, the sample-grid PNG) and the code
version. The folder's weights are verified against the sha256 when a model is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from hscanom import __version__
from hscanom.checksum import sha256_files
from hscanom.ml.config import WganConfig

#: Weight files of each kind of model, in checksum order.
WEIGHT_FILES: dict[str, tuple[str, ...]] = {
    "wgan": ("generator.weights.h5", "critic.weights.h5"),
    "encoder": ("encoder.weights.h5",),
    "cae": ("cae.weights.h5",),
    "dcae": ("dcae.weights.h5",),
}


@dataclass(frozen=True)
class ModelRecord:
    id: int
    kind: str
    config: dict[str, Any]
    sample_id: int | None
    parent_model_id: int | None
    directory: Path
    sha256: str
    metrics: dict[str, Any]

    @property
    def wgan_config(self) -> WganConfig:
        return WganConfig(**self.config)


def register(
    conn: psycopg.Connection,
    kind: str,
    cfg: WganConfig,
    directory: Path,
    *,
    sample_id: int | None,
    metrics: dict[str, Any],
    parent_model_id: int | None = None,
) -> int:
    """Insert the model row of a finished training; returns its id."""
    files = [Path(directory) / name for name in WEIGHT_FILES[kind]]
    return conn.execute(
        "INSERT INTO model (kind, config, sample_id, parent_model_id, checkpoint_uri, sha256, metrics, code_version) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (kind, json.dumps(cfg.to_dict()), sample_id, parent_model_id, str(directory), sha256_files(files), json.dumps(metrics), __version__),
    ).fetchone()[0]


_COLUMNS = "id, kind, config, sample_id, parent_model_id, checkpoint_uri, sha256, metrics"


def _record(row) -> ModelRecord:
    return ModelRecord(row[0], row[1], row[2], row[3], row[4], Path(row[5]), row[6], row[7])


def get(conn: psycopg.Connection, model_id: int, kind: str | None = None) -> ModelRecord:
    """The model ``model_id`` (checked to be of ``kind``); its weights are verified."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM model WHERE id = %s", (model_id,)).fetchone()
    if row is None:
        raise LookupError(f"no model with id {model_id}")
    record = _record(row)
    if kind and record.kind != kind:
        raise LookupError(f"model {model_id} is a {record.kind}, not a {kind}")
    files = [record.directory / name for name in WEIGHT_FILES[record.kind]]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"model {model_id}: weight files missing: {', '.join(missing)}")
    if sha256_files(files) != record.sha256:
        raise ValueError(f"model {model_id}: weights in {record.directory} do not match the registered sha256")
    return record


def find(
    conn: psycopg.Connection, kind: str, directory: Path, parent_model_id: int | None = None, cfg: WganConfig | None = None
) -> int | None:
    """Id of the newest registered model of ``kind`` trained in ``directory`` (and registered with ``cfg``, if given)."""
    row = conn.execute(
        "SELECT id FROM model WHERE kind = %(kind)s AND checkpoint_uri = %(uri)s AND parent_model_id IS NOT DISTINCT FROM %(parent)s "
        "AND (%(config)s::jsonb IS NULL OR config = %(config)s::jsonb) ORDER BY id DESC LIMIT 1",
        {"kind": kind, "uri": str(directory), "parent": parent_model_id, "config": json.dumps(cfg.to_dict()) if cfg else None},
    ).fetchone()
    return row[0] if row else None


def encoder_of(conn: psycopg.Connection, wgan_id: int) -> int | None:
    """Id of the newest encoder trained for the WGAN ``wgan_id``."""
    row = conn.execute(
        "SELECT id FROM model WHERE kind = 'encoder' AND parent_model_id = %s ORDER BY id DESC LIMIT 1", (wgan_id,)
    ).fetchone()
    return row[0] if row else None
