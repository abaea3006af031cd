"""Cutout ingest: FITS and PNG/JPEG pointers, matching by name and by WCS, every bad-file case."""

from __future__ import annotations

import hashlib
import shutil

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from fitsfactory import PIXEL_SCALE, write_hsc_cutout, write_object_cutouts, write_rgb_png
from hscanom.cli.cutouts import ingest_cutouts as ingest_cutouts_command
from hscanom.ingest.cutouts import band_from_filter, band_from_name, ingest_cutouts, object_id_from_name

# Real-range HSC ids (17 digits) and one above 2**53 that a float64 cannot hold.
ID_A = 43_158_176_442_354_198
ID_B = 43_158_176_442_354_199
ID_C = 9_007_199_254_740_993  # 2**53 + 1
RA0, DEC0 = 150.10, 2.20
ARCSEC = 1 / 3600.0


def _objects(url, rows):
    with psycopg.connect(url) as conn:
        conn.cursor().executemany("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, %s)", rows)


def _cutouts(url):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT object_id, band, uri, hdu, format, rendered, shape, sha256, ingest_batch_id FROM cutout ORDER BY uri"
        ).fetchall()


def test_name_parsing():
    assert object_id_from_name(f"{ID_A}_HSC-I.fits") == ID_A
    assert object_id_from_name(f"cutout-{ID_C}-HSC-G-9813.fits") == ID_C
    assert object_id_from_name("cutout-HSC-I-9813-2,3-150.10000-2.20000.fits") is None
    assert object_id_from_name(f"{ID_A}_{ID_B}.png") is None  # ambiguous
    assert object_id_from_name("12345678901234567890.fits") is None  # 20 digits: not an id
    assert object_id_from_name("9999999999999999999.fits") is None  # beyond int64
    assert band_from_filter("HSC-I") == "i" and band_from_filter("HSC-R2") == "r" and band_from_filter("NB0921") is None
    assert band_from_name("x_HSC-I.fits") == "i" and band_from_name("cutout-HSC-G-9813.fits") == "g"
    assert band_from_name("x_HSC-I2.fits") == "i" and band_from_name("nothing.fits") is None


def test_fits_ingest_by_name_and_by_wcs(db_url, tmp_path):
    _objects(db_url, [(ID_A, RA0, DEC0), (ID_B, RA0 + 10 * ARCSEC, DEC0)])
    named = write_object_cutouts(tmp_path / "in", ID_A, ra=RA0, dec=DEC0)
    # No id in the name, a tract-wide WCS whose reference point lies far outside the cutout,
    # and the centre 0.6" from object B: matched through the WCS.
    by_wcs = write_object_cutouts(
        tmp_path / "in" / "sub", None, ra=RA0 + 10 * ARCSEC, dec=DEC0 + 0.6 * ARCSEC, seed=1, tract_centre=(150.0, 2.0)
    )
    report = ingest_cutouts(tmp_path / "in")

    assert (report.n_files, report.stored, report.unchanged, report.rejects) == (6, 6, 0, [])
    rows = _cutouts(db_url)
    assert len(rows) == 6
    expected = {str(p.resolve()): (ID_A, b) for b, p in named.items()} | {str(p.resolve()): (ID_B, b) for b, p in by_wcs.items()}
    for oid, band, uri, hdu, fmt, rendered, shape, sha, batch in rows:
        assert expected[uri] == (oid, band)
        assert (hdu, fmt, rendered, shape, batch) == ("IMAGE", "fits", False, [64, 64], report.batch_id)
        assert sha == hashlib.sha256(open(uri, "rb").read()).hexdigest()
    with psycopg.connect(db_url) as conn:
        batch = conn.execute(
            "SELECT kind, uri, status, rows_read, rows_stored, rows_rejected, finished_at IS NOT NULL FROM ingest_batch"
        ).fetchall()
    assert batch == [("cutouts", str((tmp_path / "in").resolve()), "complete", 6, 6, 0, True)]


def test_wcs_match_takes_the_nearest_within_one_arcsec(db_url, tmp_path):
    # Two objects within 1" of the centre (0.8" and 0.3"): the 0.3" one wins. Another file
    # lies 1.5" from its nearest object: no match.
    _objects(db_url, [(ID_A, RA0, DEC0 + 0.8 * ARCSEC), (ID_B, RA0, DEC0 - 0.3 * ARCSEC), (ID_C, RA0, DEC0 + 30 * ARCSEC)])
    write_hsc_cutout(tmp_path / "near-HSC-I.fits", ra=RA0, dec=DEC0, band="i")
    write_hsc_cutout(tmp_path / "far-HSC-I.fits", ra=RA0, dec=DEC0 + 31.5 * ARCSEC, band="i", seed=2)
    report = ingest_cutouts(tmp_path, bands=["i"])
    assert [(r[0], r[2].endswith("near-HSC-I.fits")) for r in _cutouts(db_url)] == [(ID_B, True)]
    (far,) = report.of_kind("no_match")
    assert "far-HSC-I.fits" in far.reason and "within 1 arcsec" in far.reason


def test_png_and_jpeg_ingest(db_url, tmp_path):
    _objects(db_url, [(ID_A, RA0, DEC0), (ID_C, RA0 + 0.01, DEC0)])
    png = write_rgb_png(tmp_path / f"{ID_C}.png")
    from PIL import Image

    jpeg = tmp_path / f"rgb_{ID_A}.jpg"
    Image.open(png).save(jpeg, quality=90)
    write_rgb_png(tmp_path / "no-id-here.png", seed=3)
    report = ingest_cutouts(tmp_path)

    rows = {r[0]: r for r in _cutouts(db_url)}
    assert set(rows) == {ID_A, ID_C}  # the id > 2**53 survives exactly
    assert rows[ID_C][1:7] == ("gri", str(png.resolve()), "", "png", True, [96, 96, 3])
    assert rows[ID_A][4:7] == ("jpeg", True, [96, 96, 3])
    (unmatched,) = report.of_kind("no_match")
    assert "no-id-here.png" in unmatched.reason and "matched by name only" in unmatched.reason
    assert report.missing_bands == {}  # rendered images are not FITS bands
    # The band of rendered images follows --bands when three are given.
    write_rgb_png(tmp_path / "other" / f"{ID_A}.png", seed=9)
    ingest_cutouts(tmp_path / "other", bands=["g", "r", "z"])
    assert sorted(r[1] for r in _cutouts(db_url)) == ["gri", "gri", "grz"]


def test_every_bad_file_is_reported_and_the_rest_is_stored(db_url, tmp_path):
    _objects(db_url, [(ID_A, RA0, DEC0), (ID_B, RA0 + 0.01, DEC0)])
    good = write_object_cutouts(tmp_path, ID_A, ra=RA0, dec=DEC0)
    partial_object = write_object_cutouts(tmp_path, ID_B, ra=RA0 + 0.01, dec=DEC0, bands="gi", seed=4)
    (tmp_path / "garbage_HSC-I.fits").write_bytes(b"this is not a FITS file" * 50)
    data = good["g"].read_bytes()
    (tmp_path / "cut_HSC-G.fits").write_bytes(data[: len(data) - 3000])  # truncated in VARIANCE
    (tmp_path / "cut2_HSC-G.fits").write_bytes(data[:8000])  # truncated in IMAGE
    png = write_rgb_png(tmp_path / "rgb" / f"{ID_A}.png").read_bytes()
    (tmp_path / "rgb" / f"{ID_B}.png").write_bytes(png[: len(png) // 2])  # truncated PNG
    write_object_cutouts(tmp_path, 43_158_176_442_000_000, ra=RA0, dec=DEC0, bands="r", seed=5)  # id not in hsc_object
    write_hsc_cutout(tmp_path / "nowhere-HSC-R.fits", ra=RA0 + 1.0, dec=DEC0, band="r", seed=6)  # WCS matches nothing
    shutil.copy(good["r"], tmp_path / f"copy-{ID_A}_HSC-R.fits")  # duplicate content
    write_hsc_cutout(tmp_path / f"{ID_A}_nofilter.fits", ra=RA0, dec=DEC0, band="z", filter_keyword=False, seed=7)
    (tmp_path / "notes.txt").write_text("not a cutout: reported by name, not read")

    report = ingest_cutouts(tmp_path)

    counts = report.counts()
    assert counts == {"unrecognised": 1, "corrupt": 4, "no_match": 2, "duplicate": 1, "band": 1, "missing_band": 1}
    reasons = {r.kind: [x.reason for x in report.of_kind(r.kind)] for r in report.rejects}
    assert any("garbage_HSC-I.fits: not a FITS file" in x for x in reasons["corrupt"])
    assert any("cut_HSC-G.fits: truncated" in x for x in reasons["corrupt"])
    assert any("cut2_HSC-G.fits: truncated" in x for x in reasons["corrupt"])
    assert any(f"{ID_B}.png: unreadable or truncated image" in x for x in reasons["corrupt"])
    assert any("43158176442000000 from the file name is not in hsc_object" in x for x in reasons["no_match"])
    assert any("nowhere-HSC-R.fits: no hsc_object within 1 arcsec" in x for x in reasons["no_match"])
    assert reasons["duplicate"] == [f"{tmp_path / f'copy-{ID_A}_HSC-R.fits'}: duplicate of {good['r']} (same sha256); not stored twice"]
    assert "_nofilter.fits: cannot tell the band" in reasons["band"][0]
    assert reasons["unrecognised"] == [f"{tmp_path / 'notes.txt'}: unrecognised file name: not read (expected .fits/.fit/.fts, optionally with .gz, .bz2 or .fz, a .fz fpack file, or .png/.jpg/.jpeg)"]
    assert report.missing_bands == {ID_B: ["r"]}
    assert reasons["missing_band"] == [f"object {ID_B} has no r-band FITS cutout (folder {tmp_path})"]

    stored = {(r[0], r[1]) for r in _cutouts(db_url)}
    assert stored == {(ID_A, "g"), (ID_A, "r"), (ID_A, "i"), (ID_B, "g"), (ID_B, "i"), (ID_A, "gri")}
    assert report.stored == 6
    with psycopg.connect(db_url) as conn:
        rejects = conn.execute("SELECT field, reason FROM ingest_reject WHERE batch_id = %s", (report.batch_id,)).fetchall()
        batch = conn.execute("SELECT status, rows_read, rows_stored, rows_rejected FROM ingest_batch").fetchone()
    assert len(rejects) == 10 and all(str(tmp_path) in reason or "object" in reason for _f, reason in rejects)
    assert batch == ("complete", 15, 6, 9)
    assert len(partial_object) == 2


def test_rerun_stores_nothing_new_and_refuses_changed_files(db_url, tmp_path):
    _objects(db_url, [(ID_A, RA0, DEC0), (ID_B, RA0 + 10 * ARCSEC, DEC0)])
    files = write_object_cutouts(tmp_path, ID_A, ra=RA0, dec=DEC0)
    write_object_cutouts(tmp_path, None, ra=RA0 + 10 * ARCSEC, dec=DEC0, seed=1)
    first = ingest_cutouts(tmp_path)
    before = _cutouts(db_url)
    second = ingest_cutouts(tmp_path)
    assert (first.stored, second.stored, second.unchanged, second.rejects) == (6, 0, 6, [])
    assert _cutouts(db_url) == before

    write_hsc_cutout(files["g"], ra=RA0, dec=DEC0, band="g", seed=99)  # same path, new content
    third = ingest_cutouts(tmp_path)
    (changed,) = third.of_kind("changed")
    assert changed.reason.startswith(f"{files['g']}: content changed since it was stored")
    assert _cutouts(db_url) == before


def test_cli_ingest_cutouts(db_url, tmp_path):
    _objects(db_url, [(ID_A, RA0, DEC0)])
    write_object_cutouts(tmp_path, ID_A, ra=RA0, dec=DEC0, bands="gr")
    (tmp_path / "bad_HSC-I.fits").write_bytes(b"SIMPLE  = nonsense")
    app = typer.Typer()
    app.command()(ingest_cutouts_command)
    result = CliRunner().invoke(app, [str(tmp_path), "--bands", "g,r,i"])
    assert result.exit_code == 0, result.output
    assert "3 files, 2 stored" in result.output
    assert "1 corrupt or truncated files" in result.output and "bad_HSC-I.fits" in result.output
    assert f"object {ID_A} has no i-band FITS cutout" in result.output
    bad = CliRunner().invoke(app, [str(tmp_path), "--bands", "g,q"])
    assert bad.exit_code == 1 and "unknown band(s) q" in bad.output
    missing = CliRunner().invoke(app, [str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not a folder" in missing.output


def test_the_factory_writes_hsc_like_files(tmp_path):
    # Guard on the helper: HSC layout, pixel scale, TAN projection, centre where asked.
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    assert PIXEL_SCALE == 0.168
    path = write_hsc_cutout(tmp_path / "probe.fits", ra=1.0, dec=0.0, band="g", tract_centre=(1.2, 0.1))
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE"]
        assert hdul[0].header["FILTER"] == "HSC-G"
        w = WCS(hdul["IMAGE"].header)
        assert w.wcs.ctype[0] == "RA---TAN"
        assert proj_plane_pixel_scales(w) * 3600 == pytest.approx([0.168, 0.168])
        assert w.pixel_to_world_values(31.5, 31.5) == pytest.approx((1.0, 0.0))
