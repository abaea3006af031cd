"""WGAN-GP, encoder and score runs with tiny models on CPU, against the real database.

The fixture packs 40 smooth synthetic 32 x 32 images (ids > 2^53) into two shards and a
sample, as `hscanom cutouts pack` would; one WGAN + encoder (the `test` preset) is trained
per module and shared by the scoring tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import psycopg
import pytest

from hscanom.ingest.pack import pack_config
from hscanom.ingest.shards import ShardWriter
from hscanom.ml import jobs, runs
from hscanom.ml.config import preset

N = 40
SIZE = 32
BASE_ID = 2**62  # far above 2^53
CFG = preset("test", image_size=SIZE)


def _images(n: int, seed: int) -> np.ndarray:
    """Smooth blobs on a dark background, quantised to k/255 like packed images."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    out = np.zeros((n, SIZE, SIZE, 3), np.float32)
    for k in range(n):
        r2 = (xx - 16 + rng.normal(0, 1)) ** 2 + (yy - 16 + rng.normal(0, 1)) ** 2
        blob = np.exp(-r2 / (2 * rng.uniform(2, 5) ** 2))
        out[k] = blob[..., None] * rng.uniform(0.3, 1.0, 3)
    return np.floor(out * 255) / 255


def _make_sample(conn, name: str, ids: list[int]) -> int:
    sid = conn.execute("INSERT INTO sample (name, sql, n_members) VALUES (%s, 'test', %s) RETURNING id", (name, len(ids))).fetchone()[0]
    with conn.cursor().copy("COPY sample_member (sample_id, object_id, idx) FROM STDIN") as copy:
        for idx, oid in enumerate(sorted(ids)):
            copy.write_row((sid, oid, idx))
    return sid


def _pack(conn, sample_id: int, ids: list[int], images: np.ndarray, folder) -> None:
    """Register two shards as `hscanom cutouts pack` does (same config, key and index)."""
    for part, (lo, hi) in enumerate(((0, len(ids) // 2), (len(ids) // 2, len(ids)))):
        config = {**pack_config(SIZE), "index": part}
        with ShardWriter(folder / f"shard-{part}.h5", image_shape=(SIZE, SIZE, 3), config=config) as writer:
            writer.append(np.array(ids[lo:hi], np.int64), images[lo:hi])
        w = writer.written
        shard_id = conn.execute(
            "INSERT INTO image_shard (kind, uri, sha256, n_images, config, sample_id) VALUES ('packed', %s, %s, %s, %s, %s) RETURNING id",
            (str(w.path), w.sha256, w.n_images, json.dumps(config), sample_id),
        ).fetchone()[0]
        for row, oid in enumerate(ids[lo:hi]):
            conn.execute("INSERT INTO packed_image (shard_id, object_id, row) VALUES (%s, %s, %s)", (shard_id, oid, row))


@pytest.fixture(scope="module")
def trained(pg_cluster, template_db, tmp_path_factory):
    """A database with a packed sample 'train' and a trained WGAN + encoder."""
    name = "ml_module_db"
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    url = pg_cluster.url(name)
    home = tmp_path_factory.mktemp("home")
    ids = [BASE_ID + 7 * k for k in range(N)]
    with psycopg.connect(url, autocommit=True) as conn:
        for k, oid in enumerate(ids):
            conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, 1.0)", (oid, 10 + k * 1e-3))
        sid = _make_sample(conn, "train", ids)
        _pack(conn, sid, ids, _images(N, seed=1), home)
    steps = []
    wgan = runs.train_wgan(url, "train", CFG, home, progress=lambda s, t, l: steps.append(s))
    assert wgan.trained and wgan.directory.is_dir()
    wgan_id = wgan.model_id
    encoder_id = runs.train_encoder(url, wgan_id).model_id
    yield {"url": url, "home": home, "ids": ids, "wgan": wgan_id, "encoder": encoder_id, "steps": steps}
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_training_registers_models_and_is_reused(trained):
    assert trained["steps"] == list(range(1, CFG.iterations + 1))
    url = trained["url"]
    with psycopg.connect(url) as conn:
        kind, cfg, metrics, ckpt, sha = conn.execute(
            "SELECT kind, config, metrics, checkpoint_uri, sha256 FROM model WHERE id = %s", (trained["wgan"],)
        ).fetchone()
        enc_parent = conn.execute("SELECT parent_model_id FROM model WHERE id = %s", (trained["encoder"],)).fetchone()[0]
    assert kind == "wgan" and cfg["image_size"] == SIZE and len(sha) == 64
    assert metrics["n_train_images"] == N and os.path.getsize(metrics["samples_png"]) > 1000
    assert os.path.isdir(os.path.join(ckpt, "checkpoints"))
    assert enc_parent == trained["wgan"]
    # Same sample and configuration: the registered model is returned, nothing retrains.
    again = runs.train_wgan(url, "train", CFG, trained["home"], progress=lambda *a: pytest.fail("retrained"))
    assert (again.model_id, again.trained) == (trained["wgan"], False)


def test_killed_training_resumes_from_checkpoint(tmp_path):
    import tensorflow as tf

    from hscanom.ml.train import WganTrainer

    cfg = CFG.with_(iterations=6, checkpoint_every=2)
    data = tf.data.Dataset.from_tensor_slices(_images(16, 2)).repeat().batch(cfg.batch_size).batch(cfg.n_critic)

    def die_at_5(step, total, losses):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        WganTrainer(cfg, tmp_path).fit(data, die_at_5)
    result = WganTrainer(cfg, tmp_path).fit(data)
    assert result.resumed_from == 4
    assert [h["step"] for h in result.history][-1] == 6


def _run_rows(url, run_id):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT object_id, s_gen, s_disc, s_anom FROM anomaly_score WHERE run_id = %s ORDER BY object_id", (run_id,)).fetchall()


def test_score_writes_one_row_per_object_normalised_and_reproducible(trained):
    url = trained["url"]
    result = runs.score(url, trained["wgan"], "train", trained["home"], batch_size=16)
    run_id = result.run_id
    rows = _run_rows(url, run_id)
    assert (result.method, result.status, result.n_scored, result.reused) == ("wgan", "complete", len(trained["ids"]), False)
    assert result.high_anomaly_sample == f"run{run_id}-disc3sigma"
    assert [r[0] for r in rows] == trained["ids"]
    s_gen, s_disc, s_anom = (np.array([r[k] for r in rows]) for k in (1, 2, 3))
    np.testing.assert_allclose(s_anom, 0.7 * s_gen + 0.3 * s_disc, rtol=1e-5)
    with psycopg.connect(url) as conn:
        sig = np.array(conn.execute(
            "SELECT s_gen_sigma, s_disc_sigma, s_anom_sigma FROM anomaly_score_normalized WHERE run_id = %s", (run_id,)
        ).fetchall())
        status, params = conn.execute("SELECT status, params FROM score_run WHERE id = %s", (run_id,)).fetchone()
        high = conn.execute("SELECT n_members FROM sample WHERE name = %s", (f"run{run_id}-disc3sigma",)).fetchone()
        shard, row = conn.execute("SELECT s.uri, a.result_row FROM anomaly_score a JOIN image_shard s ON s.id = a.result_shard_id WHERE a.run_id = %s AND a.object_id = %s", (run_id, trained["ids"][3])).fetchone()
    np.testing.assert_allclose(sig.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(sig.std(axis=0), 1, atol=1e-9)
    assert status == "complete" and params["lambda_anom"] == 0.3 and params["iterations"] == 10
    assert high is not None
    import h5py

    with h5py.File(shard) as f:
        assert f["object_ids"][row] == trained["ids"][3]
        assert f["residuals"].dtype == np.uint8 and f["residuals"].shape[1:] == (SIZE, SIZE, 3)
    # Re-running a finished run is a no-op; scoring is reproducible for the same batches.
    rerun = runs.score(url, trained["wgan"], "train", trained["home"], batch_size=16)
    assert (rerun.run_id, rerun.reused, rerun.n_high) == (run_id, True, result.n_high)
    assert _run_rows(url, run_id) == rows
    scorer, _ = runs.load_scorer(url, trained["wgan"], trained["encoder"])
    again = scorer(_images(N, seed=1)[:16])
    np.testing.assert_array_equal(again.s_disc, s_disc[:16])


def test_member_without_images_is_reported_not_scored(trained):
    url = trained["url"]
    extra = BASE_ID + 10**6
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, 11, 1)", (extra,))
        _make_sample(conn, "with-missing", trained["ids"][:5] + [extra])
    run_id = runs.score(url, trained["wgan"], "with-missing", trained["home"], batch_size=4).run_id
    with psycopg.connect(url) as conn:
        missing = conn.execute("SELECT array_agg(m) FROM score_batch, unnest(missing) m WHERE run_id = %s", (run_id,)).fetchone()[0]
        scored = conn.execute("SELECT count(*) FROM anomaly_score WHERE run_id = %s AND object_id = %s", (run_id, extra)).fetchone()[0]
    assert missing == [extra] and scored == 0
    assert len(_run_rows(url, run_id)) == 5


def test_two_workers_split_the_work_without_overlap(trained):
    url = trained["url"]
    with psycopg.connect(url, autocommit=True) as conn:
        _make_sample(conn, "two-workers", trained["ids"])
    run_id = runs.score(url, trained["wgan"], "two-workers", trained["home"], batch_size=5, workers=2).run_id
    with psycopg.connect(url) as conn:
        workers = conn.execute("SELECT count(DISTINCT worker), count(*), max(attempts) FROM score_batch WHERE run_id = %s", (run_id,)).fetchone()
    assert [r[0] for r in _run_rows(url, run_id)] == trained["ids"]
    assert workers[1] == 8 and workers[2] == 1  # every batch claimed exactly once
    assert workers[0] >= 1


WORKER = textwrap.dedent(
    """
    import sys
    from functools import partial
    from hscanom.ml import jobs, runs
    url, run, wgan, enc, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    jobs.work(url, run, partial(runs.load_scorer, url, wgan, enc), out, lease_seconds=1.0)
    """
)


def test_sigkilled_worker_loses_nothing(trained):
    url = trained["url"]
    with psycopg.connect(url, autocommit=True) as conn:
        sid = _make_sample(conn, "killed", trained["ids"])
        params = runs.score_params(CFG, trained["encoder"], 10) | {"test": "sigkill"}
        run_id = jobs.create_run(conn, trained["wgan"], sid, params, 10)
        conn.execute(f"LISTEN {jobs.CHANNEL}")
        out = trained["home"] / "results" / f"run-{run_id}"
        proc = subprocess.Popen([sys.executable, "-c", WORKER, url, str(run_id), str(trained["wgan"]), str(trained["encoder"]), str(out)])
        for note in conn.notifies(timeout=120):
            event = json.loads(note.payload)
            if event["run"] == run_id and event["event"] == "claimed":
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        held = conn.execute("SELECT count(*) FROM score_batch WHERE run_id = %s AND status = 'running'", (run_id,)).fetchone()[0]
    assert held == 1  # killed mid-batch, holding its lease
    jobs.work(url, run_id, lambda: runs.load_scorer(url, trained["wgan"], trained["encoder"]), out, lease_seconds=1.0)
    assert [r[0] for r in _run_rows(url, run_id)] == trained["ids"]
    with psycopg.connect(url) as conn:
        attempts = conn.execute("SELECT max(attempts), bool_and(status = 'done') FROM score_batch WHERE run_id = %s", (run_id,)).fetchone()
        status = conn.execute("SELECT status FROM score_run WHERE id = %s", (run_id,)).fetchone()[0]
    assert attempts == (2, True) and status == "complete"


def test_scoring_runs_as_tasks_on_a_dask_cluster(trained):
    from dask.distributed import LocalCluster

    url = trained["url"]
    with psycopg.connect(url, autocommit=True) as conn:
        _make_sample(conn, "dask", trained["ids"][:12])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run_id = runs.score(url, trained["wgan"], "dask", trained["home"], batch_size=4, workers=2, scheduler=cluster.scheduler_address).run_id
    assert [r[0] for r in _run_rows(url, run_id)] == trained["ids"][:12]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT status FROM score_run WHERE id = %s", (run_id,)).fetchone()[0] == "complete"


def test_mixed_bfloat16_scores_track_float32_and_make_their_own_run(trained):
    url = trained["url"]
    x = _images(N, seed=1)[:8]
    exact, _ = runs.load_scorer(url, trained["wgan"], trained["encoder"])
    fast, _ = runs.load_scorer(url, trained["wgan"], trained["encoder"], precision="mixed_bfloat16")
    a, b = exact(x), fast(x)
    assert b.reconstruction.dtype == np.float32 and b.z.dtype == np.float32
    # bfloat16 keeps ~3 significant digits: the scores agree to a few percent, and rank alike.
    np.testing.assert_allclose(b.s_disc, a.s_disc, rtol=0.1)
    assert np.corrcoef(a.s_gen, b.s_gen)[0, 1] > 0.9
    with pytest.raises(ValueError, match="unknown precision"):
        runs.score(url, trained["wgan"], "train", trained["home"], precision="float8")
