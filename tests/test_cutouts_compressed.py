"""Compressed FITS cutouts (issue 17.7): gzip, bzip2 and fpack tile compression, ingest and pack.

Files are read as astropy reads them (from the file object: gzip/bzip2 decompressed on the
fly, fpack ``CompImageHDU`` read as images); ``sha256`` stays the checksum of the file's
bytes on disk. Unrecognised names are reported by name, never skipped silently.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib

import numpy as np
import psycopg
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from fitsfactory import write_hsc_cutout
from hscanom.ingest.cutouts import FITS_SUFFIXES, ingest_cutouts, read_cutout_file
from hscanom.ingest.pack import pack_sample, sample_shards
from hscanom.ingest.shards import iter_batches
from hscanom.ml.preprocess import preprocess

RA0, DEC0 = 150.10, 2.20
ARCSEC = 1 / 3600.0
GZ, BZ, FZ, NOID = 43_158_176_442_354_300, 43_158_176_442_354_301, 43_158_176_442_354_302, 43_158_176_442_354_303
SIZE = 32


def _fpack(src, dst):
    """fpack-style tile compression (Rice, as fpack's default): every image HDU a CompImageHDU."""
    with fits.open(src) as hdul:
        out = [fits.PrimaryHDU(header=hdul[0].header)]
        out += [fits.CompImageHDU(h.data, header=h.header, name=h.name, compression_type="RICE_1") for h in hdul[1:]]
        fits.HDUList(out).writeto(dst, overwrite=True)


def _write(folder, oid, k, how, *, name=None):
    """g, r, i cutouts of an object, compressed with ``how`` ('gz', 'bz2', 'fz')."""
    ra = RA0 + k * 30 * ARCSEC
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for j, band in enumerate("gri"):
        stem = name or f"{oid}_HSC-{band.upper()}"
        plain = write_hsc_cutout(folder.parent / "plain" / f"{stem}.fits", ra=ra, dec=DEC0, band=band, flux=300 * (1 + 0.3 * j), seed=10 * k + j)
        target = folder / f"{stem}.fits.{how}"
        if how == "gz":
            target.write_bytes(gzip.compress(plain.read_bytes()))
        elif how == "bz2":
            target.write_bytes(bz2.compress(plain.read_bytes()))
        else:
            _fpack(plain, target)
        out[band] = target
    return ra, out


def test_suffixes():
    for name in ("a.fits.gz", "a.fits.bz2", "a.fits.fz", "a.fz", "a.fit.gz", "a.fts.fz", "A.FITS.GZ"):
        assert name.lower().endswith(FITS_SUFFIXES), name


def test_compressed_cutouts_ingest_and_pack(db_url, tmp_path):
    folder = tmp_path / "in"
    objects = {}
    for k, (oid, how) in enumerate([(GZ, "gz"), (BZ, "bz2"), (FZ, "fz")]):
        objects[oid] = _write(folder, oid, k, how)
    # Without an id in the name: matched through the WCS of the gzipped IMAGE.
    ra_noid, noid_files = _write(folder, NOID, 3, "gz", name=None)
    for band, p in list(noid_files.items()):
        p.rename(p.with_name(f"cutout-HSC-{band.upper()}-{ra_noid:.5f}.fits.gz"))
    # Broken and unknown files.
    whole = objects[GZ][1]["g"].read_bytes()
    (folder / f"{GZ}_broken_HSC-G.fits.gz").write_bytes(whole[: len(whole) // 2])
    fz = objects[FZ][1]["g"].read_bytes()
    (folder / f"{FZ}_broken_HSC-G.fits.fz").write_bytes(fz[: len(fz) - 300])
    (folder / "x_HSC-I.fits.xz").write_bytes(b"\xfd7zXZ\x00 whatever")
    (folder / "readme.md").write_text("hello")
    with psycopg.connect(db_url) as conn:
        rows = [(oid, ra, DEC0) for oid, (ra, _f) in objects.items()] + [(NOID, ra_noid, DEC0)]
        conn.cursor().executemany("INSERT INTO hsc_object (object_id, ra, dec) VALUES (%s, %s, %s)", rows)

    report = ingest_cutouts(folder, url=db_url)
    assert (report.n_files, report.stored) == (16, 12)
    assert report.counts() == {"unrecognised": 2, "corrupt": 2}, report.rejects
    unrecognised = sorted(r.reason for r in report.of_kind("unrecognised"))
    assert unrecognised[0].startswith(f"{folder / 'readme.md'}: unrecognised file name: not read")
    assert unrecognised[1].startswith(f"{folder / 'x_HSC-I.fits.xz'}: unrecognised file name")
    corrupt = sorted(r.reason for r in report.of_kind("corrupt"))
    assert f"{GZ}_broken_HSC-G.fits.gz: truncated or corrupt gzip stream" in corrupt[0]
    assert f"{FZ}_broken_HSC-G.fits.fz: truncated" in corrupt[1]

    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT object_id, band, uri, format, shape, sha256 FROM cutout").fetchall()
    assert len(stored) == 12
    for oid, band, uri, fmt, shape, sha in stored:
        assert (fmt, shape) == ("fits", [64, 64])
        assert sha == hashlib.sha256(open(uri, "rb").read()).hexdigest()  # over the compressed bytes
        assert uri.endswith((".gz", ".bz2", ".fz"))
    assert {(o, b) for o, b, *_r in stored} == {(o, b) for o in (GZ, BZ, FZ, NOID) for b in "gri"}

    f = read_cutout_file(objects[BZ][1]["r"])
    assert (f.band, f.shape, f.format) == ("r", (64, 64), "fits")

    # Pack the four objects from their compressed files.
    with psycopg.connect(db_url) as conn:
        sid = conn.execute("INSERT INTO sample (name, sql) VALUES ('z', 'x') RETURNING id").fetchone()[0]
        conn.cursor().executemany("INSERT INTO sample_member (sample_id, object_id, idx) VALUES (%s, %s, %s)",
                                  [(sid, o, k) for k, o in enumerate((GZ, BZ, FZ, NOID))])
    packed = pack_sample("z", size=SIZE, out=tmp_path / "sh", url=db_url)
    assert (packed.packed, packed.skipped) == (4, [])
    ids, images = next(iter_batches(sample_shards("z", size=SIZE, url=db_url), 10))
    assert ids.tolist() == [GZ, BZ, FZ, NOID]
    for row, oid in enumerate((GZ, BZ, FZ)):
        ra, files = objects[oid]
        stamps = []
        for band in "gri":
            with fits.open(files[band]) as hdul:  # astropy's own reading of the compressed file
                x, y = WCS(hdul["IMAGE"].header).world_to_pixel_values(ra, DEC0)
                stamps.append(Cutout2D(hdul["IMAGE"].data.astype(np.float32), (float(x), float(y)), SIZE, mode="partial", fill_value=0).data)
        np.testing.assert_array_equal(images[row], preprocess(*stamps))
