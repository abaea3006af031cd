"""Score runs as database-coordinated jobs: any number of workers, any number of machines.

A run (``score_run``) is split into batches (``score_batch``, ranges of sample ``idx``).
A worker loops: claim a batch (``FOR UPDATE SKIP LOCKED`` under a lease), read the batch's
packed images, score them (the run method's scorer: :class:`hscanom.ml.score.Scorer` for
``wgan``, :class:`hscanom.ml.dcae.DcaeScorer` for ``dcae``), write the reconstructions and
|residuals| to a result shard (HDF5, written to a temporary name and renamed), then store the
scores, the shard pointer and the batch's completion in ONE transaction.

* A worker killed mid-batch loses nothing: its lease expires and the batch is claimed again.
* No object is stored twice for a run: ``anomaly_score`` has primary key (run_id, object_id)
  and rows are inserted with ``ON CONFLICT DO NOTHING``.
* A finished run scored again is a no-op: there is nothing left to claim.
* Members without packed images are recorded in ``score_batch.missing``, never scored as zeros.

Workers announce each claim and completion on the PostgreSQL channel ``hscanom_score``
(``LISTEN hscanom_score``), which monitors and tests can follow without polling.

While a worker runs it holds a shared advisory lock on its run (released by the server when
the worker dies). A run left ``running`` with no worker holding that lock was killed:
:func:`recover_stale_runs` (called when scoring starts and by ``hscanom db status``) marks it
``interrupted`` and returns its running batches to ``pending``; scoring it again with the
same arguments resumes it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import psycopg

from hscanom import __version__, db
from hscanom.atomic import atomic_path
from hscanom.checksum import sha256_file
from hscanom.ingest.pack import run_packed_image
from hscanom.ingest.shards import read_rows
from hscanom.imaging import to_uint8

CHANNEL = "hscanom_score"


@dataclass(frozen=True)
class Claim:
    run_id: int
    batch_no: int
    idx_lo: int
    idx_hi: int


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- creating runs ------------------------------------------------------------------------
def create_run(conn: psycopg.Connection, model_id: int, sample_id: int, params: dict, batch_size: int, method: str = "wgan") -> int:
    """Create a score run of ``sample_id`` with ``model_id`` (of ``method``: wgan, dcae) and its batches.

    The same method, model, sample and parameters reuse the existing run (a re-run is a
    no-op once it is complete). Returns the run id.
    """
    existing = conn.execute(
        "SELECT id FROM score_run WHERE model_id = %s AND sample_id = %s AND method = %s AND params = %s::jsonb",
        (model_id, sample_id, method, json.dumps(params)),
    ).fetchone()
    if existing:
        return existing[0]
    n = conn.execute("SELECT count(*) FROM sample_member WHERE sample_id = %s", (sample_id,)).fetchone()[0]
    if n == 0:
        raise ValueError(f"sample {sample_id} has no members")
    run_id = conn.execute(
        "INSERT INTO score_run (method, model_id, sample_id, params, status, code_version) "
        "VALUES (%s, %s, %s, %s, 'pending', %s) RETURNING id",
        (method, model_id, sample_id, json.dumps(params), __version__),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO score_batch (run_id, batch_no, idx_lo, idx_hi) "
        "SELECT %(run)s, b, b * %(size)s, least((b + 1) * %(size)s, %(n)s) "
        "FROM generate_series(0, (%(n)s - 1) / %(size)s) AS b",
        {"run": run_id, "size": batch_size, "n": n},
    )
    return run_id


# -- liveness -------------------------------------------------------------------------------
#: First key of the advisory locks that mark a score run's workers as alive (second: run id).
RUN_LOCK_CLASS = 0x68736372  # 'hscr'


def recover_stale_runs(conn: psycopg.Connection) -> list[int]:
    """Mark ``interrupted`` every ``running`` score run that no live worker holds; return their ids.

    The run's batches still marked ``running`` go back to ``pending`` (their workers are
    gone); batches already done stay done, so scoring the run again resumes it.
    """
    recovered = []
    for (run_id,) in conn.execute("SELECT id FROM score_run WHERE status = 'running' ORDER BY id").fetchall():
        with conn.transaction():
            free = conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (RUN_LOCK_CLASS, int(run_id) & 0x7FFFFFFF)).fetchone()[0]
            if not free:
                continue
            conn.execute("UPDATE score_batch SET status = 'pending', lease_expires = NULL WHERE run_id = %s AND status = 'running'", (run_id,))
            if conn.execute("UPDATE score_run SET status = 'interrupted' WHERE id = %s AND status = 'running'", (run_id,)).rowcount:
                recovered.append(run_id)
    return recovered


# -- the work queue -----------------------------------------------------------------------
def claim(conn: psycopg.Connection, run_id: int, worker: str, lease_seconds: float) -> Claim | None:
    """Claim the next pending (or lease-expired) batch of ``run_id``; ``None`` if none is free."""
    with conn.transaction():
        row = conn.execute(
            """
            UPDATE score_batch b
               SET status = 'running', worker = %(worker)s, attempts = b.attempts + 1,
                   lease_expires = now() + make_interval(secs => %(lease)s)
             WHERE (b.run_id, b.batch_no) = (
                   SELECT run_id, batch_no FROM score_batch
                    WHERE run_id = %(run)s
                      AND (status = 'pending' OR (status = 'running' AND lease_expires < now()))
                    ORDER BY batch_no
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED)
            RETURNING b.batch_no, b.idx_lo, b.idx_hi
            """,
            {"worker": worker, "lease": lease_seconds, "run": run_id},
        ).fetchone()
        if row:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"event": "claimed", "run": run_id, "batch": row[0], "worker": worker})))
    return Claim(run_id, *row) if row else None


def _seconds_to_next_expiry(conn: psycopg.Connection, run_id: int) -> float | None:
    """Seconds until a running batch's lease expires; None when nothing is left to do."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status <> 'done'), "
        "extract(epoch FROM min(lease_expires - now()) FILTER (WHERE status = 'running')) "
        "FROM score_batch WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    if row[0] == 0:
        return None
    return max(float(row[1] or 0.0), 0.0)


def _batch_members(conn: psycopg.Connection, run_id: int, c: Claim):
    """(object_ids, packed locations, missing ids) of the claimed batch, in idx order."""
    rows = conn.execute(
        f"""
        SELECT m.object_id, s.uri, p.row
          FROM score_run r
          JOIN sample_member m ON m.sample_id = r.sample_id
          {run_packed_image("m.object_id")}
          LEFT JOIN image_shard s ON s.id = p.shard_id
         WHERE r.id = %(run)s AND m.idx >= %(lo)s AND m.idx < %(hi)s
         ORDER BY m.idx
        """,
        {"run": run_id, "lo": c.idx_lo, "hi": c.idx_hi},
    ).fetchall()
    present = [(oid, uri, row) for oid, uri, row in rows if uri is not None]
    missing = [oid for oid, uri, _ in rows if uri is None]
    return present, missing


def _write_result_shard(path: Path, object_ids: np.ndarray, reals, reconstructions) -> None:
    """Reconstructions and |residuals| as uint8 RGB, written atomically."""
    rec8 = to_uint8(reconstructions)
    res8 = to_uint8(np.abs(reals - reconstructions))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("object_ids", data=np.asarray(object_ids, np.int64))
        for name, data in (("reconstructed", rec8), ("residuals", res8)):
            f.create_dataset(name, data=data, chunks=(1, *data.shape[1:]), compression="gzip", compression_opts=4, shuffle=True)


def _values(column, n: int) -> list[float | None]:
    """A score column as floats; a method without that score (``None``) gives NULLs."""
    return [None] * n if column is None else [float(v) for v in column]


def _store(conn, c: Claim, worker: str, ids, scores, shard: Path | None, missing: list[int]) -> None:
    with conn.transaction():
        shard_id = None
        if shard is not None:
            shard_id = conn.execute(
                "INSERT INTO image_shard (kind, uri, sha256, n_images, run_id, config) VALUES ('result', %s, %s, %s, %s, %s) "
                "ON CONFLICT (uri) DO UPDATE SET sha256 = EXCLUDED.sha256, n_images = EXCLUDED.n_images RETURNING id",
                (str(shard), sha256_file(shard), len(ids), c.run_id, json.dumps({"datasets": ["reconstructed", "residuals"]})),
            ).fetchone()[0]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO anomaly_score (run_id, object_id, s_gen, s_disc, s_anom, result_shard_id, result_row) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, object_id) DO NOTHING",
                    [
                        (c.run_id, int(oid), g, d, a, shard_id, row)
                        for row, (oid, g, d, a) in enumerate(
                            zip(ids, *(_values(col, len(ids)) for col in (scores.s_gen, scores.s_disc, scores.s_anom)))
                        )
                    ],
                )
        conn.execute(
            "UPDATE score_batch SET status = 'done', worker = %s, finished_at = now(), missing = %s "
            "WHERE run_id = %s AND batch_no = %s",
            (worker, missing, c.run_id, c.batch_no),
        )
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"event": "done", "run": c.run_id, "batch": c.batch_no, "worker": worker})))


def finish_run_if_done(conn: psycopg.Connection, run_id: int) -> bool:
    """Mark the run complete when every batch is done. Returns True if it is complete."""
    with conn.transaction():
        left = conn.execute("SELECT count(*) FROM score_batch WHERE run_id = %s AND status <> 'done'", (run_id,)).fetchone()[0]
        if left:
            return False
        conn.execute(
            "UPDATE score_run SET status = 'complete', finished_at = coalesce(finished_at, now()) WHERE id = %s",
            (run_id,),
        )
    return True


def work(
    url: str,
    run_id: int,
    scorer_factory: Callable[[], tuple[Callable, Any]],
    results_dir: Path,
    *,
    lease_seconds: float = 600.0,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Score batches of ``run_id`` until none is left (or ``max_batches``). Returns batches done.

    Args:
        url: libpq URL of the database.
        scorer_factory: builds ``(scorer, config)`` on first use (so an idle worker loads no
            model): ``scorer(images (B, H, W, C) float32) -> BatchScores`` (a score column
            may be ``None``, stored as NULL), ``config.image_size`` the packed image side.
        results_dir: folder of the run's result shards.
        lease_seconds: how long a claim is held before others may take the batch over.
        on_batch: called with the number of objects after each stored batch (progress).
    """
    worker = worker_name()
    done = 0
    scorer = cfg = None
    with db.connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (RUN_LOCK_CLASS, int(run_id) & 0x7FFFFFFF))  # alive
        conn.execute("UPDATE score_run SET status = 'running' WHERE id = %s AND status IN ('pending', 'interrupted')", (run_id,))
        while max_batches is None or done < max_batches:
            c = claim(conn, run_id, worker, lease_seconds)
            if c is None:
                wait = _seconds_to_next_expiry(conn, run_id)
                if wait is None:
                    break
                # Another worker holds the remaining batches: wake on its next completion,
                # or when the earliest lease expires (its worker may have died).
                for _ in conn.notifies(timeout=wait + 0.05, stop_after=1):
                    pass
                continue
            if scorer is None:
                scorer, cfg = scorer_factory()
            present, missing = _batch_members(conn, run_id, c)
            shard = None
            ids = np.array([p[0] for p in present], dtype=np.int64)
            scores = None
            if present:
                reals = read_rows([(uri, row) for _, uri, row in present])
                scores = scorer(reals)
                shard = Path(results_dir) / f"batch-{c.batch_no:06d}.h5"
                _write_result_shard(shard, ids, reals, scores.reconstruction)
            _store(conn, c, worker, ids, scores, shard, missing)
            done += 1
            if on_batch:
                on_batch(len(present) + len(missing))
        finish_run_if_done(conn, run_id)
    return done
