"""Packing: a sample's g, r, i FITS cutouts -> preprocessed 96 x 96 RGB images in HDF5 shards.

For each member of a sample (``sample_member``, in ``idx`` order) :func:`pack_sample`

1. reads the object's g, r and i FITS cutouts (``cutout`` rows, newest per band; the file's
   sha256 must still match the stored one);
2. cuts a ``size x size`` stamp centred on the object's catalog (ra, dec), located through
   the ``IMAGE`` WCS, with :class:`astropy.nddata.Cutout2D` (``mode='partial'``,
   ``fill_value=0``: pixels beyond the file's edge are 0, the sky level);
3. maps the three bands with the shared preprocessing
   :func:`hscanom.imaging.preprocess` (Lupton asinh RGB, stretch 0.5, Q 15,
   minimum 0, 8-bit quantised, in [0, 1]) -- the exact function training and scoring use;
4. appends the batch to the current shard (:mod:`hscanom.ingest.shards`).

Images are stored as ``uint8`` codes: the preprocessing output is ``k/255`` by construction,
so this is lossless (the shard writer refuses anything else) and 4x smaller than float32.

Memory is bounded by one batch of ``batch_size`` objects. A shard is registered in
``image_shard`` (with its sha256, ``n_images`` and config) and its objects in
``packed_image`` in one transaction once the file is complete, so after a kill the
complete shards stay, the partial one is redone, and a re-run packs only the members not
yet packed with the same configuration (same ``config['key']``). Complete shards are
verified against their sha256 before a run resumes (:func:`verify_shards`).

Objects lacking a band, or whose files are unreadable or changed, are skipped -- never
zero-filled -- listed in the report and in the ``skipped`` entry of the config of the shard
being filled at the time.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from hscanom import db
from hscanom.checksum import sha256_file
from hscanom.config import Settings
from hscanom.ingest import cutouts as _cut
from hscanom.ingest import shards
from hscanom import imaging as pp
from hscanom.progress import Progress

__all__ = [
    "PACK_BANDS",
    "PackReport",
    "ShardCheck",
    "ShardChecksumError",
    "Skipped",
    "pack_config",
    "pack_sample",
    "read_stamp",
    "sample_shards",
    "sample_source",
    "verify_shards",
]

#: Bands stacked into each image, in the order given to the preprocessing.
PACK_BANDS = ("g", "r", "i")
#: Shared preprocessing: (g, r, i) stacks (N, H, W) -> float32 (N, H, W, 3) in [0, 1].
PREPROCESS: Callable[..., np.ndarray] = pp.preprocess


class ShardChecksumError(RuntimeError):
    """Complete shards whose files are missing or no longer match their sha256."""


@dataclass(frozen=True)
class Skipped:
    """A sample member that was not packed, and why."""

    object_id: int
    reason: str


@dataclass(frozen=True)
class ShardCheck:
    """Result of checking one registered shard against its checksum."""

    shard_id: int
    path: Path
    ok: bool
    problem: str | None = None


@dataclass
class PackReport:
    """Outcome of :func:`pack_sample`.

    Attributes:
        sample: sample name.
        out_dir: folder of the shards.
        config: the packing configuration (``pack_config``).
        kept: complete shards from earlier runs, verified and kept.
        written: shards written by this run.
        packed: images written by this run.
        already_packed: members packed by earlier runs.
        skipped: members not packed (missing band, unreadable or changed file, no data).
        flagged: quality flag -> images packed by this run with it (``packed_image.quality``).
    """

    sample: str
    out_dir: Path
    config: dict
    kept: list[Path] = field(default_factory=list)
    written: list[shards.WrittenShard] = field(default_factory=list)
    packed: int = 0
    already_packed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    flagged: dict[str, int] = field(default_factory=dict)


def pack_config(size: int = 96, source: str = "fits") -> dict:
    """The configuration that identifies a packing (recorded in each shard's config).

    ``key`` is a hash of everything else: two packings of a sample with the same key hold
    the same pixels, and a re-run continues the packing with its key.

    Args:
        size: stamp side [pixels].
        source: ``'fits'`` (g, r, i FITS cutouts through the shared preprocessing) or
            ``'rendered'`` (pre-rendered 8-bit RGB PNG/JPEG, value / 255, as the original code
            read its renderings); the two are different configurations with different keys.

    Raises:
        ValueError: unknown ``source``.
    """
    if source == "rendered":
        params = {
            "size": int(size),
            "source": "rendered",
            "bands": list(PACK_BANDS),
            "dtype": "uint8",
            "images_scale": "1/255",
            "centring": "the rendered image as it is (must be size x size; never resampled)",
            "preprocessing": {"function": "8-bit RGB value / 255 (channels R, G, B as rendered: i, r, g)"},
            "shard_format": shards.FORMAT,
            "shard_version": shards.VERSION,
        }
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
        return {**params, "key": key}
    if source != "fits":
        raise ValueError(f"unknown packing source {source!r}; expected 'fits' or 'rendered'")
    params = {
        "size": int(size),
        "bands": list(PACK_BANDS),
        "dtype": "uint8",
        "images_scale": "1/255",
        "centring": "catalog (ra, dec) through the IMAGE WCS; astropy Cutout2D mode=partial fill_value=0",
        "preprocessing": {
            "function": pp.RECORDED_NAME,
            "stretch": pp.LUPTON_STRETCH,
            "Q": pp.LUPTON_Q,
            "minimum": pp.LUPTON_MINIMUM,
        },
        "shard_format": shards.FORMAT,
        "shard_version": shards.VERSION,
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return {**params, "key": key}


# -- reading one object's bands ------------------------------------------------------------
class _StampError(Exception):
    """An object's cutout file cannot be used (message names the file)."""


def read_stamp(uri: str, hdu: str, sha256: str | None, ra: float, dec: float, size: int) -> np.ndarray:
    """The ``size x size`` float32 stamp of a FITS cutout centred on (ra, dec) [deg].

    The position goes through the HDU's WCS to a pixel position, then ``Cutout2D`` (partial
    mode, fill 0) cuts the stamp: pixels outside the file are 0; NaN/inf pixels of the file
    are kept (the preprocessing maps them to 0). When ``sha256`` is given the file must
    still have it.

    Raises:
        _StampError: unreadable, changed, the position lies off the image, or the part of
            the stamp inside the file has no finite pixel.
    """
    return _read_stamp(uri, hdu, sha256, ra, dec, size)[0]


def _read_stamp(uri: str, hdu: str, sha256: str | None, ra: float, dec: float, size: int) -> tuple[np.ndarray, set[str]]:
    """:func:`read_stamp` and the stamp's quality flags (``nonfinite``, ``nonfinite_centre``, ``partial``)."""
    try:
        fh = open(uri, "rb")  # noqa: SIM115 (closed below; astropy reads from it)
    except OSError as exc:
        raise _StampError(f"{uri}: cannot read ({exc.strerror})") from None
    with fh:
        data = fh.read()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise _StampError(f"{uri}: content changed since ingest (sha256 differs)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # From the file object, as astropy reads files: gzip/bzip2 streams are
                # decompressed, fpack CompImageHDUs read as images.
                hdul, _compression = _cut.open_fits(Path(uri), fh, data)
                with hdul:
                    image = hdul[hdu]
                    pixels = np.asarray(image.data, dtype=np.float32)
                    wcs = WCS(image.header)
                    if wcs.naxis != 2:
                        wcs = wcs.celestial
                x, y = wcs.world_to_pixel_values(ra, dec)
                stamp = Cutout2D(pixels, (float(x), float(y)), (size, size), mode="partial", fill_value=0.0, copy=True)
        except _cut.CutoutFileError as exc:
            raise _StampError(str(exc)) from None
        except Exception as exc:  # astropy: OSError, KeyError, ValueError, NoOverlapError ...
            raise _StampError(f"{uri}: {type(exc).__name__}: {exc}") from None
    out = stamp.data.astype(np.float32, copy=False)
    inside = out[stamp.slices_cutout]
    flags = set(_cut.pixel_quality(out)[0])
    if not np.isfinite(inside).any():
        raise _StampError(f"{uri}: no finite pixel in the {size} x {size} stamp around the object (all NaN/inf): no data in this band")
    if inside.shape != out.shape:
        flags.add("partial")
    return out, flags


# -- database queries ----------------------------------------------------------------------
def _sample_id(conn: psycopg.Connection, sample: str) -> int:
    row = conn.execute("SELECT id FROM sample WHERE name = %s", (sample,)).fetchone()
    if row is None:
        raise LookupError(f"no sample named {sample!r}")
    return int(row[0])


def _registered(conn: psycopg.Connection, sample_id: int, key: str) -> list[tuple[int, Path, str | None, int]]:
    """(id, path, sha256, index) of the shards registered for a sample and config key."""
    rows = conn.execute(
        """SELECT id, uri, sha256, (config->>'index')::int FROM image_shard
           WHERE kind = 'packed' AND sample_id = %(s)s AND config->>'key' = %(k)s ORDER BY (config->>'index')::int""",
        {"s": sample_id, "k": key},
    )
    return [(int(i), Path(u), s, int(x)) for i, u, s, x in rows]


#: Packing sources: FITS bands through the preprocessing, or pre-rendered RGB images.
SOURCES = ("fits", "rendered")

_UNPACKED = """
    FROM sample_member m
    WHERE m.sample_id = %(s)s AND NOT EXISTS (
        SELECT 1 FROM packed_image p JOIN image_shard sh ON sh.id = p.shard_id
        WHERE p.object_id = m.object_id AND sh.kind = 'packed' AND sh.sample_id = %(s)s AND sh.config->>'key' = %(k)s)
"""


def _unpacked_pages(url: str, sample_id: int, key: str, page: int, source: str = "fits") -> Iterator[list[tuple]]:
    """Pages of (object_id, ra, dec, {band: (uri, hdu, sha256)}) of unpacked members by idx.

    For ``source='rendered'`` the dict holds one entry, ``'gri'``: the newest rendered image.
    One connection serves every page (autocommit: each page reads what is committed by then,
    and no transaction stays open while the caller packs).
    """
    which = (
        "format = 'fits' AND band = ANY(%(bands)s)" if source == "fits"
        else "rendered AND format IN ('png', 'jpeg') AND band = %(rgb)s"
    )
    after = -1
    with db.connect(url, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                f"""WITH page AS (SELECT m.idx, m.object_id {_UNPACKED} AND m.idx > %(after)s ORDER BY m.idx LIMIT %(n)s)
                    SELECT page.idx, page.object_id, o.ra, o.dec, c.band, c.uri, c.hdu, c.sha256
                    FROM page JOIN hsc_object o ON o.object_id = page.object_id
                    LEFT JOIN LATERAL (
                        SELECT DISTINCT ON (band) band, uri, hdu, sha256 FROM cutout
                        WHERE cutout.object_id = page.object_id AND {which}
                        ORDER BY band, id DESC) c ON true
                    ORDER BY page.idx""",
                {"s": sample_id, "k": key, "after": after, "n": page, "bands": list(PACK_BANDS), "rgb": "".join(PACK_BANDS)},
            ).fetchall()
            if not rows:
                return
            out: dict[int, tuple] = {}
            for idx, oid, ra, dec, band, uri, hdu, sha in rows:
                entry = out.setdefault(idx, (int(oid), float(ra), float(dec), {}))
                if band is not None:
                    entry[3][band] = (uri, hdu, sha)
            yield list(out.values())
            after = max(out)


def _register(
    url: str, written: shards.WrittenShard, sample_id: int, config: dict, object_ids: np.ndarray, quality: Sequence[list[str]]
) -> None:
    """One transaction: the ``image_shard`` row and its ``packed_image`` rows (with their quality flags)."""
    with db.transaction(url) as conn:
        shard_id = conn.execute(
            """INSERT INTO image_shard (kind, uri, sha256, n_images, config, sample_id)
               VALUES ('packed', %s, %s, %s, CAST(%s AS jsonb), %s) RETURNING id""",
            (str(written.path), written.sha256, written.n_images, json.dumps(config), sample_id),
        ).fetchone()[0]
        with conn.cursor().copy("COPY packed_image (shard_id, object_id, row, quality) FROM STDIN") as copy:
            for row, (oid, flags) in enumerate(zip(object_ids.tolist(), quality, strict=True)):
                copy.write_row((shard_id, oid, row, "{" + ",".join(flags) + "}"))


# -- verification --------------------------------------------------------------------------
def verify_shards(
    sample: str | None = None, *, url: str | None = None, repair: bool = False, progress: Progress | None = None
) -> list[ShardCheck]:
    """Check registered packed shards: file present and whole-file sha256 as recorded.

    Args:
        sample: only this sample's shards (default: all packed shards).
        url: database URL.
        repair: delete the rows (and the files) of the shards that fail, so that the next
            :func:`pack_sample` packs those objects again.
        progress: told ``progress("verify shards", shards checked, shards)`` after each shard
            (:class:`hscanom.progress.Progress`).
    """
    url = url or db.database_url()
    with db.connect(url) as conn:
        params: dict = {}
        where = "kind = 'packed'"
        if sample is not None:
            params["s"] = _sample_id(conn, sample)
            where += " AND sample_id = %(s)s"
        rows = conn.execute(f"SELECT id, uri, sha256 FROM image_shard WHERE {where} ORDER BY id", params).fetchall()
    checks = []
    for shard_id, uri, sha in rows:
        checks.append(_check_one(int(shard_id), Path(uri), sha))
        if progress is not None:
            progress("verify shards", len(checks), len(rows))
    bad = [c for c in checks if not c.ok]
    if repair and bad:
        with db.transaction(url) as conn:
            conn.execute("DELETE FROM image_shard WHERE id = ANY(CAST(%s AS bigint[]))", ([c.shard_id for c in bad],))
        for c in bad:
            c.path.unlink(missing_ok=True)
    return checks


def _check_one(shard_id: int, path: Path, sha: str | None) -> ShardCheck:
    if not path.is_file():
        return ShardCheck(shard_id, path, False, "file missing")
    actual = sha256_file(path)
    if actual != sha:
        return ShardCheck(shard_id, path, False, f"sha256 {actual} differs from the recorded {sha}")
    return ShardCheck(shard_id, path, True)


def run_packed_image(object_id: str) -> str:
    """SQL of ``LEFT JOIN LATERAL (...) p ON true``: the packed image a score run reads.

    For the object ``object_id`` (an SQL expression), with a score run joined as ``r``:
    ``p.shard_id`` and ``p.row`` of its packed image (NULL columns when it has none), as
    chosen by the SQL function ``run_packed_image(run_id, object_id)`` of migration 0009 --
    a shard of the run's image size and of the packing source (FITS or rendered, :func:`sample_source`)
    of the run's sample, from the run's sample first, then the lowest shard id.
    Scoring, characterisation, releases, the report and the explorer all use this one
    choice, so they read the same pixels.
    """
    return f"LEFT JOIN LATERAL run_packed_image(r.id, {object_id}) p ON true"


def sample_source(conn: psycopg.Connection, sample_id: int, size: int) -> str | None:
    """``'fits'`` or ``'rendered'``: how a sample's ``size``-pixel shards were packed (None: not packed)."""
    row = conn.execute(
        """SELECT coalesce(config->>'source', 'fits') FROM image_shard
           WHERE kind = 'packed' AND sample_id = %s AND (config->>'size')::int = %s ORDER BY id LIMIT 1""",
        (sample_id, size),
    ).fetchone()
    return None if row is None else row[0]


def sample_shards(sample: str, *, size: int = 96, url: str | None = None) -> list[Path]:
    """Paths of the complete packed shards of ``sample`` (current config), in order.

    A sample is packed from one source only (FITS or rendered images, see
    :func:`pack_sample`); its shards of that source are returned.
    """
    with db.connect(url) as conn:
        sample_id = _sample_id(conn, sample)
        source = sample_source(conn, sample_id, size) or "fits"
        return [p for _i, p, _s, _x in _registered(conn, sample_id, pack_config(size, source)["key"])]


# -- packing -------------------------------------------------------------------------------
def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "sample"


def read_rendered(uri: str, sha256: str | None, size: int) -> np.ndarray:
    """A pre-rendered 8-bit RGB PNG/JPEG as float32 (size, size, 3) in [0, 1]: value / 255.

    The original code's convention for its renderings (``DataGenerator``: the 8-bit image
    divided by 255); channels stay as rendered (R, G, B = i, r, g for a gri rendering).
    Images are never resampled.

    Raises:
        _StampError: unreadable, changed since ingest, not 8-bit RGB, or not ``size x size``
            (the message says which, with the file).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        data = Path(uri).read_bytes()
    except OSError as exc:
        raise _StampError(f"{uri}: cannot read ({exc.strerror})") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise _StampError(f"{uri}: content changed since ingest (sha256 differs)")

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            mode, (w, h) = img.mode, img.size
            pixels = np.asarray(img)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise _StampError(f"{uri}: unreadable or truncated image: {exc}") from None
    if mode != "RGB":
        raise _StampError(f"{uri}: {_cut.describe_mode(mode)}, not 8-bit RGB")
    if (w, h) != (size, size):
        raise _StampError(
            f"{uri}: rendered image is {w} x {h} pixels, not {size} x {size}: rendered images are never resampled "
            f"(pack with --size {w} if square, or render at {size} x {size})"
        )
    return pixels.astype(np.float32) / np.float32(255.0)


def _load_rendered(members: Sequence[tuple], size: int):
    ids, images, skipped = [], [], []
    rgb = "".join(PACK_BANDS)
    for oid, _ra, _dec, files in members:
        try:
            if rgb not in files:
                raise _StampError(f"no rendered {rgb} image (PNG/JPEG)")
            uri, _hdu, sha = files[rgb]
            images.append(read_rendered(uri, sha, size))
        except _StampError as exc:
            skipped.append((oid, str(exc)))
            continue
        ids.append(oid)
    if not ids:
        return np.empty(0, np.int64), np.empty((0, size, size, 3), np.float32), [], skipped
    return np.asarray(ids, dtype=np.int64), np.stack(images), [[] for _ in ids], skipped


def _load_fits(members: Sequence[tuple], size: int):
    ids, stacks, quality, skipped = [], [], [], []
    for oid, ra, dec, files in members:
        missing = [b for b in PACK_BANDS if b not in files]
        try:
            if missing:
                raise _StampError(f"no {'/'.join(missing)}-band FITS cutout")
            read = [_read_stamp(*files[b], ra, dec, size) for b in PACK_BANDS]
        except _StampError as exc:
            skipped.append((oid, str(exc)))
            continue
        ids.append(oid)
        stacks.append([stamp for stamp, _f in read])
        quality.append(sorted(set().union(*(f for _s, f in read))))
    if not ids:
        return np.empty(0, np.int64), np.empty((0, size, size, 3), np.float32), [], skipped
    bands = np.asarray(stacks, dtype=np.float32)  # (B, 3, size, size)
    images = PREPROCESS(bands[:, 0], bands[:, 1], bands[:, 2])
    return np.asarray(ids, dtype=np.int64), images, quality, skipped


def _load_page(args: tuple[Sequence[tuple], int, str]):
    """One page of members -> (object_ids (B,), images (B, size, size, 3) float32, flags per
    image, [(object_id, reason) of the members skipped]). Pure: runs in worker processes."""
    members, size, source = args
    return (_load_rendered if source == "rendered" else _load_fits)(members, size)


def pack_sample(
    sample: str,
    *,
    size: int = 96,
    out: str | Path | None = None,
    shard_size: int = 10_000,
    batch_size: int = 64,
    url: str | None = None,
    progress: Progress | None = None,
    on_batch: Callable[[int], None] | None = None,
    source: str = "fits",
    workers: int = 1,
    scheduler: str | None = None,
) -> PackReport:
    """Pack the members of ``sample`` into shards; resumable.

    ``source='fits'`` packs g, r, i FITS cutouts through the shared preprocessing;
    ``source='rendered'`` packs pre-rendered 8-bit RGB PNG/JPEG images (``rendered``
    ``cutout`` rows of band ``gri``) as value / 255, unresampled, as another configuration
    (own ``key``, own shards). A sample is packed from one source per size: the two never mix
    in a shard, a sample or a score run.

    Reading and preprocessing run on ``workers`` processes (or Dask tasks with
    ``scheduler``), a page of ``batch_size`` members per task; pages are written in ``idx``
    order, so the shards are byte-identical to one worker's, and a killed run resumes the same
    way.

    Args:
        sample: name of the sample (``sample.name``).
        size: stamp side [pixels].
        out: folder of the shards (default ``$HSCANOM_HOME/shards/<sample>``).
        shard_size: images per shard (the last one may hold fewer).
        batch_size: objects read and preprocessed at a time (bounds memory).
        url: database URL.
        progress: told ``progress("pack <sample>", members handled, members to pack)`` after
            each batch (:class:`hscanom.progress.Progress`; the command line draws it).
        on_batch: called with the number of images this run has written so far, after each
            batch is appended (progress reporting, or interrupting in tests).
        source: ``'fits'`` or ``'rendered'``.
        workers: processes on this machine (or concurrent Dask tasks with ``scheduler``).
        scheduler: address of a Dask scheduler (``tcp://host:8786``), as ``score`` takes.

    Returns:
        The report.

    Raises:
        LookupError: no such sample.
        ValueError: bad sizes, unknown ``source``, or the sample is packed from the other
            source at this size already.
        ShardChecksumError: a complete shard of an earlier run is missing or altered
            (repair with :func:`verify_shards` ``repair=True``, then re-run).
    """
    if size < 1 or shard_size < 1 or batch_size < 1:
        raise ValueError("size, shard_size and batch_size must be >= 1")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1 (got {workers})")
    url = url or db.database_url()
    config = pack_config(size, source)
    key = config["key"]
    with db.connect(url) as conn:
        sample_id = _sample_id(conn, sample)
        packed_from = sample_source(conn, sample_id, size)
        if packed_from is not None and packed_from != source:
            raise ValueError(
                f"sample {sample!r} is packed from {packed_from} images at {size} px already; rendered and FITS-derived "
                f"images never mix in one sample: create another sample (same SQL) to pack it from {source} images"
            )
        registered = _registered(conn, sample_id, key)
        n_todo = conn.execute(f"SELECT count(*) {_UNPACKED}", {"s": sample_id, "k": key}).fetchone()[0]
        n_members = conn.execute("SELECT count(*) FROM sample_member WHERE sample_id = %s", (sample_id,)).fetchone()[0]
    out_dir = Path(out).resolve() if out else Settings.from_env().home / "shards" / _safe_name(sample)
    report = PackReport(sample, out_dir, config, already_packed=n_members - n_todo)

    bad = [c for c in (_check_one(i, p, s) for i, p, s, _x in registered) if not c.ok]
    if bad:
        lines = "; ".join(f"{c.path}: {c.problem}" for c in bad)
        raise ShardChecksumError(
            f"{len(bad)} packed shard(s) of sample {sample!r} fail verification: {lines}. "
            "Run `hscanom cutouts verify --sample NAME --repair` to drop them, then pack again."
        )
    report.kept = [p for _i, p, _s, _x in registered]
    next_index = max((x for *_r, x in registered), default=-1) + 1
    stem = f"{_safe_name(sample)}-{size}px-{key}"
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f"{stem}-*.h5.partial"):
        stale.unlink()

    writer: shards.ShardWriter | None = None
    shard_ids: list[np.ndarray] = []
    shard_quality: list[list[str]] = []
    skipped_here: list[dict] = []

    def finish() -> None:
        nonlocal writer, shard_ids, shard_quality, skipped_here, next_index
        written = writer.close()
        _register(
            url, written, sample_id, {**writer.config, "skipped": skipped_here},
            np.concatenate(shard_ids) if shard_ids else np.empty(0, np.int64), shard_quality,
        )
        report.written.append(written)
        for flags in shard_quality:
            for flag in flags:
                report.flagged[flag] = report.flagged.get(flag, 0) + 1
        writer, shard_ids, shard_quality, skipped_here = None, [], [], []
        next_index += 1

    stage, handled = f"pack {sample}", 0
    with _cut.WorkerPool(workers, scheduler) as pool:
        try:
            pages = ((page, size, source) for page in _unpacked_pages(url, sample_id, key, batch_size, source))
            for ids, images, quality, skipped in pool.imap(_load_page, pages):
                for oid, reason in skipped:
                    report.skipped.append(Skipped(oid, reason))
                    skipped_here.append({"object_id": oid, "reason": reason})
                n_page = len(ids) + len(skipped)
                start = 0
                while start < len(ids):
                    if writer is None:
                        writer = shards.ShardWriter(
                            out_dir / f"{stem}-{next_index:05d}.h5",
                            image_shape=(size, size, 3),
                            config={**config, "index": next_index, "sample": sample},
                        )
                    take = min(shard_size - writer.n_images, len(ids) - start)
                    writer.append(ids[start : start + take], images[start : start + take])
                    shard_ids.append(ids[start : start + take])
                    shard_quality.extend(quality[start : start + take])
                    report.packed += take
                    start += take
                    if writer.n_images == shard_size:
                        finish()
                handled += n_page
                if progress is not None:
                    progress(stage, handled, n_todo)
                if on_batch is not None:
                    on_batch(report.packed)
            if writer is not None and writer.n_images:
                finish()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    return report
