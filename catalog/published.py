"""The published catalog formats of Storey-Fisher et al.: pickles, HDF5 results, npy arrays.

Names, columns and dtypes follow the published files exactly (see ``docs/releases.md``):

``anomaly_catalog_hsc_full.p`` / ``anomaly_catalog_hsc_disc3sigma.p``
    pandas DataFrame pickles: index ``idx`` (int64, the object's index in the scored
    sample), columns :data:`PICKLE_COLUMNS` (``HSC_object_id`` int64, the rest float64).
``results_gri_lambda<L>.h5`` / ``results_gri_lambda<L>_3sigd.h5``
    HDF5 datasets :data:`H5_DATASETS`; images N x H x W x 3 uint8 (96 x 96 in the paper),
    chunked by :data:`IMAGE_CHUNK_ROWS` images and gzip-compressed, written a block at a
    time by :class:`ResultsWriter` (memory: one block, whatever N).
``autoencoded_disc3sigma_residuals.npy`` / ``..._reals.npy``
    object arrays of shape (n, 3), one row per high-anomaly object:
    (latent float32 (d,), idx int, discriminator_score_normalized float).

Every writer is deterministic: the same inputs give the same bytes (no timestamps; HDF5
datasets are created with ``track_times=False``; pickles and npy use fixed protocols).

Pickles (the DataFrames and the object arrays inside the ``.npy`` files) are written by
:class:`PortablePickler`, which names only public, long-stable callables (``numpy.frombuffer``,
``numpy.empty``, ``numpy.dtype``, ``pandas.DataFrame``, ``pandas.Index``) instead of the private
module paths NumPy 2 and pandas 3 record by default (``numpy._core.numeric._frombuffer``,
``pandas._libs.internals._unpickle_block`` ...), so that the files load under NumPy 1.2x and
2.x with pandas 1.5, 2.x and 3.x alike (tested in a NumPy 1.26 environment,
``tests/test_release_compat.py``). The loaded objects are the same: same index, columns,
dtypes and values.
"""

from __future__ import annotations

import os
import pickle
import zlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from hscanom.atomic import atomic_path
from hscanom.catalog.formats import ColumnSpec

__all__ = [
    "H5_DATASETS",
    "IMAGE_CHUNK_ROWS",
    "IMAGE_DATASETS",
    "PICKLE_COLUMNS",
    "PICKLE_PROTOCOL",
    "PortablePickler",
    "ResultsWriter",
    "catalog_frame",
    "results_file_name",
    "write_embedding_array",
    "write_pickle",
]

#: Protocol of the DataFrame pickles (that of the published files).
PICKLE_PROTOCOL = 5
#: Images per HDF5 chunk (one chunk of 96 x 96 x 3 uint8 images is 432 KiB).
IMAGE_CHUNK_ROWS = 16
#: Values per chunk of the 1-d HDF5 datasets.
VALUE_CHUNK_ROWS = 65536
#: gzip level of every HDF5 dataset (that of the image shards).
GZIP_LEVEL = 4

#: Columns of the DataFrame pickles (the index is ``idx``), with their dtypes.
PICKLE_COLUMNS: tuple[tuple[ColumnSpec, str], ...] = (
    (ColumnSpec("HSC_object_id", "HSC PDR2 object id"), "int64"),
    (ColumnSpec("ra", "Right ascension", "deg"), "float64"),
    (ColumnSpec("dec", "Declination", "deg"), "float64"),
    (ColumnSpec("discriminator_score_normalized", "Discriminator (feature) score s_disc, (s - mean) / std over the scored sample", "sigma"), "float64"),
    (ColumnSpec("generator_score_normalized", "Generator (pixel) score s_gen, normalised likewise", "sigma"), "float64"),
    (ColumnSpec("combined_score_normalized", "Combined score s_anom = (1 - lambda) s_gen + lambda s_disc, normalised likewise", "sigma"), "float64"),
)
PICKLE_INDEX = ColumnSpec("idx", "Index of the object in the scored sample (sample_member.idx, 0-based, objects ordered by object_id)")

#: 1-d datasets of the HDF5 results files, in the order written, with their dtypes.
H5_DATASETS: tuple[tuple[ColumnSpec, str], ...] = (
    (ColumnSpec("anomaly_scores", "Combined score s_anom = (1 - lambda) s_gen + lambda s_disc (raw)"), "float64"),
    (ColumnSpec("anomaly_scores_sigma", "Combined score, (s - mean) / std over the scored sample", "sigma"), "float64"),
    (ColumnSpec("disc_scores", "Discriminator (feature) score s_disc = sum |d(x) - d(G(z))| (raw)"), "float64"),
    (ColumnSpec("disc_scores_sigma", "Discriminator score, normalised", "sigma"), "float64"),
    (ColumnSpec("gen_scores", "Generator (pixel) score s_gen = sum |x - G(z)| (raw, x in [0, 1])"), "float64"),
    (ColumnSpec("gen_scores_sigma", "Generator score, normalised", "sigma"), "float64"),
    (ColumnSpec("idxs", "Index of the object in the scored sample (the pickles' idx)"), "int64"),
    (ColumnSpec("object_ids", "HSC PDR2 object id"), "int64"),
)
#: Image datasets (N, H, W, 3) uint8 of the HDF5 results files.
IMAGE_DATASETS: tuple[ColumnSpec, ...] = (
    ColumnSpec("reals", "The input: gri cutout as Lupton asinh RGB (R, G, B = i, r, g), 0-255"),
    ColumnSpec("reconstructed", "The WGAN's reconstruction G(z) after the latent optimisation, 0-255"),
    ColumnSpec("residuals", "|real - reconstruction| per pixel and channel, 0-255"),
)


def compression_threads() -> int:
    """Threads that deflate HDF5 chunks: the usable cores, at most 8 (``HSCANOM_THREADS`` overrides)."""
    env = os.environ.get("HSCANOM_THREADS")
    if env:
        return max(1, int(env))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores))


def results_file_name(lambda_anom: float, high_anomaly: bool = False) -> str:
    """``results_gri_lambda0.3.h5`` (or ``..._3sigd.h5``) for the run's lambda."""
    return f"results_gri_lambda{lambda_anom:g}{'_3sigd' if high_anomaly else ''}.h5"


# -- pickles ------------------------------------------------------------------------------
def catalog_frame(idx: np.ndarray, object_id: np.ndarray, ra, dec, s_disc_sigma, s_gen_sigma, s_anom_sigma):
    """The published DataFrame: index ``idx`` int64, :data:`PICKLE_COLUMNS` in order."""
    import pandas as pd

    values = (object_id, ra, dec, s_disc_sigma, s_gen_sigma, s_anom_sigma)
    data = {spec.name: np.asarray(v, dtype=dtype) for (spec, dtype), v in zip(PICKLE_COLUMNS, values)}
    frame = pd.DataFrame(data, index=pd.Index(np.asarray(idx, np.int64), name=PICKLE_INDEX.name))
    frame.columns = pd.Index([spec.name for spec, _ in PICKLE_COLUMNS], dtype=object)
    return frame


class PortablePickler(pickle.Pickler):
    """A pickler whose output loads under NumPy 1.2x/2.x and pandas 1.5/2.x/3.x.

    Reductions (each rebuilt by a public constructor that has the same signature in all
    those versions):

    * numeric ``ndarray`` (C order, little- or big-endian): ``numpy.frombuffer(bytearray(raw),
      dtype_str)`` reshaped by ``BUILD`` -- a protocol-5 ``bytearray``, so it loads writable, as
      NumPy's own protocol-5 pickles do; 0-d and n-d shapes through ``ndarray.__setstate__``;
    * object ``ndarray``: ``numpy.empty(shape, 'O')`` then ``ndarray.__setstate__`` with the
      items (version 1 state, the same in NumPy 1 and 2);
    * ``pandas.Index``: ``Index(values, dtype, False, name)``;
    * ``pandas.DataFrame`` (unique column labels): ``DataFrame({label: column array}, index,
      columns)``.

    NumPy's default ``__reduce_ex__`` names ``numpy._core.numeric._frombuffer`` under NumPy 2,
    which NumPy 1 cannot import (``ModuleNotFoundError: No module named 'numpy._core.numeric'``);
    pandas' default pickles name its internal block constructors. Other objects pickle as usual.
    """

    def reducer_override(self, obj):  # noqa: D401 (pickle protocol hook)
        import pandas as pd

        if type(obj) is np.ndarray:
            return _reduce_array(obj)
        if isinstance(obj, pd.DataFrame) and type(obj) is pd.DataFrame:
            if not obj.columns.is_unique:
                return NotImplemented
            data = {label: obj[label].to_numpy() for label in obj.columns}
            return pd.DataFrame, (data, obj.index, obj.columns)
        if type(obj) is pd.Index:
            values = obj.to_numpy()
            dtype = str(obj.dtype) if values.dtype != object else "object"
            return pd.Index, (values if values.dtype != object else list(values), dtype, False, obj.name)
        return NotImplemented


def _reduce_array(a: np.ndarray):
    if a.dtype.hasobject:
        if a.dtype != object:
            return NotImplemented
        return np.empty, (a.shape, "O"), (1, a.shape, np.dtype(object), False, a.ravel(order="C").tolist())
    if a.dtype.fields is not None or a.dtype.subdtype is not None:
        return NotImplemented
    flat = np.ascontiguousarray(a).reshape(-1)
    rebuilt = (np.frombuffer, (bytearray(flat.tobytes()), a.dtype.str))
    if a.ndim == 1:
        return rebuilt
    # n-d (or 0-d): an empty array of the dtype, filled by ndarray.__setstate__ (raw bytes).
    return np.empty, ((0,), a.dtype.str), (1, a.shape, a.dtype, False, flat.tobytes())


def portable_dumps(obj, protocol: int = 5) -> bytes:
    """``obj`` pickled by :class:`PortablePickler`."""
    import io

    buf = io.BytesIO()
    PortablePickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def write_pickle(path: str | Path, frame) -> Path:
    """Pickle ``frame`` (protocol :data:`PICKLE_PROTOCOL`, :class:`PortablePickler`), through a temporary name."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        PortablePickler(fh, protocol=PICKLE_PROTOCOL).dump(frame)
    return path


# -- npy ----------------------------------------------------------------------------------
def write_embedding_array(path: str | Path, latents: np.ndarray, idx: np.ndarray, scores: np.ndarray) -> Path:
    """The (n, 3) object array of (latent float32 (d,), idx int, score float) rows, as .npy.

    Read it with ``numpy.load(path, allow_pickle=True)``.
    """
    latents = np.asarray(latents, np.float32)
    n = len(idx)
    rows = np.empty((n, 3), dtype=object)
    for k in range(n):
        rows[k, 0] = latents[k].copy()
        rows[k, 1] = int(idx[k])
        rows[k, 2] = float(scores[k])
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        # What np.save writes for an object array (a version 1.0 header, then the pickled
        # array), with the portable pickler.
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(rows))
        PortablePickler(fh, protocol=3).dump(rows)
    return path


# -- HDF5 ---------------------------------------------------------------------------------
class _ChunkWriter:
    """Appends rows to a fixed-size, gzip-chunked dataset, one whole chunk at a time.

    Chunks are deflated on a thread pool (zlib releases the GIL) and stored in row order
    with ``write_direct_chunk``: the file is byte-identical to writing the rows through
    h5py's own gzip filter, but the compression uses every core. The last chunk is padded
    with zeros (the fill value), as HDF5 itself does. At most ``max_inflight`` chunks wait.
    """

    def __init__(self, ds: h5py.Dataset, chunk_rows: int, pool: ThreadPoolExecutor, max_inflight: int):
        self.ds, self.chunk_rows, self.pool, self.max_inflight = ds, chunk_rows, pool, max_inflight
        self.n = 0  # rows appended
        self._next_row = 0  # first row of the next chunk submitted
        self._buffer = np.empty((chunk_rows, *ds.shape[1:]), ds.dtype)
        self._n_buffer = 0
        self._inflight: deque = deque()
        self._tail = (0,) * (len(ds.shape) - 1)

    def append(self, rows: np.ndarray) -> None:
        if self.n + len(rows) > self.ds.shape[0]:
            raise ValueError(f"{self.ds.name}: {self.n + len(rows)} rows appended to a dataset of {self.ds.shape[0]}")
        self.n += len(rows)
        k = 0
        while k < len(rows):
            if self._n_buffer == 0 and len(rows) - k >= self.chunk_rows:
                self._submit(rows[k : k + self.chunk_rows])
                k += self.chunk_rows
                continue
            take = min(self.chunk_rows - self._n_buffer, len(rows) - k)
            self._buffer[self._n_buffer : self._n_buffer + take] = rows[k : k + take]
            self._n_buffer += take
            k += take
            if self._n_buffer == self.chunk_rows:
                self._submit(self._buffer)
                self._n_buffer = 0

    def _submit(self, chunk: np.ndarray) -> None:
        data = chunk.tobytes()  # a copy: the buffer can be reused at once
        self._inflight.append((self._next_row, self.pool.submit(zlib.compress, data, GZIP_LEVEL)))
        self._next_row += self.chunk_rows
        while len(self._inflight) > self.max_inflight:
            self._store()

    def _store(self) -> None:
        row0, future = self._inflight.popleft()
        self.ds.id.write_direct_chunk((row0, *self._tail), future.result())

    def close(self) -> None:
        """Pad and submit the last partial chunk, then store every waiting chunk."""
        if self._n_buffer:
            self._buffer[self._n_buffer :] = 0
            self._submit(self._buffer)
            self._n_buffer = 0
        while self._inflight:
            self._store()


class ResultsWriter:
    """Write one ``results_gri_lambda*.h5`` file: values at once, images a block at a time.

    Args:
        path: the final file; data go to ``path + '.tmp'`` until :meth:`close`.
        n: number of objects (rows of every dataset).
        image_shape: (H, W, 3).
        attrs: file attributes (JSON-able scalars or text; nothing time-dependent).

    Use :meth:`write_values` once, :meth:`append_images` in row order until n rows, then
    :meth:`close` (or leave the ``with`` block); an exception removes the partial file.
    """

    def __init__(self, path: str | Path, n: int, image_shape: Sequence[int], attrs: dict | None = None, pool: ThreadPoolExecutor | None = None):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.n = int(n)
        shape = tuple(int(s) for s in image_shape)
        chunk = min(IMAGE_CHUNK_ROWS, max(self.n, 1))
        chunk_bytes = chunk * int(np.prod(shape))
        self._file = h5py.File(self.tmp, "w", libver=("earliest", "v110"), rdcc_nbytes=4 * chunk_bytes, track_order=False)
        for key, value in (attrs or {}).items():
            self._file.attrs[key] = value
        self._values_written = False
        threads = compression_threads()
        self._own_pool = pool is None
        self._pool = pool or ThreadPoolExecutor(threads, thread_name_prefix="deflate")
        inflight = 2 * threads + 2
        self._images: dict[str, _ChunkWriter] = {}
        for spec in IMAGE_DATASETS:
            ds = self._dataset(spec, (self.n, *shape), np.uint8, (chunk, *shape))
            self._images[spec.name] = _ChunkWriter(ds, chunk, self._pool, inflight)

    def _dataset(self, spec: ColumnSpec, shape: tuple, dtype, chunks: tuple) -> h5py.Dataset:
        maxshape = (None, *shape[1:]) if shape[0] == 0 else shape
        ds = self._file.create_dataset(
            spec.name, shape=shape, maxshape=maxshape, dtype=np.dtype(dtype).newbyteorder("<"), chunks=chunks,
            compression="gzip", compression_opts=GZIP_LEVEL, shuffle=np.dtype(dtype).itemsize > 1,
            track_times=False, fillvalue=0,
        )
        ds.attrs["description"] = spec.description
        if spec.unit:
            ds.attrs["unit"] = spec.unit
        return ds

    def write_values(self, values: dict[str, np.ndarray]) -> None:
        """Every 1-d dataset of :data:`H5_DATASETS` (arrays of length n)."""
        chunk = (min(VALUE_CHUNK_ROWS, max(self.n, 1)),)
        for spec, dtype in H5_DATASETS:
            data = np.asarray(values[spec.name], dtype=dtype)
            if data.shape != (self.n,):
                raise ValueError(f"{self.path.name}: {spec.name} has shape {data.shape}, expected ({self.n},)")
            ds = self._dataset(spec, (self.n,), dtype, chunk)
            if self.n:
                ds[:] = data
        self._values_written = True

    def append_images(self, reals: np.ndarray, reconstructed: np.ndarray, residuals: np.ndarray) -> None:
        """The next rows' images, each uint8 (B, H, W, 3)."""
        for name, data in (("reals", reals), ("reconstructed", reconstructed), ("residuals", residuals)):
            self._images[name].append(np.asarray(data, np.uint8))

    def close(self) -> Path:
        """Check every dataset is full, close and rename to the final name."""
        for writer in self._images.values():
            writer.close()
        counts = {name: w.n for name, w in self._images.items()}
        self._file.close()
        self._shutdown()
        if not self._values_written or any(c != self.n for c in counts.values()):
            self.tmp.unlink(missing_ok=True)
            raise ValueError(f"{self.path.name}: incomplete ({counts} images of {self.n}; values written: {self._values_written})")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._shutdown()
        if self._file.id.valid:
            self._file.close()
        self.tmp.unlink(missing_ok=True)

    def _shutdown(self) -> None:
        if self._own_pool:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._file.id.valid:
            self.close()
