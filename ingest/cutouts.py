"""Cutout ingest: pointers to image files, with checksums, matched to ``hsc_object``.

Pixels stay in the files; :func:`ingest_cutouts` records one ``cutout`` row per file
(absolute path, HDU, format, band, pixel shape, sha256) and reports what it refused.

Accepted files (found recursively under a folder):

* FITS cutouts as the HSC cutout service returns them (``.fits``, ``.fit``, ``.fts``, each
  also gzip ``.gz``, bzip2 ``.bz2`` or fpack ``.fz`` compressed; read by astropy from the file
  object, the sha256 over the bytes on disk): one file per object and band, the ``IMAGE`` extension holding the flux
  with a TAN WCS (0.168"/pixel), usually followed by ``MASK`` and ``VARIANCE``. The band is
  the primary (or ``IMAGE``) header's ``FILTER`` (``HSC-I``, ``HSC-I2``, ``HSC-R2`` ... map
  to ``i``, ``r`` ...), or else an ``HSC-<band>`` token in the file name.
* Pre-rendered RGB cutouts (``.png``, ``.jpg``, ``.jpeg``, e.g. 96 x 96 gri): stored with
  ``rendered = true`` and band ``'gri'`` (or the three ``bands`` given).

Matching to ``hsc_object``: by an object_id in the file name (a 15 to 19 digit token that
fits in int64; exactly one distinct such token), else -- FITS only -- by the sky position of
the central pixel of ``IMAGE`` through its WCS, to the nearest object within 1 arcsec (Q3C).

Refused files become ``ingest_reject`` rows (``reason`` always names the file) and the run
goes on: files with an unrecognised name (reported, never skipped silently), corrupt or truncated files, files that match no object, duplicates (same sha256 as
a stored cutout or an earlier file of the run), files whose content changed since they were
stored. Objects lacking one of ``bands`` are reported too. A file already stored with the
same content is skipped, so re-running on a folder stores nothing new.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import re
import zlib
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from astropy.io import fits
from astropy.wcs import WCS

from hscanom import db
from hscanom.ingest import batches
from hscanom.progress import Progress

__all__ = [
    "FITS_SUFFIXES",
    "MATCH_RADIUS_ARCSEC",
    "RGB_SUFFIXES",
    "CutoutFile",
    "CutoutFileError",
    "CutoutIngestReport",
    "CutoutReject",
    "band_from_filter",
    "band_from_name",
    "find_cutout_files",
    "ingest_cutouts",
    "WorkerPool",
    "object_id_from_name",
    "pixel_quality",
    "read_cutout_file",
    "write_request_lists",
]

#: File name endings read as FITS cutouts: plain, gzip- or bzip2-compressed, or fpack
#: tile-compressed (``.fz``); astropy reads them all (decompressing as it reads).
FITS_SUFFIXES = tuple(f"{b}{c}" for b in (".fits", ".fit", ".fts") for c in ("", ".gz", ".bz2", ".fz")) + (".fz",)
#: File name endings read as pre-rendered RGB cutouts.
RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Largest distance between a cutout's central pixel and its object [arcsec].
MATCH_RADIUS_ARCSEC = 1.0
#: Files handled per database transaction.
CHUNK_FILES = 500
#: Smallest IMAGE side accepted [pixels]: 32 px = 5.4" at 0.168"/px. Smaller files cannot
#: give a stamp that is mostly real pixels (a 96 x 96 stamp from a 10 x 10 file is 99 % fill).
MIN_IMAGE_SIDE = 32
#: Side of the central box whose non-finite pixels set the ``nonfinite_centre`` flag [pixels].
CENTRE_BOX = 16

_INT64_MAX = 2**63 - 1
_ID_TOKEN = re.compile(r"(?<![0-9])([0-9]{15,19})(?![0-9])")
_FILTER = re.compile(r"^HSC-([GRIZY])2?$", re.IGNORECASE)
_NAME_FILTER = re.compile(r"(?:^|[-_.])HSC-([GRIZY])2?(?=[-_.])", re.IGNORECASE)
_FITS_BLOCK = 2880
#: Reason given for a file whose name hscanom does not read.
UNRECOGNISED = (
    "unrecognised file name: not read (expected .fits/.fit/.fts, optionally with .gz, .bz2 or .fz, "
    "a .fz fpack file, or .png/.jpg/.jpeg)"
)


class CutoutFileError(ValueError):
    """A file that cannot be ingested; the message names the file and the reason."""

    def __init__(self, path: Path, reason: str, *, kind: str = "corrupt", field: str = "file", value: str | None = None):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason, self.kind, self.field, self.value = path, reason, kind, field, value


@dataclass(frozen=True)
class CutoutFile:
    """What :func:`read_cutout_file` learnt from one file.

    Attributes:
        path: absolute path.
        sha256: hex checksum of the file's bytes.
        format: ``'fits'``, ``'png'`` or ``'jpeg'``.
        band: ``g``..``y`` for FITS; three bands (e.g. ``'gri'``) for a rendered image.
        hdu: HDU holding the pixels (``'IMAGE'``), ``''`` for PNG/JPEG.
        shape: pixel array shape, numpy order: (ny, nx) or (ny, nx, 3).
        rendered: True for pre-rendered RGB images.
        object_id: the object_id in the file name, if any.
        centre: (ra, dec) of the central pixel from the WCS [deg] (FITS only).
        quality: pixel-quality flags of ``IMAGE`` (:func:`pixel_quality`); () for PNG/JPEG.
        n_nonfinite: number of NaN/inf pixels in ``IMAGE``.
    """

    path: Path
    sha256: str
    format: str
    band: str
    hdu: str
    shape: tuple[int, ...]
    rendered: bool
    object_id: int | None
    centre: tuple[float, float] | None
    quality: tuple[str, ...] = ()
    n_nonfinite: int = 0


@dataclass(frozen=True)
class CutoutReject:
    """A refused file (or, for ``kind='missing_band'``, an object lacking a band).

    ``kind`` is one of ``corrupt``, ``pixels`` (IMAGE too small or without a finite pixel),
    ``band``, ``no_match``, ``duplicate``, ``changed``, ``missing_band``.
    """

    kind: str
    path: str | None
    field: str
    value: str | None
    reason: str


@dataclass
class CutoutIngestReport:
    """Outcome of :func:`ingest_cutouts`.

    Attributes:
        batch_id: the ``ingest_batch`` row of the run.
        directory: folder ingested.
        n_files: files found (unrecognised ones included: they are reported).
        stored: new ``cutout`` rows.
        unchanged: files already stored with the same content (skipped).
        rejects: refused files and objects lacking a band, in the order found.
        missing_bands: object_id -> bands (of ``bands``) it has no FITS cutout in.
        flagged: quality flag -> number of new ``cutout`` rows stored with it.
    """

    batch_id: int
    directory: Path
    n_files: int = 0
    stored: int = 0
    unchanged: int = 0
    rejects: list[CutoutReject] = field(default_factory=list)
    missing_bands: dict[int, list[str]] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[CutoutReject]:
        """The rejects of one ``kind``."""
        return [r for r in self.rejects if r.kind == kind]

    def counts(self) -> dict[str, int]:
        """Number of rejects of each kind."""
        out: dict[str, int] = {}
        for r in self.rejects:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out


# -- reading one file ----------------------------------------------------------------------
def object_id_from_name(name: str) -> int | None:
    """The HSC object_id written in a file name, or None.

    An id is a run of 15 to 19 digits (not part of a longer run) that fits in int64. When
    the name holds several different such tokens it is ambiguous and None is returned.
    """
    ids = {int(t) for t in _ID_TOKEN.findall(name)}
    ids = {i for i in ids if i <= _INT64_MAX}
    return ids.pop() if len(ids) == 1 else None


def band_from_filter(value: str) -> str | None:
    """``'HSC-I'``, ``'HSC-I2'``, ``'HSC-R2'``, ... -> ``'i'``, ``'i'``, ``'r'``; None otherwise."""
    m = _FILTER.match(value.strip())
    return m.group(1).lower() if m else None


def band_from_name(name: str) -> str | None:
    """The band of an ``HSC-<band>`` token in a file name (``..._HSC-I.fits``, ``-HSC-R2-``)."""
    m = _NAME_FILTER.search(name)
    return m.group(1).lower() if m else None


def pixel_quality(pixels: np.ndarray, *, centre_box: int = CENTRE_BOX) -> tuple[tuple[str, ...], int]:
    """Quality flags and non-finite count of a 2-d image.

    Flags: ``'nonfinite'`` when any pixel is NaN or +-inf; ``'nonfinite_centre'`` when any of
    them lies in the central ``centre_box x centre_box`` pixels (the galaxy itself), where
    the 0 that replaces it (:mod:`hscanom.ml.preprocess`) changes the object's appearance.

    Args:
        pixels: (ny, nx) array.
        centre_box: side of the central box [pixels].

    Returns:
        (flags, number of non-finite pixels).
    """
    bad = ~np.isfinite(pixels)
    n_bad = int(bad.sum())
    if not n_bad:
        return (), 0
    ny, nx = bad.shape
    y0, x0 = max((ny - centre_box) // 2, 0), max((nx - centre_box) // 2, 0)
    centre = bool(bad[y0 : y0 + centre_box, x0 : x0 + centre_box].any())
    return ("nonfinite", "nonfinite_centre") if centre else ("nonfinite",), n_bad


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(FITS_SUFFIXES):
        return "fits"
    if name.endswith(RGB_SUFFIXES):
        return "rgb"
    return None


def find_cutout_files(directory: Path) -> list[Path]:
    """Image files (FITS, PNG, JPEG) under ``directory``, recursively, sorted, absolute."""
    return [p for p in find_all_files(directory) if _kind_of(p) is not None]


def find_all_files(directory: Path) -> list[Path]:
    """Every file under ``directory``, recursively, sorted, absolute (unrecognised ones included)."""
    directory = Path(directory).resolve()
    return sorted(p for p in directory.rglob("*") if p.is_file())


def _compression(data: bytes) -> str | None:
    """``'gzip'`` or ``'bzip2'`` from the magic bytes (as astropy tells them), else None."""
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"BZh"):
        return "bzip2"
    return None


def _decompressed_size(path: Path, data: bytes, compression: str) -> int:
    """Length of the decompressed stream; a truncated or corrupt stream is refused."""
    try:
        return len(gzip.decompress(data) if compression == "gzip" else bz2.decompress(data))
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise CutoutFileError(path, f"truncated or corrupt {compression} stream: {exc}") from None


def open_fits(path: Path, fh, data: bytes):
    """Open a FITS file as astropy does, from its open binary file object ``fh``.

    astropy recognises gzip and bzip2 streams by their magic bytes and decompresses them as it
    reads, and reads fpack tile-compressed HDUs (``CompImageHDU``) as images; ``data`` (the
    file's bytes, already read for the sha256) only serves the checks.

    Raises:
        CutoutFileError: not FITS, or a compressed stream that is truncated or corrupt.
    """
    compression = _compression(data)
    if compression is None and not data.startswith(b"SIMPLE"):
        raise CutoutFileError(path, "not a FITS file (no SIMPLE card at the start, and not gzip or bzip2)")
    fh.seek(0)
    try:
        return fits.open(fh, lazy_load_hdus=False, memmap=False), compression
    except Exception as exc:  # astropy raises OSError, TypeError, ValueError ... on bad bytes
        raise CutoutFileError(path, f"unreadable FITS{f' ({compression})' if compression else ''}: {exc}") from None


def _read_fits(path: Path, fh, data: bytes) -> tuple[str, tuple[int, ...], tuple[float, float], tuple[str, ...], int]:
    """Band, IMAGE shape, central-pixel (ra, dec), quality flags and non-finite count of a FITS cutout."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hdul, compression = open_fits(path, fh, data)
        with hdul:
            problems = [str(w.message) for w in caught if "truncated" in str(w.message) or "Error validating header" in str(w.message)]
            if problems:
                raise CutoutFileError(path, f"truncated or corrupt FITS: {problems[0]}")
            size = len(data) if compression is None else _decompressed_size(path, data, compression)
            end = max(h.fileinfo()["datLoc"] + h.fileinfo()["datSpan"] for h in hdul)
            if size < end or size % _FITS_BLOCK:
                what = f"{size} bytes" if compression is None else f"{size} bytes once decompressed ({compression})"
                raise CutoutFileError(path, f"truncated FITS: {what}, the HDUs need {end}")
            if "IMAGE" not in hdul:
                raise CutoutFileError(path, f"no IMAGE HDU (HDUs: {', '.join(h.name for h in hdul)})", field="hdu")
            image = hdul["IMAGE"]
            try:
                pixels = image.data
            except Exception as exc:
                raise CutoutFileError(path, f"truncated or corrupt IMAGE data: {exc}") from None
            if pixels is None or pixels.ndim != 2:
                raise CutoutFileError(path, f"IMAGE is not a 2-d image (shape {None if pixels is None else pixels.shape})", field="hdu")
            if min(pixels.shape) < MIN_IMAGE_SIDE:
                ny, nx = pixels.shape
                raise CutoutFileError(
                    path, f"IMAGE is {nx} x {ny} pixels, smaller than the {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} minimum",
                    kind="pixels", field="IMAGE", value=f"{nx}x{ny}",
                )
            quality, n_bad = pixel_quality(pixels)
            if n_bad == pixels.size:
                raise CutoutFileError(
                    path, f"IMAGE has no finite pixel (all {pixels.size} are NaN or inf): no data in this band",
                    kind="pixels", field="IMAGE", value="all non-finite",
                )
            filt = hdul[0].header.get("FILTER") or image.header.get("FILTER")
            band = band_from_filter(str(filt)) if filt else band_from_name(path.name)
            if band is None:
                why = f"FILTER = {filt!r} is not an HSC broad band" if filt else "no FILTER keyword and no HSC-<band> in the file name"
                raise CutoutFileError(path, f"cannot tell the band: {why}", kind="band", field="FILTER", value=str(filt) if filt else None)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    wcs = WCS(image.header)
                if not wcs.has_celestial:
                    raise ValueError("no celestial WCS in the IMAGE header")
                ny, nx = pixels.shape
                ra, dec = wcs.celestial.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0)
            except Exception as exc:
                raise CutoutFileError(path, f"bad WCS: {exc}", field="WCS") from None
            if not (np.isfinite(ra) and np.isfinite(dec)):
                raise CutoutFileError(path, "bad WCS: the central pixel has no sky position", field="WCS")
            return band, tuple(int(n) for n in pixels.shape), (float(ra) % 360.0, float(dec)), quality, n_bad


def _read_rgb(path: Path, data: bytes) -> tuple[str, tuple[int, ...]]:
    """Format (``png``/``jpeg``) and (ny, nx, 3) shape of a rendered RGB image's bytes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # decodes everything: raises on truncated data
            fmt, mode, (w, h) = img.format, img.mode, img.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise CutoutFileError(path, f"unreadable or truncated image: {exc}") from None
    if fmt not in ("PNG", "JPEG"):
        raise CutoutFileError(path, f"expected PNG or JPEG, found {fmt}")
    if mode != "RGB":
        raise CutoutFileError(
            path, f"{describe_mode(mode)}, not 8-bit RGB: rendered cutouts must be 8-bit RGB (gri)",
            kind="rendered", field="mode", value=mode,
        )
    return fmt.lower(), (h, w, 3)


def describe_mode(mode: str) -> str:
    """A PIL image mode in words: ``'L'`` -> ``'a greyscale image (mode L)'``."""
    words = {
        "L": "a greyscale image", "LA": "a greyscale image with alpha", "1": "a 1-bit image", "P": "a palette image",
        "RGBA": "an RGB image with alpha", "CMYK": "a CMYK image", "I": "a 32-bit integer image", "F": "a floating-point image",
        "I;16": "a 16-bit greyscale image", "I;16B": "a 16-bit greyscale image", "YCbCr": "a YCbCr image",
    }
    return f"{words.get(mode, 'an image')} (mode {mode})"


def read_cutout_file(path: str | Path, *, rgb_band: str = "gri") -> CutoutFile:
    """Read, check and checksum one cutout file.

    Args:
        path: a FITS or PNG/JPEG file.
        rgb_band: band recorded for rendered RGB images.

    Raises:
        CutoutFileError: the file is corrupt, truncated, not an image, or of unknown band.
    """
    path = Path(path).resolve()
    kind = _kind_of(path)
    if kind is None:
        raise CutoutFileError(path, UNRECOGNISED, kind="unrecognised", value=path.name)
    try:
        with path.open("rb") as fh:
            data = fh.read()
            if not data:
                raise CutoutFileError(path, "empty file")
            sha = hashlib.sha256(data).hexdigest()
            oid = object_id_from_name(path.name)
            if kind == "fits":
                band, shape, centre, quality, n_bad = _read_fits(path, fh, data)
                return CutoutFile(path, sha, "fits", band, "IMAGE", shape, False, oid, centre, quality, n_bad)
    except OSError as exc:
        raise CutoutFileError(path, f"cannot read: {exc.strerror or exc}") from None
    fmt, shape = _read_rgb(path, data)
    return CutoutFile(path, sha, fmt, rgb_band, "", shape, True, oid, None)


class WorkerPool:
    """An ordered, bounded parallel map: one process, local worker processes, or a Dask cluster.

    ``imap(fn, items)`` yields ``fn(item)`` **in the order of** ``items`` whatever the number of
    workers, so results are the same as one worker's; at most ``lookahead`` items are in
    flight (memory stays bounded). ``fn`` must be a module-level function and must return,
    not raise, its per-item problems. With ``scheduler`` (``tcp://host:8786``) the items run as
    Dask tasks, as ``hscanom score --scheduler`` does; otherwise ``workers`` > 1 starts a
    ``spawn`` process pool on this machine (no inherited database connections).

    Args:
        workers: processes (local) or concurrent tasks (Dask); 1 runs in this process.
        scheduler: address of a Dask scheduler.
        lookahead: items in flight per worker.

    Raises:
        ValueError: ``workers`` < 1.
    """

    def __init__(self, workers: int = 1, scheduler: str | None = None, lookahead: int = 2):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1 (got {workers})")
        self.workers, self.scheduler, self.lookahead = workers, scheduler, lookahead
        self._pool = self._client = None

    def __enter__(self) -> WorkerPool:
        if self.scheduler:
            from dask.distributed import Client

            self._client = Client(self.scheduler)
        elif self.workers > 1:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=get_context("spawn"), initializer=_exit_with_parent, initargs=(os.getpid(),)
            )
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def imap(self, fn: Callable, items: Iterable) -> Iterator:
        """``fn(item)`` for each item, in order."""
        if self._pool is None and self._client is None:
            for item in items:
                yield fn(item)
            return
        submit = self._pool.submit if self._pool is not None else (lambda f, x: self._client.submit(f, x, pure=False))
        pending: deque = deque()
        for item in items:
            pending.append(submit(fn, item))
            if len(pending) >= self.workers * self.lookahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """Worker initializer: exit as soon as the parent process is gone (e.g. killed with SIGKILL).

    A pool worker waits on a queue whose write end it holds itself, so it would otherwise
    outlive a killed parent forever.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _read_or_reject(args: tuple[Path, str]) -> CutoutFile | CutoutReject:
    """:func:`read_cutout_file` for a worker: a refused file comes back as its reject."""
    path, rgb_band = args
    try:
        return read_cutout_file(path, rgb_band=rgb_band)
    except CutoutFileError as exc:
        return CutoutReject(exc.kind, str(exc.path), exc.field, exc.value, str(exc))


def _record_rejects(conn: psycopg.Connection, batch_id: int, rejects: Sequence[CutoutReject]) -> None:
    batches.record_rejects(conn, batch_id, (batches.Reject(None, r.field, r.value, r.reason) for r in rejects))


# -- matching and storing ------------------------------------------------------------------
def _match_by_position(conn: psycopg.Connection, files: Sequence[CutoutFile]) -> dict[Path, int]:
    """Nearest ``hsc_object`` within :data:`MATCH_RADIUS_ARCSEC` of each file's centre (Q3C)."""
    if not files:
        return {}
    rows = conn.execute(
        """SELECT DISTINCT ON (f.k) f.k, o.object_id
           FROM unnest(CAST(%(k)s AS int[]), CAST(%(ra)s AS float8[]), CAST(%(dec)s AS float8[])) AS f(k, ra, dec)
           JOIN hsc_object o ON q3c_join(f.ra, f.dec, o.ra, o.dec, %(radius)s)
           ORDER BY f.k, q3c_dist(f.ra, f.dec, o.ra, o.dec), o.object_id""",
        {
            "k": list(range(len(files))),
            "ra": [f.centre[0] for f in files],
            "dec": [f.centre[1] for f in files],
            "radius": MATCH_RADIUS_ARCSEC / 3600.0,
        },
    )
    return {files[k].path: int(oid) for k, oid in rows}


def _store_chunk(conn: psycopg.Connection, batch_id: int, files: list[CutoutFile], seen: dict[str, str], report: CutoutIngestReport, touched: set[int]) -> None:
    """Classify one chunk of read files, insert the new ``cutout`` rows and the rejects."""
    rejects: list[CutoutReject] = []

    def reject(f: CutoutFile, kind: str, fld: str, value: str | None, reason: str) -> None:
        rejects.append(CutoutReject(kind, str(f.path), fld, value, f"{f.path}: {reason}"))

    stored_by_uri = {
        (uri, hdu): (sha, oid)
        for uri, hdu, sha, oid in conn.execute(
            "SELECT uri, hdu, sha256, object_id FROM cutout WHERE uri = ANY(%s)", ([str(f.path) for f in files],)
        )
    }
    stored_by_sha = dict(
        conn.execute(
            "SELECT DISTINCT ON (sha256) sha256, uri FROM cutout WHERE sha256 = ANY(%s) ORDER BY sha256, id",
            ([f.sha256 for f in files],),
        ).fetchall()
    )
    candidates: list[CutoutFile] = []
    for f in files:
        known = stored_by_uri.get((str(f.path), f.hdu))
        if known is not None:
            if known[0] == f.sha256:
                report.unchanged += 1
                if f.format == "fits":
                    touched.add(int(known[1]))
            else:
                reject(f, "changed", "sha256", f.sha256, f"content changed since it was stored (sha256 was {known[0]}); not updated")
            continue
        first = stored_by_sha.get(f.sha256) or seen.get(f.sha256)
        if first is not None:
            reject(f, "duplicate", "sha256", f.sha256, f"duplicate of {first} (same sha256); not stored twice")
            continue
        seen[f.sha256] = str(f.path)
        candidates.append(f)

    named = [f for f in candidates if f.object_id is not None]
    existing = {
        int(r)
        for (r,) in conn.execute(
            "SELECT object_id FROM hsc_object WHERE object_id = ANY(CAST(%s AS bigint[]))", ([f.object_id for f in named],)
        )
    }
    by_position = _match_by_position(conn, [f for f in candidates if f.object_id is None and f.centre is not None])
    rows = []
    for f in candidates:
        if f.object_id is not None:
            oid = f.object_id if f.object_id in existing else None
            if oid is None:
                reject(f, "no_match", "object_id", str(f.object_id), f"object_id {f.object_id} from the file name is not in hsc_object")
        elif f.centre is not None:
            oid = by_position.get(f.path)
            if oid is None:
                ra, dec = f.centre
                reject(f, "no_match", "WCS", f"{ra:.6f} {dec:+.6f}", f"no hsc_object within {MATCH_RADIUS_ARCSEC:g} arcsec of the centre (ra {ra:.6f}, dec {dec:+.6f} deg) and no object_id in the name")
        else:
            oid = None
            reject(f, "no_match", "object_id", None, "no object_id in the file name (rendered images are matched by name only)")
        if oid is None:
            seen.pop(f.sha256, None)
            continue
        rows.append(
            {"object_id": oid, "band": f.band, "uri": str(f.path), "hdu": f.hdu, "format": f.format,
             "rendered": f.rendered, "shape": list(f.shape), "sha256": f.sha256, "ingest_batch_id": batch_id,
             "quality": list(f.quality), "n_nonfinite": f.n_nonfinite}
        )
        if f.format == "fits":
            touched.add(oid)
    if rows:
        report.stored += len(_insert_cutouts(conn, rows))
        for r in rows:
            for flag in r["quality"]:
                report.flagged[flag] = report.flagged.get(flag, 0) + 1
    _record_rejects(conn, batch_id, rejects)
    report.rejects.extend(rejects)



_INSERT_CUTOUT = """
    INSERT INTO cutout (object_id, band, uri, hdu, format, rendered, shape, sha256, ingest_batch_id, quality, n_nonfinite)
    VALUES (%(object_id)s, %(band)s, %(uri)s, %(hdu)s, %(format)s, %(rendered)s, CAST(%(shape)s AS int[]), %(sha256)s,
            %(ingest_batch_id)s, CAST(%(quality)s AS text[]), %(n_nonfinite)s)
    ON CONFLICT (uri, hdu) DO NOTHING RETURNING id"""


def _insert_cutouts(conn: psycopg.Connection, rows: Sequence[dict]) -> set[int]:
    """Insert ``cutout`` rows (a file already stored under its (uri, hdu) is left as it is);
    return the ids of the rows inserted."""
    ids: set[int] = set()
    with conn.cursor() as cur:
        cur.executemany(_INSERT_CUTOUT, rows, returning=True)
        while True:
            ids.update(int(i) for (i,) in cur.fetchall())
            if not cur.nextset():
                break
    return ids


def _missing_bands(conn: psycopg.Connection, object_ids: set[int], bands: Sequence[str]) -> dict[int, list[str]]:
    """object_id -> bands of ``bands`` without a FITS cutout, for the given objects."""
    if not object_ids or not bands:
        return {}
    rows = conn.execute(
        """SELECT o.id, array_agg(b.band ORDER BY b.pos)
           FROM unnest(CAST(%(ids)s AS bigint[])) AS o(id)
           CROSS JOIN unnest(CAST(%(bands)s AS text[])) WITH ORDINALITY AS b(band, pos)
           WHERE NOT EXISTS (SELECT 1 FROM cutout c WHERE c.object_id = o.id AND c.band = b.band AND c.format = 'fits')
           GROUP BY o.id ORDER BY o.id""",
        {"ids": sorted(object_ids), "bands": list(bands)},
    )
    return {int(oid): list(missing) for oid, missing in rows}


def ingest_cutouts(
    directory: str | Path,
    *,
    bands: Sequence[str] = ("g", "r", "i"),
    url: str | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> CutoutIngestReport:
    """Record the cutout files under ``directory`` in ``cutout``; report what was refused.

    Files are handled :data:`CHUNK_FILES` at a time, each chunk in one transaction, so an
    interrupted run keeps what it stored and a re-run picks up the rest (files already
    stored with the same sha256 are skipped). Reading (checksum, FITS/PNG parsing, WCS) runs
    on ``workers`` processes or Dask tasks (:class:`WorkerPool`); results are taken in file
    order, so the stored rows and the report are those of one worker.

    Args:
        directory: folder searched recursively for FITS, PNG and JPEG files.
        bands: bands every object should have a FITS cutout in (missing ones are reported);
            when three, also the band recorded for rendered RGB images (default ``'gri'``).
        url: database URL (default: :func:`hscanom.db.database_url`).
        progress: told ``progress("ingest cutouts", files read, files found)`` after each file
            (:class:`hscanom.progress.Progress`; the command line draws it).
        workers: reading processes on this machine (or Dask tasks with ``scheduler``).
        scheduler: address of a Dask scheduler (``tcp://host:8786``).

    Returns:
        The report; rejects are also stored as ``ingest_reject`` rows of the batch.

    Raises:
        NotADirectoryError: ``directory`` is not a folder.
        ValueError: ``bands`` names a band outside ``grizy``, or ``workers`` < 1.
    """
    if workers < 1:
        raise ValueError(f"--workers must be >= 1 (got {workers})")
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory}: not a folder")
    bands = [b.strip().lower() for b in bands if b.strip()]
    bad = [b for b in bands if b not in "grizy" or len(b) != 1]
    if bad:
        raise ValueError(f"--bands: unknown band(s) {', '.join(bad)}; expected some of g, r, i, z, y")
    rgb_band = "".join(bands) if len(bands) == 3 else "gri"
    url = url or db.database_url()
    files = find_all_files(directory)
    with batches.ingest_batch(url, "cutouts", str(directory), details={"bands": bands}) as batch_id:
        report = CutoutIngestReport(batch_id=batch_id, directory=directory, n_files=len(files))
        seen: dict[str, str] = {}
        touched: set[int] = set()
        done = 0
        with WorkerPool(workers, scheduler, lookahead=16) as pool:
            for start in range(0, len(files), CHUNK_FILES):
                read: list[CutoutFile] = []
                unreadable: list[CutoutReject] = []
                for got in pool.imap(_read_or_reject, ((p, rgb_band) for p in files[start : start + CHUNK_FILES])):
                    (unreadable if isinstance(got, CutoutReject) else read).append(got)
                    done += 1
                    if progress is not None:
                        progress("ingest cutouts", done, len(files))
                with db.transaction(url) as conn:
                    _record_rejects(conn, batch_id, unreadable)
                    report.rejects.extend(unreadable)
                    _store_chunk(conn, batch_id, read, seen, report, touched)
        with db.transaction(url) as conn:
            report.missing_bands = _missing_bands(conn, touched, bands)
            missing = [
                CutoutReject("missing_band", None, "band", str(oid), f"object {oid} has no {'/'.join(m)}-band FITS cutout (folder {directory})")
                for oid, m in report.missing_bands.items()
            ]
            _record_rejects(conn, batch_id, missing)
            report.rejects.extend(missing)
            batches.close_batch(
                conn,
                batch_id,
                rows_read=report.n_files,
                rows_stored=report.stored,
                rows_rejected=sum(1 for r in report.rejects if r.kind != "missing_band"),
                details={"unchanged": report.unchanged, "rejects": report.counts(), "objects_missing_band": len(report.missing_bands),
                         "quality_flags": report.flagged},
            )
    return report


# -- asking the HSC cutout service -----------------------------------------------------------
#: Coordinate lines the HSC data-release bulk cutout tool accepts per uploaded list
#: (das_cutout manual, "list to upload": at most 1000 images per request).
REQUEST_MAX_LINES = 1000
#: HSC coadd pixel scale [arcsec / pixel].
HSC_PIXEL_SCALE = 0.168


def request_name(object_id: int, band: str) -> str:
    """File name (without ``.fits``) asked for one object and band: ``<object_id>_HSC-<B>``.

    The cutout tool's downloader saves each cutout as ``<name>.fits``, a name that
    :func:`object_id_from_name` and :func:`band_from_name` read back exactly.
    """
    return f"{int(object_id)}_HSC-{band.upper()}"


def write_request_lists(
    sample: str,
    out: str | Path,
    *,
    rerun: str = "pdr2_wide",
    bands: Sequence[str] = ("g", "r", "i"),
    size: int = 96,
    pixel_scale: float = HSC_PIXEL_SCALE,
    max_lines: int = REQUEST_MAX_LINES,
    names: bool = True,
    url: str | None = None,
) -> list[Path]:
    """Coordinate lists of a sample for the HSC data-release bulk cutout tool.

    Format (das_cutout manual): a header ``#? rerun filter ra dec sw sh name`` (``name``
    only with ``names``), then one line per object and band: the rerun, the filter
    (``HSC-G``...), ra and dec [deg], the semi-width and semi-height ``sw``/``sh`` with unit
    (``size / 2 * pixel_scale``: 96 px at 0.168"/px -> ``8.064asec``), the file name
    (:func:`request_name`), and a ``# <object_id>`` comment. The object's bands are
    consecutive and never split across files; each file holds at most ``max_lines``
    coordinate lines (the tool's limit, 1000: 333 objects x 3 bands).

    Files: ``<out stem>-0001<out suffix>``, ``-0002``, ... in ``sample_member.idx`` order.

    Args:
        sample: sample name.
        out: base path of the lists (e.g. ``requests/paper.txt``).
        rerun: data release / rerun to cut from (``pdr2_wide``, ``pdr3_wide``, ``s23b_wide``...).
        bands: bands to ask for.
        size: cutout side [pixels].
        pixel_scale: [arcsec / pixel].
        max_lines: coordinate lines per file.
        names: write the ``name`` column (the downloader names files ``<object_id>_HSC-<B>.fits``).
        url: database URL.

    Returns:
        The files written.

    Raises:
        LookupError: no such sample, or it has no members.
        ValueError: bad bands, size, or ``max_lines`` smaller than the number of bands.
    """
    bands = [b.strip().lower() for b in bands if b.strip()]
    if not bands or any(b not in "grizy" or len(b) != 1 for b in bands):
        raise ValueError(f"--bands: expected some of g, r, i, z, y (got {','.join(bands)})")
    if size < 1 or pixel_scale <= 0:
        raise ValueError("size and pixel_scale must be positive")
    if max_lines < len(bands):
        raise ValueError(f"--max-lines {max_lines} cannot hold the {len(bands)} bands of one object")
    if not re.fullmatch(r"[A-Za-z0-9_]+", rerun):
        raise ValueError(f"--rerun {rerun!r}: expected a rerun name such as pdr2_wide")
    with db.connect(url) as conn:
        sid = conn.execute("SELECT id FROM sample WHERE name = %s", (sample,)).fetchone()
        if sid is None:
            raise LookupError(f"no sample named {sample!r}")
        members = conn.execute(
            """SELECT m.object_id, o.ra, o.dec FROM sample_member m JOIN hsc_object o ON o.object_id = m.object_id
               WHERE m.sample_id = %s ORDER BY m.idx""",
            (sid[0],),
        ).fetchall()
    if not members:
        raise LookupError(f"sample {sample!r} has no members")
    half = f"{size / 2 * pixel_scale:.4f}".rstrip("0").rstrip(".") + "asec"
    header = "#? rerun filter ra dec sw sh" + (" name" if names else "")
    per_file = max_lines // len(bands)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for k, start in enumerate(range(0, len(members), per_file), start=1):
        lines = [header]
        for oid, ra, dec in members[start : start + per_file]:
            for band in bands:
                name = f" {request_name(oid, band)}" if names else ""
                lines.append(f"{rerun} HSC-{band.upper()} {ra:.8f} {dec:.8f} {half} {half}{name} # {int(oid)}")
        path = out.with_name(f"{out.stem}-{k:04d}{out.suffix or '.txt'}")
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    return written
