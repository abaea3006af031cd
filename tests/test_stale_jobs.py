"""Jobs whose process was killed (issue 13.4): a catalog ingest or a score run killed with
SIGKILL is found by the next command, marked failed / interrupted with its worker, shown by
`hscanom db status`, and live jobs are left alone; an interrupted score run resumes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import psycopg
from typer.testing import CliRunner

from hscanom.cli.db import app as db_app
from hscanom.ingest.batches import batch_lease, open_batch, recover_stale_batches
from hscanom.ingest.catalog import ingest_catalog
from hscanom.ml import jobs

#: A real catalog ingest that SIGKILLs its own process after its first block went to the server.
KILLED_INGEST = textwrap.dedent(
    """
    import os, signal, sys
    from hscanom.ingest import readers
    from hscanom.ingest.catalog import ingest_catalog
    readers.CSV_BLOCK_BYTES = 4096
    ingest_catalog(sys.argv[2], url=sys.argv[1], progress=lambda stage, done, total: os.kill(os.getpid(), signal.SIGKILL))
    """
)
#: A real score worker that claims a batch and is SIGKILLed before scoring it.
KILLED_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from hscanom.ml import jobs
    jobs.work(sys.argv[1], int(sys.argv[2]), lambda: os.kill(os.getpid(), signal.SIGKILL), Path(sys.argv[3]))
    """
)


def _rows(url, sql, args=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def test_killed_catalog_ingest_is_marked_failed_by_the_next_command_and_live_ones_are_not(db_url, tmp_path):
    path = tmp_path / "cat.csv"
    path.write_text("object_id,ra,dec\n" + "".join(f"{k},{k % 360},1\n" for k in range(1, 2001)))
    proc = subprocess.run([sys.executable, "-c", KILLED_INGEST, db_url, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (killed_id, status, worker), = _rows(db_url, "SELECT id, status, worker FROM ingest_batch")
    assert status == "running" and worker.startswith(socket.gethostname() + ":")
    with batch_lease(db_url) as lease:  # a live ingest of this process, holding its lock
        live_id = open_batch(db_url, "catalog", "/data/live.csv", lease=lease)
        result = CliRunner().invoke(db_app, ["status"])
        assert result.exit_code == 0, result.output
        assert "1 ingest batch(es) and 0 score run(s) left running" in result.output
        assert "interrupted (failed)" in result.output and worker in result.output
        states = dict(_rows(db_url, "SELECT id, status FROM ingest_batch"))
        assert states == {killed_id: "failed", live_id: "running"}
        assert recover_stale_batches(db_url) == []  # idempotent; the live one stays
    details = _rows(db_url, "SELECT details FROM ingest_batch WHERE id = %s", (killed_id,))[0][0]
    assert details["interrupted"] is True and worker in details["error"] and "rolled back" in details["error"]
    assert _rows(db_url, "SELECT count(*) FROM hsc_object") == [(0,)]  # nothing half-stored
    # the live batch's process is now done with it (lock released, row still running): the next ingest marks it
    again = ingest_catalog(path, url=db_url)
    assert again.rows_stored == 2000
    assert dict(_rows(db_url, "SELECT id, status FROM ingest_batch")) == {killed_id: "failed", live_id: "failed", again.batch_id: "complete"}


def _score_run(url) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        for k in range(1, 31):
            conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, 1.0)", (k, k * 0.01))
        sid = conn.execute("INSERT INTO sample (name, sql, n_members) VALUES ('s', 'SELECT object_id FROM hsc_object', 30) RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO sample_member (sample_id, object_id, idx) SELECT %s, object_id, object_id - 1 FROM hsc_object", (sid,))
        model = conn.execute("INSERT INTO model (kind) VALUES ('dcae') RETURNING id").fetchone()[0]
        return jobs.create_run(conn, model, sid, {"test": "stale"}, 10, method="dcae")


def test_killed_score_run_is_interrupted_shown_and_resumes(db_url, tmp_path):
    run_id = _score_run(db_url)
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-c", KILLED_WORKER, db_url, str(run_id), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _rows(db_url, "SELECT status FROM score_run") == [("running",)]
    held = _rows(db_url, "SELECT batch_no, worker FROM score_batch WHERE status = 'running'")
    assert len(held) == 1 and held[0][1].endswith(":" + held[0][1].rsplit(":", 1)[1])
    # a live worker of the run (this connection holds the run's lock as work() does) keeps it running
    with psycopg.connect(db_url, autocommit=True) as live:
        live.execute("SELECT pg_advisory_lock_shared(%s, %s)", (jobs.RUN_LOCK_CLASS, run_id))
        with psycopg.connect(db_url, autocommit=True) as conn:
            assert jobs.recover_stale_runs(conn) == []
    result = CliRunner().invoke(db_app, ["status"])
    assert result.exit_code == 0, result.output
    assert "0 ingest batch(es) and 1 score run(s) left running" in result.output
    assert "interrupted" in result.output and "0 of 3 batches done" in result.output
    assert _rows(db_url, "SELECT status FROM score_run") == [("interrupted",)]
    assert _rows(db_url, "SELECT count(*) FROM score_batch WHERE status = 'pending'") == [(3,)]
    # resumed by a worker: no member has packed images, so every batch completes with them recorded as missing
    done = jobs.work(db_url, run_id, lambda: (None, type("Cfg", (), {"image_size": 64})()), out)
    assert done == 3
    assert _rows(db_url, "SELECT status FROM score_run") == [("complete",)]
    assert _rows(db_url, "SELECT sum(cardinality(missing)) FROM score_batch") == [(30,)]
    assert json.dumps(_rows(db_url, "SELECT attempts FROM score_batch ORDER BY batch_no"))  # recorded
    assert os.path.isdir(tmp_path)
