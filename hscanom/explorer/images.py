"""Object images as PNG: the real image from the packed shards, the reconstruction and the
residual from a run's result shards. One image is read per request (never a whole run), and
encoded PNGs are kept in a byte-bounded in-process LRU cache.

Where the pixels are:

* real: ``packed_image(shard_id, object_id, row)`` -> ``image_shard.uri`` (kind ``packed``),
  read with :func:`hscanom.ingest.shards.read_rows` (float32 in [0, 1] -> 8 bits with
  :func:`hscanom.imaging.to_uint8`). With a run, the image that run scored: the SQL
  function ``run_packed_image(run_id, object_id)`` (migration 0009), the scorer's own rule.
  Without one, the newest packed image of the object.
* reconstruction / residual: ``anomaly_score.result_shard_id/result_row`` -> the result
  shard's ``reconstructed`` / ``residuals`` datasets (uint8 RGB, ``|real - reconstruction|``).

Every image has an ETag derived from its shard's checksum, row and kind; shards are
immutable, so responses may be cached by the browser too.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image
from psycopg_pool import ConnectionPool

from hscanom.explorer.params import ApiError
from hscanom.explorer.queries import IMAGE_KINDS, connection, newest_run_of
from hscanom.ingest.shards import ShardError, read_rows
from hscanom.imaging import to_uint8

#: Default size of the PNG cache [bytes].
CACHE_BYTES = 64 << 20


@dataclass(frozen=True)
class Png:
    """An encoded image and its entity tag."""

    data: bytes
    etag: str


@dataclass(frozen=True)
class Location:
    """Where one image's pixels are: file, row, dataset, and a stable version string."""

    uri: str
    row: int
    dataset: str
    version: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(f"{self.version}|{self.row}|{self.dataset}".encode()).hexdigest()[:32] + '"'


class PngCache:
    """A thread-safe LRU of :class:`Png` bounded by total bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple, Png] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> Png | None:
        with self._lock:
            png = self._items.get(key)
            if png is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return png

    def put(self, key: tuple, png: Png) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = png
            self.bytes += len(png.data)
            while self.bytes > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self.bytes -= len(old.data)

    def __len__(self) -> int:
        return len(self._items)


def locate(pool: ConnectionPool, object_id: int, kind: str, run_id: int | None) -> Location:
    """Where the ``kind`` image of ``object_id`` is stored.

    ``run_id`` picks the result shard (default: the newest run that scored the object) and,
    for the real image, the packed shard of the run's image size and sample.

    Raises:
        ApiError: 404 when the object, run or image is unknown; 400 for a bad kind.
    """
    if kind not in IMAGE_KINDS:
        raise ApiError(400, f"image kind {kind!r} is not one of {', '.join(IMAGE_KINDS)}")
    source, dataset = IMAGE_KINDS[kind]
    with connection(pool) as conn:
        if run_id is not None and conn.execute("SELECT 1 FROM score_run WHERE id = %s", (run_id,)).fetchone() is None:
            raise ApiError(404, f"run {run_id} does not exist")
        if source == "result":
            if run_id is None:
                run_id = newest_run_of(conn, object_id)
            row = conn.execute(
                """SELECT s.uri, a.result_row, coalesce(s.sha256, s.uri)
                     FROM anomaly_score a JOIN image_shard s ON s.id = a.result_shard_id
                    WHERE a.run_id = %s AND a.object_id = %s""",
                (run_id, object_id),
            ).fetchone()
            if row is None:
                raise ApiError(404, f"object {object_id} has no {kind} image in run {run_id}")
        elif run_id is not None:  # the image the run scored: migration 0009's one rule
            row = conn.execute(
                """SELECT s.uri, p.row, coalesce(s.sha256, s.uri)
                     FROM run_packed_image(%(run)s, %(obj)s) p JOIN image_shard s ON s.id = p.shard_id""",
                {"run": run_id, "obj": object_id},
            ).fetchone()
            if row is None:
                raise ApiError(404, f"object {object_id} has no packed image of run {run_id}'s image size")
        else:  # no run: the newest packed image of the object, of any size
            row = conn.execute(
                """SELECT s.uri, p.row, coalesce(s.sha256, s.uri)
                     FROM packed_image p JOIN image_shard s ON s.id = p.shard_id AND s.kind = 'packed'
                    WHERE p.object_id = %(obj)s
                    ORDER BY s.id DESC
                    LIMIT 1""",
                {"obj": object_id},
            ).fetchone()
            if row is None:
                raise ApiError(404, f"object {object_id} has no packed image")
    uri, index, version = row
    return Location(uri, int(index), dataset, version)


def _read_result(loc: Location, object_id: int) -> np.ndarray:
    """uint8 (H, W, 3) from a result shard, checking the row holds ``object_id``."""
    try:
        with h5py.File(loc.uri, "r") as f:
            stored_id = int(f["object_ids"][loc.row])
            if stored_id != object_id:
                raise ApiError(500, f"{loc.uri}: row {loc.row} holds object {stored_id}, not {object_id} (result shard and database disagree)")
            return np.asarray(f[loc.dataset][loc.row], dtype=np.uint8)
    except (OSError, KeyError, IndexError) as exc:
        raise ApiError(404, f"{loc.uri}: cannot read {loc.dataset}[{loc.row}] ({exc})") from None


def _read_real(loc: Location) -> np.ndarray:
    try:
        return to_uint8(read_rows([(loc.uri, loc.row)])[0])
    except (OSError, ShardError, IndexError) as exc:
        raise ApiError(404, f"{loc.uri}: cannot read image row {loc.row} ({exc})") from None


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W, 3) image."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class ImageStore:
    """Serves images of one database, with a :class:`PngCache`."""

    def __init__(self, pool: ConnectionPool, cache_bytes: int = CACHE_BYTES):
        self.pool = pool
        self.cache = PngCache(cache_bytes)

    def png(self, object_id: int, kind: str, run_id: int | None) -> Png:
        """The PNG of one image (cached per object, kind and run)."""
        key = (object_id, kind, run_id)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        loc = locate(self.pool, object_id, kind, run_id)
        if not Path(loc.uri).exists():
            raise ApiError(404, f"image file {loc.uri} is missing")
        rgb = _read_real(loc) if kind == "real" else _read_result(loc, object_id)
        png = Png(encode_png(rgb), loc.etag)
        if run_id is not None or kind == "real":  # "the newest run" may change: not cached
            self.cache.put(key, png)
        return png
