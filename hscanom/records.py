"""Typed readers of the shared tables: one query, one record, instead of each stage's own SQL.

Stages pass ``url`` and ids between them; a stage that needs a row of a shared table reads
it here, so "what is this run's image size" has one answer (the same as the SQL function
``run_packed_image``: ``score_run.params.image_size``, else the model's
``config.image_size``). Database layer (docs/architecture.md): takes an open psycopg
connection (:func:`hscanom.db.connect`), imports nothing above.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import psycopg

__all__ = ["ScoreRun", "get_run"]


@dataclass(frozen=True)
class ScoreRun:
    """A ``score_run`` row with the model facts stages derive from it.

    Attributes:
        id: run id.
        method: score method (``wgan``, ``dcae``).
        status: ``pending``, ``running``, ``complete`` or ``failed``.
        model_id: the scoring model.
        sample_id: the scored sample.
        params: what the run recorded about how it scores (JSON object).
        image_size: side of the scored images [pixels] (``params.image_size``, else the
            model's ``config.image_size``); ``None`` when neither names it.
        model_kind: the model's kind (``wgan``, ``dcae``, ...).
        model_config: the model's configuration (JSON object).
        created_at: when the run was created.
        finished_at: when it completed (``None`` before).
        code_version: hscanom version that created the run.
    """

    id: int
    method: str
    status: str
    model_id: int
    sample_id: int
    params: dict[str, Any] = field(default_factory=dict)
    image_size: int | None = None
    model_kind: str | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    code_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``score_run`` row's own columns (what a release manifest records)."""
        return {"id": self.id, "method": self.method, "model_id": self.model_id, "sample_id": self.sample_id, "params": self.params,
                "status": self.status, "code_version": self.code_version, "created_at": self.created_at, "finished_at": self.finished_at}


def get_run(conn: psycopg.Connection, run_id: int) -> ScoreRun:
    """The score run ``run_id``.

    Raises:
        LookupError: no score run with that id.
    """
    row = conn.execute(
        """SELECT r.id, r.method, r.status, r.model_id, r.sample_id, r.params,
                  coalesce((r.params ->> 'image_size')::int, (m.config ->> 'image_size')::int),
                  m.kind, m.config, r.created_at, r.finished_at, r.code_version
             FROM score_run r JOIN model m ON m.id = r.model_id
            WHERE r.id = %s""",
        (int(run_id),),
    ).fetchone()
    if row is None:
        raise LookupError(f"no score run with id {run_id}")
    rid, method, status, model_id, sample_id, params, size, kind, config, created, finished, code_version = row
    return ScoreRun(
        id=int(rid), method=method, status=status, model_id=int(model_id), sample_id=int(sample_id),
        params=params or {}, image_size=None if size is None else int(size), model_kind=kind,
        model_config=config or {}, created_at=created, finished_at=finished, code_version=code_version,
    )
