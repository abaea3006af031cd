"""Cutouts with bad pixels (issue 13.4): too small, all-NaN, NaN block and inf at the centre.

Decisions (docs/cutouts.md, "Pixel quality"): an IMAGE smaller than 32 x 32 pixels or with
no finite pixel is refused at ingest (kind ``pixels``), so the object lacks that band and
``pack`` skips it -- never a zero-filled channel. NaN/inf pixels elsewhere are stored and
packed (as 0, the sky level) with per-file (``cutout.quality``) and per-image
(``packed_image.quality``) flags that sample SQL can exclude; both summaries count them.
"""

from __future__ import annotations

import numpy as np
import psycopg
import typer
from typer.testing import CliRunner

from fitsfactory import write_hsc_cutout, write_object_cutouts
from hscanom.cli.cutouts import app as cutouts_app
from hscanom.cli.cutouts import ingest_cutouts as ingest_cutouts_command
from hscanom.ingest.cutouts import pixel_quality
from hscanom.ingest.pack import pack_sample, sample_shards
from hscanom.ingest.shards import iter_batches

RA0, DEC0 = 150.10, 2.20
ARCSEC = 1 / 3600.0
CLEAN, ALLNAN, BLOCK, INF, SMALL = (43_158_176_442_354_100 + k for k in range(5))
IDS = [CLEAN, ALLNAN, BLOCK, INF, SMALL]


def _nan_all(img):
    img[:] = np.nan


def _nan_block(img):  # 8 x 8 NaN block at the centre of a 64 x 64 image
    img[28:36, 28:36] = np.nan


def _inf_centre(img):
    img[32, 32] = np.inf


def _nan_corner(img):
    img[0, 0] = np.nan


def _write(folder):
    pos = {oid: (RA0 + k * 30 * ARCSEC, DEC0) for k, oid in enumerate(IDS)}
    with_edit = {(CLEAN, "g"): _nan_corner, (ALLNAN, "g"): _nan_all, (BLOCK, "i"): _nan_block, (INF, "r"): _inf_centre}
    for oid, (ra, dec) in pos.items():
        for k, band in enumerate("gri"):
            shape = (10, 10) if (oid, band) == (SMALL, "r") else (64, 64)
            write_hsc_cutout(folder / f"{oid}_HSC-{band.upper()}.fits", ra=ra, dec=dec, band=band, shape=shape,
                             flux=300 * (1 + 0.3 * k), seed=k, edit=with_edit.get((oid, band)))
    return pos


def _setup(url, folder):
    pos = _write(folder)
    with psycopg.connect(url) as conn:
        conn.cursor().executemany("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, %s)", [(o, *p) for o, p in pos.items()])
    return pos


def _sample(url, name, sql):
    with psycopg.connect(url) as conn:
        sid = conn.execute("INSERT INTO sample (name, sql) VALUES (%s, %s) RETURNING id", (name, sql)).fetchone()[0]
        ids = [r[0] for r in conn.execute(sql)]
        conn.cursor().executemany("INSERT INTO sample_member (sample_id, object_id, idx) VALUES (%s, %s, %s)", [(sid, o, k) for k, o in enumerate(ids)])
    return ids


def test_pixel_quality_flags():
    img = np.zeros((64, 64), np.float32)
    assert pixel_quality(img) == ((), 0)
    _nan_corner(img)
    assert pixel_quality(img) == (("nonfinite",), 1)
    _inf_centre(img)
    assert pixel_quality(img) == (("nonfinite", "nonfinite_centre"), 2)
    img[:] = -np.inf
    assert pixel_quality(img) == (("nonfinite", "nonfinite_centre"), 64 * 64)


def test_bad_pixels_are_refused_or_flagged_at_ingest_and_pack(db_url, tmp_path):
    _setup(db_url, tmp_path / "cut")
    app = typer.Typer()
    app.command()(ingest_cutouts_command)
    result = CliRunner().invoke(app, [str(tmp_path / "cut")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "15 files, 13 stored" in out
    assert "2 files with unusable pixels" in out
    assert f"{ALLNAN}_HSC-G.fits: IMAGE has no finite pixel (all 4096 are NaN or inf)" in out
    assert f"{SMALL}_HSC-R.fits: IMAGE is 10 x 10 pixels, smaller than the 32 x 32 minimum" in out
    assert "stored with pixel-quality flags: 3 nonfinite, 2 nonfinite_centre" in out
    assert f"object {ALLNAN} has no g-band FITS cutout" in out and f"object {SMALL} has no r-band FITS cutout" in out

    with psycopg.connect(db_url) as conn:
        flagged = conn.execute("SELECT object_id, band, quality, n_nonfinite FROM cutout WHERE quality <> '{}' ORDER BY object_id").fetchall()
        rejects = conn.execute("SELECT field, raw_value FROM ingest_reject WHERE field = 'IMAGE' ORDER BY raw_value").fetchall()
        details = conn.execute("SELECT details -> 'quality_flags', details -> 'rejects' -> 'pixels' FROM ingest_batch").fetchone()
    assert flagged == [
        (CLEAN, "g", ["nonfinite"], 1),
        (BLOCK, "i", ["nonfinite", "nonfinite_centre"], 64),
        (INF, "r", ["nonfinite", "nonfinite_centre"], 1),
    ]
    assert rejects == [("IMAGE", "10x10"), ("IMAGE", "all non-finite")]
    assert details == ({"nonfinite": 3, "nonfinite_centre": 2}, 2)

    # Pack everything: the all-NaN and the too-small objects are skipped, never zero-filled;
    # the others are packed (NaN/inf -> 0) with their flags.
    _sample(db_url, "all", "SELECT object_id FROM hsc_object ORDER BY object_id")
    result = CliRunner().invoke(cutouts_app, ["pack", "--sample", "all", "--size", "32", "--out", str(tmp_path / "sh")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "3 images packed" in out and "2 object(s) skipped" in out
    # The corner NaN of CLEAN's g file lies outside its 32 x 32 stamp: the stamp is clean.
    assert "packed with pixel-quality flags: 2 nonfinite, 2 nonfinite_centre" in out
    assert f"{ALLNAN}: no g-band FITS cutout" in out and f"{SMALL}: no r-band FITS cutout" in out
    with psycopg.connect(db_url) as conn:
        packed = dict(conn.execute("SELECT object_id, quality FROM packed_image").fetchall())
    assert packed == {CLEAN: [], BLOCK: ["nonfinite", "nonfinite_centre"], INF: ["nonfinite", "nonfinite_centre"]}
    ids, images = next(iter_batches(sample_shards("all", size=32), 10))
    assert ids.tolist() == [CLEAN, BLOCK, INF] and np.isfinite(images).all()
    # The NaN block is black in the i channel (R) only; the other bands still show the galaxy.
    assert (images[1, 12:20, 12:20, 0] == 0).all() and images[1, 12:20, 12:20, 1].max() > 0

    # A sample that excludes flagged objects, as docs/cutouts.md shows it.
    clean = _sample(
        db_url, "clean",
        "SELECT o.object_id FROM hsc_object o WHERE NOT EXISTS (SELECT 1 FROM cutout c WHERE c.object_id = o.object_id AND c.quality <> '{}') ORDER BY 1",
    )
    assert clean == [ALLNAN, SMALL]  # their usable files are clean; pack still skips them
    only_flag_centre = _sample(
        db_url, "no_centre_defects",
        "SELECT o.object_id FROM hsc_object o WHERE NOT EXISTS (SELECT 1 FROM cutout c WHERE c.object_id = o.object_id AND 'nonfinite_centre' = ANY(c.quality)) ORDER BY 1",
    )
    assert only_flag_centre == [CLEAN, ALLNAN, SMALL]


def test_pack_never_zero_fills_a_band_without_data(db_url, tmp_path):
    # A cutout row that points at an all-NaN file (stored by an older hscanom, or by hand):
    # pack refuses the object instead of packing a black channel.
    oid = CLEAN
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, %s)", (oid, RA0, DEC0))
    files = write_object_cutouts(tmp_path, oid, ra=RA0, dec=DEC0)
    write_hsc_cutout(files["r"], ra=RA0, dec=DEC0, band="r", edit=_nan_all)
    import hashlib

    with psycopg.connect(db_url) as conn:
        for band, path in files.items():
            conn.execute(
                "INSERT INTO cutout (object_id, band, uri, hdu, format, shape, sha256) VALUES (%s, %s, %s, 'IMAGE', 'fits', '{64,64}', %s)",
                (oid, band, str(path), hashlib.sha256(path.read_bytes()).hexdigest()),
            )
    _sample(db_url, "one", "SELECT object_id FROM hsc_object")
    report = pack_sample("one", size=32, out=tmp_path / "sh")
    assert report.packed == 0
    (skip,) = report.skipped
    assert skip.object_id == oid and "no finite pixel in the 32 x 32 stamp" in skip.reason and str(files["r"]) in skip.reason
