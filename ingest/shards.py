"""HDF5 image shards: the on-disk layout, a writer and a reader.

A shard holds N preprocessed RGB images and their object ids:

``object_ids``
    ``(N,)`` int64, HSC object ids (never through a float).
``images``
    ``(N, H, W, 3)``, channels (R, G, B) = (i, r, g), values in [0, 1]. Stored either as
    ``uint8`` codes ``k`` meaning ``k / 255`` (attribute ``images_scale = 1/255``; exact for
    the 8-bit-quantised output of :func:`hscanom.ml.preprocess.preprocess`) or as
    ``float32`` (``images_scale = 1``). Readers always get float32 in [0, 1].

Both datasets are chunked along N (``images`` by :data:`CHUNK_ROWS` whole images, so one
image is read by decompressing one small chunk) and gzip-compressed (level
:data:`GZIP_LEVEL`; byte shuffle for float32), readable by any HDF5 library without plugins.

Root attributes: ``format`` (``'hscanom-image-shard'``), ``version``, ``kind``
(``'packed'``), ``n_images``, ``images_scale``, ``config`` (JSON text: size, bands,
preprocessing, sample), ``ids_sha256`` / ``images_sha256`` (sha256 of the datasets' raw
little-endian bytes in row order, for :meth:`Shard.verify_content`), ``complete`` (True).

Writing is crash-safe: :class:`ShardWriter` writes ``<name>.partial`` and renames it to
``<name>`` only once complete, then returns the whole file's sha256 (what the database
records). A ``.partial`` file is never a valid shard.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from hscanom.checksum import sha256_file

__all__ = [
    "CHUNK_ROWS",
    "FORMAT",
    "GZIP_LEVEL",
    "VERSION",
    "Shard",
    "ShardError",
    "ShardWriter",
    "WrittenShard",
    "iter_batches",
    "read_rows",
]

FORMAT = "hscanom-image-shard"
VERSION = 1
#: Images per HDF5 chunk of ``images``.
CHUNK_ROWS = 16
#: gzip level of both datasets.
GZIP_LEVEL = 4
_IDS_CHUNK = 4096
_UINT8_SCALE = 1.0 / 255.0
_PARTIAL = ".partial"


class ShardError(ValueError):
    """A shard that is not a complete, valid hscanom shard; the message names the file."""


@dataclass(frozen=True)
class WrittenShard:
    """A finished shard: final ``path``, whole-file ``sha256`` and ``n_images``."""

    path: Path
    sha256: str
    n_images: int


class ShardWriter:
    """Write one shard a batch at a time (bounded memory); :meth:`close` finishes it.

    Args:
        path: final file name; data go to ``path + '.partial'`` until :meth:`close`.
        image_shape: (H, W, C) of each image.
        dtype: ``np.uint8`` (codes k for k/255; appended images must lie exactly on that
            grid, else :class:`ValueError`) or ``np.float32``.
        config: JSON-serialisable description stored in the ``config`` attribute.
        kind: ``'packed'`` (preprocessed inputs) or ``'result'``.

    Use as a context manager: leaving it normally closes it (result in ``written``), leaving
    it by an exception removes the partial file.
    """

    def __init__(self, path: str | Path, *, image_shape: tuple[int, int, int], dtype=np.uint8, config: dict | None = None, kind: str = "packed"):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + _PARTIAL)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise ValueError(f"images dtype must be uint8 or float32, got {self.dtype}")
        self.image_shape = tuple(int(n) for n in image_shape)
        self.config = dict(config or {})
        self.n_images = 0
        self.written: WrittenShard | None = None
        self._ids_hash = hashlib.sha256()
        self._images_hash = hashlib.sha256()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        chunk_bytes = CHUNK_ROWS * int(np.prod(self.image_shape)) * self.dtype.itemsize
        self._file = h5py.File(self.partial, "w", rdcc_nbytes=4 * chunk_bytes, libver=("earliest", "v110"))
        self._file.attrs.update(
            {
                "format": FORMAT,
                "version": VERSION,
                "kind": kind,
                "complete": False,
                "images_scale": _UINT8_SCALE if self.dtype == np.uint8 else 1.0,
                "config": json.dumps(self.config, sort_keys=True),
            }
        )
        self._ids = self._file.create_dataset(
            "object_ids", shape=(0,), maxshape=(None,), dtype="<i8", chunks=(_IDS_CHUNK,),
            compression="gzip", compression_opts=GZIP_LEVEL,
        )
        self._images = self._file.create_dataset(
            "images", shape=(0, *self.image_shape), maxshape=(None, *self.image_shape),
            dtype=self.dtype.newbyteorder("<"), chunks=(CHUNK_ROWS, *self.image_shape),
            compression="gzip", compression_opts=GZIP_LEVEL, shuffle=self.dtype.itemsize > 1,
        )

    def _encode(self, images: np.ndarray) -> np.ndarray:
        if self.dtype == np.float32:
            return np.ascontiguousarray(images, dtype="<f4")
        x = np.asarray(images, np.float32)
        codes = np.rint(x * np.float32(255.0))
        if not np.array_equal(codes / np.float32(255.0), x) or (x.size and (codes.min() < 0 or codes.max() > 255)):
            raise ValueError("images are not k/255 for integers k in [0, 255]: store them as float32, not uint8")
        return codes.astype(np.uint8)

    def append(self, object_ids: Sequence[int] | np.ndarray, images: np.ndarray) -> None:
        """Append a batch.

        Args:
            object_ids: ``(B,)`` integers (int64; a float array is refused).
            images: ``(B, H, W, C)`` floats in [0, 1].
        """
        ids = np.asarray(object_ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"object_ids must be integers, got {ids.dtype}")
        ids = ids.astype("<i8")
        images = np.asarray(images)
        if images.shape != (len(ids), *self.image_shape):
            raise ValueError(f"images shape {images.shape} does not match {len(ids)} ids of shape {self.image_shape}")
        if not len(ids):
            return
        stored = self._encode(images)
        n0, n1 = self.n_images, self.n_images + len(ids)
        self._ids.resize((n1,))
        self._ids[n0:n1] = ids
        self._images.resize((n1, *self.image_shape))
        self._images[n0:n1] = stored
        self._ids_hash.update(ids.tobytes())
        self._images_hash.update(stored.tobytes())
        self.n_images = n1

    def close(self) -> WrittenShard:
        """Mark complete, close, rename to the final name and return its checksum."""
        self._file.attrs.update(
            {"n_images": self.n_images, "ids_sha256": self._ids_hash.hexdigest(), "images_sha256": self._images_hash.hexdigest(), "complete": True}
        )
        self._file.close()
        with open(self.partial, "rb+") as f:
            os.fsync(f.fileno())
        sha = sha256_file(self.partial)
        os.replace(self.partial, self.path)
        self.written = WrittenShard(self.path, sha, self.n_images)
        return self.written

    def abort(self) -> None:
        """Close and delete the partial file."""
        if self._file.id.valid:
            self._file.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._file.id.valid:
            self.close()


class Shard:
    """Read access to one complete shard.

    Attributes:
        path: the file.
        object_ids: ``(N,)`` int64 array (read at open).
        config: the ``config`` attribute, parsed.
        image_shape: (H, W, C).

    Raises:
        ShardError: not an hscanom shard, or not complete.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r", rdcc_nbytes=16 << 20)
        except OSError as exc:
            raise ShardError(f"{self.path}: not a readable HDF5 file ({exc})") from None
        attrs = self._file.attrs
        if attrs.get("format") != FORMAT or "images" not in self._file or "object_ids" not in self._file:
            self._file.close()
            raise ShardError(f"{self.path}: not an hscanom image shard")
        if not bool(attrs.get("complete", False)):
            self._file.close()
            raise ShardError(f"{self.path}: incomplete shard (writing was interrupted)")
        self._images = self._file["images"]
        self.object_ids: np.ndarray = self._file["object_ids"][:].astype(np.int64, copy=False)
        self.config: dict = json.loads(attrs.get("config", "{}"))
        self.image_shape: tuple[int, ...] = tuple(self._images.shape[1:])
        self._scale = np.float32(attrs.get("images_scale", 1.0))
        self._uint8 = self._images.dtype == np.uint8

    def __len__(self) -> int:
        return len(self.object_ids)

    def _decode(self, stored: np.ndarray) -> np.ndarray:
        if self._uint8:
            return stored.astype(np.float32) / np.float32(255.0)
        return stored.astype(np.float32, copy=False)

    def read(self, rows: slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """Images of ``rows`` (a slice, or row indices in any order) as float32 (B, H, W, C)."""
        if isinstance(rows, slice):
            return self._decode(self._images[rows])
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"{self.path}: rows out of range 0..{len(self) - 1}")
        order = np.argsort(rows, kind="stable")
        uniq, inverse = np.unique(rows[order], return_inverse=True)
        out = self._decode(self._images[uniq]) if uniq.size else np.empty((0, *self.image_shape), np.float32)
        result = np.empty((rows.size, *self.image_shape), np.float32)
        result[order] = out[inverse]
        return result

    def iter_batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(object_ids, images) in row order, ``batch_size`` rows at a time."""
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            yield self.object_ids[start:stop], self.read(slice(start, stop))

    def verify_content(self, batch_size: int = 1024) -> bool:
        """Recompute the dataset checksums and compare them with the stored ones."""
        ids = hashlib.sha256(self.object_ids.astype("<i8").tobytes())
        images = hashlib.sha256()
        for start in range(0, len(self), batch_size):
            images.update(np.ascontiguousarray(self._images[start : start + batch_size]).tobytes())
        attrs = self._file.attrs
        return ids.hexdigest() == attrs.get("ids_sha256") and images.hexdigest() == attrs.get("images_sha256")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Shard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_batches(shard_paths: Iterable[str | Path], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream (object_ids int64 (B,), images float32 (B, H, W, C)) over shards in order.

    Batches run across shard boundaries, so every batch but the last has ``batch_size``
    rows. Memory: one batch plus one shard's id array.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    pending_ids: list[np.ndarray] = []
    pending_images: list[np.ndarray] = []
    n_pending = 0
    for path in shard_paths:
        with Shard(path) as shard:
            start = 0
            while start < len(shard):
                take = min(batch_size - n_pending, len(shard) - start)
                pending_ids.append(shard.object_ids[start : start + take])
                pending_images.append(shard.read(slice(start, start + take)))
                n_pending += take
                start += take
                if n_pending == batch_size:
                    yield np.concatenate(pending_ids), np.concatenate(pending_images)
                    pending_ids, pending_images, n_pending = [], [], 0
    if n_pending:
        yield np.concatenate(pending_ids), np.concatenate(pending_images)


def read_rows(locations: Sequence[tuple[str | Path, int]]) -> np.ndarray:
    """Random access: the images at (shard path, row) pairs, float32 (B, H, W, C), in order.

    Each shard is opened once and its rows read together.
    """
    by_shard: dict[Path, list[int]] = {}
    for k, (path, _row) in enumerate(locations):
        by_shard.setdefault(Path(path), []).append(k)
    out: np.ndarray | None = None
    for path, ks in by_shard.items():
        with Shard(path) as shard:
            images = shard.read([int(locations[k][1]) for k in ks])
        if out is None:
            out = np.empty((len(locations), *images.shape[1:]), np.float32)
        out[ks] = images
    return out if out is not None else np.empty((0,), np.float32)
