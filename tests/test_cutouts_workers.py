"""``--workers N`` for cutout ingest and packing (issue 17.9): same results as one worker, resumable.

Worker processes read (checksum, FITS, WCS) and preprocess; the main process stores and
writes in file / ``idx`` order, so rows, reports and shards equal one worker's exactly.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import h5py
import numpy as np
import psycopg
import pytest

from fitsfactory import write_hsc_cutout, write_object_cutouts
from hscanom.ingest.cutouts import WorkerPool, ingest_cutouts
from hscanom.ingest.pack import pack_sample, sample_shards, verify_shards
from test_pack import SIZE, _all, _dataset

RA0, DEC0 = 150.10, 2.20
ARCSEC = 1 / 3600.0


def _square(x):
    return x * x


@pytest.fixture
def second_db(pg_cluster, template_db):
    name = "workers_second"
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    yield pg_cluster.url(name)
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_worker_pool_keeps_order():
    with WorkerPool(2) as pool:
        assert list(pool.imap(_square, range(25))) == [k * k for k in range(25)]
    with WorkerPool(1) as pool:
        assert list(pool.imap(_square, iter([3, 1, 2]))) == [9, 1, 4]
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        WorkerPool(0)


def _rows(url):
    with psycopg.connect(url) as conn:
        cut = conn.execute("SELECT object_id, band, uri, hdu, format, shape, sha256, quality, n_nonfinite FROM cutout ORDER BY id").fetchall()
        rej = conn.execute("SELECT field, raw_value, reason FROM ingest_reject ORDER BY id").fetchall()
        bat = conn.execute("SELECT rows_read, rows_stored, rows_rejected, details FROM ingest_batch").fetchall()
    return cut, rej, bat


def test_ingest_with_two_workers_equals_one(db_url, second_db, tmp_path):
    ids = [43_158_176_442_354_500 + k for k in range(12)]
    rows = [(oid, RA0 + k * 20 * ARCSEC, DEC0) for k, oid in enumerate(ids)]
    for k, (oid, ra, dec) in enumerate(rows):
        # half matched by name, half by WCS; one object lacks i
        write_object_cutouts(tmp_path / "in", oid if k % 2 else None, ra=ra, dec=dec, name=f"o{k}", bands="gr" if k == 3 else "gri", seed=k)
    (tmp_path / "in" / "junk_HSC-G.fits").write_bytes(b"SIMPLE  = garbage" * 10)
    write_hsc_cutout(tmp_path / "in" / "nan_HSC-I.fits", ra=RA0 + 50, dec=DEC0, band="i", edit=lambda a: a.fill(np.nan))
    (tmp_path / "in" / "notes.txt").write_text("x")
    for url in (db_url, second_db):
        with psycopg.connect(url) as conn:
            conn.cursor().executemany("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, %s)", rows)
    two = ingest_cutouts(tmp_path / "in", url=db_url, workers=2)
    one = ingest_cutouts(tmp_path / "in", url=second_db, workers=1)
    assert (two.n_files, two.stored, two.counts()) == (one.n_files, one.stored, one.counts()) == (38, 35, {"unrecognised": 1, "corrupt": 1, "pixels": 1, "missing_band": 1})
    assert [r.reason for r in two.rejects] == [r.reason for r in one.rejects]
    assert _rows(db_url) == _rows(second_db)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from hscanom.ingest.pack import pack_sample

    def die(n_written):
        if n_written >= 12:
            os.kill(os.getpid(), signal.SIGKILL)

    pack_sample("s", size=int(sys.argv[2]), out=sys.argv[1], shard_size=5, batch_size=4, on_batch=die, workers=2)
    """
)


def test_pack_with_two_workers_equals_one_and_resumes_after_kill(db_url, tmp_path):
    _dataset(db_url, tmp_path / "cut", 17, samples=("s", "one"))
    out = tmp_path / "shards"
    child = subprocess.run([sys.executable, "-c", KILLER, str(out), str(SIZE)], capture_output=True, text=True, timeout=600)
    assert child.returncode == -9, child.stderr
    kept = sample_shards("s", size=SIZE)
    assert len(kept) == 2 and all(c.ok for c in verify_shards("s"))
    resumed = pack_sample("s", size=SIZE, out=out, shard_size=5, batch_size=4, workers=2)
    assert (resumed.already_packed, resumed.packed) == (10, 7)
    single = pack_sample("one", size=SIZE, out=tmp_path / "one", shard_size=5, batch_size=4, workers=1)
    assert single.packed == 17

    ids_w, images_w = _all(sample_shards("s", size=SIZE))
    ids_1, images_1 = _all(sample_shards("one", size=SIZE))
    np.testing.assert_array_equal(ids_w, ids_1)
    np.testing.assert_array_equal(images_w, images_1)
    for a, b in zip(sample_shards("s", size=SIZE), sample_shards("one", size=SIZE), strict=True):
        with h5py.File(a) as fa, h5py.File(b) as fb:
            assert (fa.attrs["ids_sha256"], fa.attrs["images_sha256"]) == (fb.attrs["ids_sha256"], fb.attrs["images_sha256"])
    with psycopg.connect(db_url) as conn:
        q = conn.execute(
            "SELECT sample.name, p.object_id, p.row, p.quality FROM packed_image p JOIN image_shard s ON s.id = p.shard_id "
            "JOIN sample ON sample.id = s.sample_id ORDER BY sample.name, s.id, p.row"
        ).fetchall()
    assert [r[1:] for r in q if r[0] == "s"] == [r[1:] for r in q if r[0] == "one"]
