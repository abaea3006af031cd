"""Reading a run's images as uint8 for a release: reals, reconstructions, residuals.

* reals are the preprocessed inputs in the packed shards (``images``,
  :mod:`hscanom.ingest.shards`; uint8 codes k = k/255, or float32 in [0, 1] mapped by
  :func:`hscanom.ml.preprocess.to_uint8`);
* reconstructions and |residuals| are the ``reconstructed`` / ``residuals`` uint8 datasets
  of the run's result shards (:mod:`hscanom.ml.jobs`).

:class:`ImageReader` keeps a few shard files open (least recently used closed first), reads
the rows of one block grouped by shard, and checks that each row holds the object the
database says it does. Given a thread pool, it inflates gzip chunks on it: the raw chunks
are read with ``read_direct_chunk`` and decompressed by zlib outside the GIL (for uint8
datasets chunked along rows whose only filters are deflate and a no-op byte shuffle);
other datasets are read through h5py.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from concurrent.futures import Executor
from pathlib import Path

import h5py
import numpy as np
from h5py import h5z

from hscanom.ingest.shards import FORMAT as PACKED_FORMAT
from hscanom.imaging import to_uint8

__all__ = ["ImageReader", "ImageReadError"]


class ImageReadError(ValueError):
    """A shard that is missing, incomplete, or holds other objects than the database says."""


class _Open:
    def __init__(self, path: Path, dataset: str, packed: bool):
        try:
            self.file = h5py.File(path, "r", rdcc_nbytes=4 << 20)
        except OSError as exc:
            raise ImageReadError(f"{path}: cannot open the shard ({exc})") from None
        attrs = self.file.attrs
        if packed and (attrs.get("format") != PACKED_FORMAT or not bool(attrs.get("complete", False))):
            self.file.close()
            raise ImageReadError(f"{path}: not a complete hscanom image shard")
        if dataset not in self.file or "object_ids" not in self.file:
            self.file.close()
            raise ImageReadError(f"{path}: no {dataset!r} or 'object_ids' dataset")
        self.images = self.file[dataset]
        self.object_ids = self.file["object_ids"][:].astype(np.int64, copy=False)
        self.direct = _inflatable(self.images)


def _inflatable(ds: h5py.Dataset) -> bool:
    """Whether the chunks of ``ds`` are whole uint8 rows compressed by deflate alone."""
    if ds.dtype != np.uint8 or ds.chunks is None or tuple(ds.chunks[1:]) != tuple(ds.shape[1:]):
        return False
    plist = ds.id.get_create_plist()
    filters = {plist.get_filter(k)[0] for k in range(plist.get_nfilters())}
    return h5z.FILTER_DEFLATE in filters and filters <= {h5z.FILTER_DEFLATE, h5z.FILTER_SHUFFLE}


class ImageReader:
    """uint8 images of one dataset name from many shards.

    Args:
        dataset: ``images`` (packed shards), ``reconstructed`` or ``residuals`` (result shards).
        image_shape: (H, W, 3) every image must have.
        max_open: shard files kept open at once.
    """

    def __init__(self, dataset: str, image_shape: tuple[int, int, int], max_open: int = 8, pool: Executor | None = None):
        self.dataset = dataset
        self.pool = pool
        self.packed = dataset == "images"
        self.image_shape = tuple(image_shape)
        self.max_open = max_open
        self._open: OrderedDict[str, _Open] = OrderedDict()

    def _shard(self, path: str) -> _Open:
        shard = self._open.pop(path, None)
        if shard is None:
            shard = _Open(Path(path), self.dataset, self.packed)
            if tuple(shard.images.shape[1:]) != self.image_shape:
                shape = tuple(shard.images.shape[1:])
                shard.file.close()
                raise ImageReadError(f"{path}: images are {shape}, the release needs {self.image_shape}")
            while len(self._open) >= self.max_open:
                _, old = self._open.popitem(last=False)
                old.file.close()
        self._open[path] = shard
        return shard

    def _inflated(self, shard: _Open, rows: np.ndarray) -> np.ndarray | None:
        """Images at ``rows`` through raw chunks inflated on the pool."""
        ds = shard.images
        per_chunk = ds.chunks[0]
        chunk_ids = np.unique(rows // per_chunk)
        tail = (0,) * (ds.ndim - 1)
        raw = [ds.id.read_direct_chunk((int(c) * per_chunk, *tail)) for c in chunk_ids]
        if any(mask for mask, _ in raw):  # a filter was skipped for a chunk: let HDF5 decode
            return None
        chunks = [self.pool.submit(zlib.decompress, data) for _, data in raw]
        shape = (per_chunk, *ds.shape[1:])
        where = {int(c): k for k, c in enumerate(chunk_ids)}
        decoded = [np.frombuffer(f.result(), np.uint8).reshape(shape) for f in chunks]
        out = np.empty((len(rows), *ds.shape[1:]), np.uint8)
        for k, r in enumerate(rows.tolist()):
            out[k] = decoded[where[r // per_chunk]][r % per_chunk]
        return out

    def _rows(self, shard: _Open, rows: np.ndarray) -> np.ndarray:
        """Images at ``rows`` (any order) as uint8 (B, H, W, 3)."""
        if self.pool is not None and shard.direct:
            out = self._inflated(shard, rows)
            if out is not None:
                return out
        lo, hi = int(rows.min()), int(rows.max()) + 1
        if hi - lo <= 2 * len(rows) + 16:
            block = shard.images[lo:hi]
            out = block[rows - lo]
        else:
            uniq, inverse = np.unique(rows, return_inverse=True)
            out = shard.images[uniq.tolist()][inverse]
        if out.dtype != np.uint8:
            out = to_uint8(out)
        return out

    def read(self, paths: np.ndarray, rows: np.ndarray, object_ids: np.ndarray) -> np.ndarray:
        """The images of B objects: ``paths[k]``/``rows[k]`` hold object ``object_ids[k]``.

        Returns:
            uint8 array (B, H, W, 3), in the order given.

        Raises:
            ImageReadError: a shard cannot be read, or a row holds another object.
        """
        out = np.empty((len(rows), *self.image_shape), np.uint8)
        rows = np.asarray(rows, np.int64)
        for path in dict.fromkeys(paths.tolist()):
            sel = np.flatnonzero(paths == path)
            shard = self._shard(path)
            r = rows[sel]
            if r.min() < 0 or r.max() >= len(shard.object_ids):
                raise ImageReadError(f"{path}: row {int(r.max())} is past the end ({len(shard.object_ids)} rows)")
            found = shard.object_ids[r]
            wrong = np.flatnonzero(found != object_ids[sel])
            if wrong.size:
                k = wrong[0]
                raise ImageReadError(
                    f"{path}: row {int(r[k])} holds object {int(found[k])}, but the database says object {int(object_ids[sel][k])}"
                )
            out[sel] = self._rows(shard, r)
        return out

    def close(self) -> None:
        while self._open:
            _, shard = self._open.popitem()
            shard.file.close()

    def __enter__(self) -> "ImageReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
