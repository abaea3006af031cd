"""Packing a sample into HDF5 shards: content, centring, ids, skips, resume, checksums."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import psycopg
import pytest
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS
from typer.testing import CliRunner

from fitsfactory import PIXEL_SCALE, write_object_cutouts
from hscanom.cli.cutouts import app
from hscanom.ingest.cutouts import ingest_cutouts
from hscanom.ingest.pack import ShardChecksumError, pack_config, pack_sample, sample_shards, verify_shards
from hscanom.ingest.shards import Shard, iter_batches, read_rows
from hscanom.ml.preprocess import preprocess

BASE_ID = 2**62 + 1  # far beyond 2**53: float64 would round these ids
RA0, DEC0 = 30.0, -5.0
SIZE = 32
ARCSEC = 1 / 3600.0


def _dataset(url, folder, n, *, missing=None, offset_pix=0.0, samples=("s",)):
    """n objects with g, r, i cutouts (object ``missing`` lacks r), ingested; samples of all."""
    ids = [BASE_ID + 7 * k for k in range(n)]
    rows = [(oid, RA0 + k * 20 * ARCSEC, DEC0) for k, oid in enumerate(ids)]
    with psycopg.connect(url) as conn:
        conn.cursor().executemany("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, %s)", rows)
    for k, (oid, ra, dec) in enumerate(rows):
        # The file is centred offset_pix pixels east of the object; the blob sits on the object.
        file_ra = ra + offset_pix * PIXEL_SCALE * ARCSEC / np.cos(np.radians(dec))
        write_object_cutouts(folder, oid, ra=file_ra, dec=dec, blob=(ra, dec), bands="gi" if oid == missing else "gri", seed=k)
    report = ingest_cutouts(folder, url=url)
    assert report.stored == 3 * n - (missing is not None)
    with psycopg.connect(url) as conn:
        for name in samples:
            sid = conn.execute("INSERT INTO sample (name, sql) VALUES (%s, 'SELECT object_id FROM hsc_object') RETURNING id", (name,)).fetchone()[0]
            conn.cursor().executemany(
                "INSERT INTO sample_member (sample_id, object_id, idx) VALUES (%s, %s, %s)", [(sid, oid, k) for k, oid in enumerate(ids)]
            )
    return ids


def _all(paths):
    ids, images = zip(*iter_batches(paths, 7)) if paths else ((), ())
    return np.concatenate(ids), np.concatenate(images)


def test_pack_content_ids_and_registration(db_url, tmp_path):
    ids = _dataset(db_url, tmp_path / "cut", 11)
    report = pack_sample("s", size=SIZE, out=tmp_path / "shards", shard_size=4, batch_size=3)
    assert (report.packed, report.already_packed, report.skipped, len(report.written)) == (11, 0, [], 3)

    paths = sample_shards("s", size=SIZE)
    assert paths == [w.path for w in report.written] and [w.n_images for w in report.written] == [4, 4, 3]
    got_ids, images = _all(paths)
    assert got_ids.dtype == np.int64 and got_ids.tolist() == ids  # exact, in sample order
    assert images.dtype == np.float32 and images.shape == (11, SIZE, SIZE, 3)
    assert images.min() >= 0 and images.max() <= 1 and images.max() > 0.5

    # Each image is exactly the shared preprocessing of the three stamps cut around the object.
    stamps = []
    for band in "gri":
        path = tmp_path / "cut" / f"{ids[5]}_HSC-{band.upper()}.fits"
        with fits.open(path) as hdul:
            x, y = WCS(hdul["IMAGE"].header).world_to_pixel_values(RA0 + 5 * 20 * ARCSEC, DEC0)
            stamps.append(Cutout2D(hdul["IMAGE"].data.astype(np.float32), (float(x), float(y)), SIZE, mode="partial", fill_value=0).data)
    np.testing.assert_array_equal(images[5], preprocess(*stamps))

    with h5py.File(paths[0]) as f:
        assert f["images"].dtype == np.uint8 and f["images"].chunks[1:] == (SIZE, SIZE, 3)
        assert f["images"].compression == "gzip" and f["object_ids"].dtype == np.dtype("<i8")
        assert f.attrs["complete"] and json.loads(f.attrs["config"])["key"] == pack_config(SIZE)["key"]
    with psycopg.connect(db_url) as conn:
        shard_rows = conn.execute("SELECT id, uri, sha256, n_images, config FROM image_shard ORDER BY id").fetchall()
        packed = conn.execute(
            "SELECT s.uri, p.row, p.object_id FROM packed_image p JOIN image_shard s ON s.id = p.shard_id ORDER BY s.id, p.row"
        ).fetchall()
    assert [r[3] for r in shard_rows] == [4, 4, 3]
    config = shard_rows[0][4]
    assert (config["size"], config["bands"], config["preprocessing"]["Q"], config["preprocessing"]["stretch"]) == (SIZE, ["g", "r", "i"], 15.0, 0.5)
    assert config["preprocessing"]["function"] == "hscanom.ml.preprocess.preprocess"
    assert [r[2] for r in packed] == ids
    # Random access by (shard, row) gives the same pixels as streaming.
    np.testing.assert_array_equal(read_rows([(packed[k][0], packed[k][1]) for k in (10, 0, 6)]), images[[10, 0, 6]])
    with Shard(paths[1]) as shard:
        assert shard.verify_content() and len(shard) == 4
        np.testing.assert_array_equal(shard.read([3, 0]), images[[7, 4]])


def test_blob_off_centre_in_the_file_is_centred_in_the_stamp(db_url, tmp_path):
    # Each file is centred 20 pixels east of its object, and the blob sits on the object: the
    # stamp is cut around the object through the WCS, so the blob lands at the stamp centre.
    _dataset(db_url, tmp_path / "cut", 3, offset_pix=20.0)
    pack_sample("s", size=SIZE, out=tmp_path / "shards")
    _ids, images = _all(sample_shards("s", size=SIZE))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for image in images:
        light = image.sum(axis=-1)
        light = np.where(light > 0.5 * light.max(), light, 0)
        cy, cx = (light * yy).sum() / light.sum(), (light * xx).sum() / light.sum()
        assert abs(cx - (SIZE - 1) / 2) < 1.0 and abs(cy - (SIZE - 1) / 2) < 1.0
    # The object lies at x = 31.5 + 20 in the 64-pixel file (east is -x): the stamp reaches
    # 4 columns past the file's west edge, and those are padded with exactly 0.
    assert (images[:, :, -3:, :] == 0).all()
    assert (images[:, :, :20, :] > 0).mean() > 0.2  # sky noise elsewhere


def test_missing_band_objects_are_skipped_and_reported(db_url, tmp_path):
    ids = _dataset(db_url, tmp_path / "cut", 6, missing=BASE_ID + 7 * 2)
    report = pack_sample("s", size=SIZE, out=tmp_path / "shards", shard_size=4)
    assert [(s.object_id, s.reason) for s in report.skipped] == [(ids[2], "no r-band FITS cutout")]
    got, _images = _all(sample_shards("s", size=SIZE))
    assert got.tolist() == ids[:2] + ids[3:]
    with psycopg.connect(db_url) as conn:
        configs = [r[0] for r in conn.execute("SELECT config FROM image_shard ORDER BY id")]
    assert configs[0]["skipped"] == [{"object_id": ids[2], "reason": "no r-band FITS cutout"}]
    assert configs[1]["skipped"] == []

    # A re-run packs nothing new and still reports the object; once its r band arrives it is packed.
    again = pack_sample("s", size=SIZE, out=tmp_path / "shards", shard_size=4)
    assert (again.packed, again.already_packed, [s.object_id for s in again.skipped]) == (0, 5, [ids[2]])
    write_object_cutouts(tmp_path / "late", ids[2], ra=RA0 + 2 * 20 * ARCSEC, dec=DEC0, bands="r", seed=2)
    ingest_cutouts(tmp_path / "late")
    last = pack_sample("s", size=SIZE, out=tmp_path / "shards", shard_size=4)
    assert (last.packed, last.skipped) == (1, [])
    assert sorted(_all(sample_shards("s", size=SIZE))[0].tolist()) == sorted(ids)


def test_unreadable_file_is_skipped_with_its_name(db_url, tmp_path):
    ids = _dataset(db_url, tmp_path / "cut", 3)
    victim = tmp_path / "cut" / f"{ids[1]}_HSC-I.fits"
    victim.write_bytes(victim.read_bytes()[:5000])
    report = pack_sample("s", size=SIZE, out=tmp_path / "shards")
    (skipped,) = report.skipped
    assert skipped.object_id == ids[1] and skipped.reason.startswith(f"{victim}: content changed since ingest")
    assert report.packed == 2


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from hscanom.ingest.pack import pack_sample

    def die(n_written):
        if n_written >= 12:
            os.kill(os.getpid(), signal.SIGKILL)

    pack_sample("s", size=int(sys.argv[2]), out=sys.argv[1], shard_size=5, batch_size=4, on_batch=die)
    """
)


def test_resume_after_kill_equals_a_clean_pack(db_url, tmp_path):
    _dataset(db_url, tmp_path / "cut", 17, samples=("s", "clean"))
    out = tmp_path / "shards"
    child = subprocess.run([sys.executable, "-c", KILLER, str(out), str(SIZE)], capture_output=True, text=True)
    assert child.returncode == -9, child.stderr
    kept = sample_shards("s", size=SIZE)
    assert len(kept) == 2  # shards 0 and 1 complete (5 + 5); the third was being written
    assert len(list(out.glob("*.partial"))) == 1
    kept_sha = [c.path for c in verify_shards("s") if c.ok]
    assert kept_sha == kept

    resumed = pack_sample("s", size=SIZE, out=out, shard_size=5, batch_size=4)
    assert (resumed.already_packed, resumed.packed, resumed.kept) == (10, 7, kept)
    assert not list(out.glob("*.partial"))
    clean = pack_sample("clean", size=SIZE, out=tmp_path / "clean", shard_size=5, batch_size=4)
    assert clean.packed == 17

    ids_r, images_r = _all(sample_shards("s", size=SIZE))
    ids_c, images_c = _all(sample_shards("clean", size=SIZE))
    np.testing.assert_array_equal(ids_r, ids_c)
    np.testing.assert_array_equal(images_r, images_c)
    assert [len(Shard(p)) for p in sample_shards("s", size=SIZE)] == [5, 5, 5, 2]
    with psycopg.connect(db_url) as conn:
        n = conn.execute(
            "SELECT count(*), count(DISTINCT p.object_id) FROM packed_image p JOIN image_shard s ON s.id = p.shard_id "
            "JOIN sample ON sample.id = s.sample_id WHERE sample.name = 's'"
        ).fetchone()
    assert n == (17, 17)


def test_checksum_verification_detects_a_modified_shard(db_url, tmp_path):
    _dataset(db_url, tmp_path / "cut", 6)
    out = tmp_path / "shards"
    pack_sample("s", size=SIZE, out=out, shard_size=3)
    assert all(c.ok for c in verify_shards("s"))
    victim = sample_shards("s", size=SIZE)[1]
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF
    victim.write_bytes(bytes(data))

    (bad,) = [c for c in verify_shards("s") if not c.ok]
    assert bad.path == victim and "differs from the recorded" in bad.problem
    with pytest.raises(ShardChecksumError, match=str(victim)):
        pack_sample("s", size=SIZE, out=out, shard_size=3)

    runner = CliRunner()
    result = runner.invoke(app, ["verify", "--sample", "s"])
    assert result.exit_code == 1 and "1 of 2 shard(s) verified" in result.output
    result = runner.invoke(app, ["verify", "--sample", "s", "--repair"])
    assert result.exit_code == 1 and "(dropped)" in result.output
    assert not victim.exists()
    result = runner.invoke(app, ["pack", "--sample", "s", "--size", str(SIZE), "--out", str(out), "--shard-size", "3"])
    assert result.exit_code == 0, result.output
    assert "3 images packed" in result.output and "3 already packed" in result.output
    assert all(c.ok for c in verify_shards("s")) and len(verify_shards("s")) == 2


def test_cli_pack_errors_and_default_folder(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HSCANOM_HOME", str(tmp_path / "home"))
    _dataset(db_url, tmp_path / "cut", 2)
    runner = CliRunner()
    result = runner.invoke(app, ["pack", "--sample", "nope"])
    assert result.exit_code == 1 and "no sample named 'nope'" in result.output
    result = runner.invoke(app, ["pack", "--sample", "s", "--size", str(SIZE)])
    assert result.exit_code == 0, result.output
    (shard,) = sample_shards("s", size=SIZE)
    assert shard.parent == tmp_path / "home" / "shards" / "s"
