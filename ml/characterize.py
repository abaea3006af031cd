"""Characterisation of a score run: residual embeddings, UMAP maps, clusters, similar objects.

:func:`characterize` (``hscanom characterize --run ID``) works on one sample of a complete
score run (default: the run's high-anomaly sample ``run<ID>-disc3sigma``):

1. trains two convolutional autoencoders (:mod:`hscanom.ml.cae`), one on the objects'
   |residual| images (the run's result shards, dataset ``residuals``) and one on their real
   images (the packed shards), and registers them in ``model`` (kind ``cae``, parent = the
   run's model);
2. writes each object's 64-d latent vector to ``embedding`` (kind ``residual`` / ``real``);
3. maps each embedding to 2-d with UMAP (``umap_coord`` kind ``residual`` / ``real``,
   model = the CAE), and the pixels themselves too, for the report (kind ``pixels`` on the
   real images, ``residual_pixels`` on the residuals, model = the run's model; UMAP of the
   first 50 principal components of the flattened images);
4. clusters the residual embedding: a Gaussian mixture (``gmm``, probability = largest
   posterior) and HDBSCAN (``hdbscan``, label -1 = noise) to ``cluster_label``.

Images are streamed from the shards a block at a time (``tf.data`` for training), never
loaded whole. Every step first looks for its rows and skips what is already stored, so a
second call with the same run, sample and settings reuses the registered models and
writes nothing. Each table write is one transaction (``COPY``).

:func:`similar` lists an object's nearest neighbours in a run's embedding space through
the SQL function ``similar_objects(run_id, object_id, k, kind)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from hscanom import db
from hscanom.ingest.pack import run_packed_image
from hscanom.records import get_run
from hscanom.samples import get_sample

#: Fewest objects characterised (UMAP neighbours, mixture components, a held-out split).
MIN_OBJECTS = 10
#: Images per read from the shards.
READ_BLOCK = 64
#: Images in the training shuffle buffer.
SHUFFLE_BUFFER = 1024
#: Principal components of the flattened images that the pixel-space UMAP maps.
PIXEL_COMPONENTS = 50
#: Embedding kinds, each with its CAE.
KINDS = ("residual", "real")
#: Pixel-space UMAP kinds and the image kind each is made from.
PIXEL_KINDS = {"pixels": "real", "residual_pixels": "residual"}

#: Called as ``progress(stage, step, total, info)``: after each training epoch
#: ``("CAE residual" | "CAE real", epoch, max_epochs, {"loss": ..., "val_loss": ...})``; at the
#: start of the other steps ``("embed" | "UMAP", 0, 1, {"kind": ...})`` or ``("clusters", 0, 1,
#: {"method": ...})``.
Progress = Callable[[str, int, int, dict], None]


class CharacterizeError(ValueError):
    """A run or sample that cannot be characterised; the message says what to do."""


@dataclass
class CharacterizeResult:
    """What :func:`characterize` did.

    Attributes:
        run_id: the score run.
        sample: name of the characterised sample.
        n_objects: objects characterised (sample members with a residual and a real image).
        residual_model_id, real_model_id: the two CAEs.
        skipped: sample members left out: not scored in the run, or without images.
        trained: kinds whose CAE was trained now (empty when both were reused).
        written: rows written now per "table kind" (empty on a repeated call).
        notes: things worth telling the user (e.g. pixel UMAPs kept from another sample).
    """

    run_id: int
    sample: str
    n_objects: int
    residual_model_id: int
    real_model_id: int
    skipped: list[int] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- images of the chosen objects ---------------------------------------------------------
@dataclass
class ImageSet:
    """Where one kind of image of the characterised objects sits.

    Attributes:
        kind: ``residual`` (result shards, dataset ``residuals``, uint8 k/255) or ``real``
            (packed shards, read with :func:`hscanom.ingest.shards.read_rows`).
        object_ids: int64 (N,), in the order the images are read (by file, then row).
        uris: (N,) shard paths.
        rows: int64 (N,) rows in those shards.
    """

    kind: str
    object_ids: np.ndarray
    uris: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.object_ids)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(self.read(np.arange(1)).shape[1:])

    def read(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``positions`` (indices into this set) as float32 (B, H, W, C) in [0, 1]."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.kind == "real":
            from hscanom.ingest.shards import read_rows

            return read_rows(list(zip(self.uris[positions], self.rows[positions])))
        return read_residuals(self.uris[positions], self.rows[positions])

    def blocks(self, positions: np.ndarray | None = None, size: int = READ_BLOCK) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(positions, images) ``size`` images at a time, over ``positions`` (default: all)."""
        positions = np.arange(len(self)) if positions is None else np.asarray(positions)
        for start in range(0, len(positions), size):
            part = positions[start : start + size]
            yield part, self.read(part)


def read_residuals(uris: Sequence[str], rows: Sequence[int], dataset: str = "residuals") -> np.ndarray:
    """Rows of a result shard dataset (``residuals`` or ``reconstructed``, uint8 k/255) as float32 [0, 1].

    Args:
        uris: result shard path of each image.
        rows: row of each image in its shard.

    Returns:
        float32 (B, H, W, C), in the order given.
    """
    import h5py

    uris, rows = np.asarray(uris), np.asarray(rows, dtype=np.int64)
    out: np.ndarray | None = None
    for uri in dict.fromkeys(uris.tolist()):
        where = np.flatnonzero(uris == uri)
        wanted, inverse = np.unique(rows[where], return_inverse=True)
        try:
            with h5py.File(uri, "r") as f:
                data = f[dataset][wanted]
        except (OSError, KeyError) as exc:
            raise FileNotFoundError(f"{uri}: cannot read dataset {dataset!r} of the result shard ({exc})") from None
        if out is None:
            out = np.empty((len(rows), *data.shape[1:]), np.float32)
        out[where] = data[inverse].astype(np.float32) / np.float32(255.0)
    return out if out is not None else np.empty((0,), np.float32)


# -- the run and its objects ----------------------------------------------------------------
@dataclass(frozen=True)
class _Run:
    id: int
    model_id: int
    sample_id: int
    image_size: int


def _run(conn: psycopg.Connection, run_id: int) -> _Run:
    run = get_run(conn, run_id)  # LookupError: no such run
    if run.status != "complete":
        raise CharacterizeError(f"score run {run_id} is {run.status}, not complete: finish it first (hscanom score)")
    return _Run(run.id, run.model_id, run.sample_id, run.image_size)


def _locate(conn: psycopg.Connection, run: _Run, sample_id: int) -> tuple[ImageSet, ImageSet, list[int]]:
    """(residual images, real images, skipped member ids) of a sample's members in the run."""
    rows = conn.execute(
        f"""
        SELECT m.object_id, rs.uri, a.result_row, ps.uri, p.row
          FROM sample_member m
          JOIN score_run r ON r.id = %(run)s
          LEFT JOIN anomaly_score a ON a.run_id = r.id AND a.object_id = m.object_id
          LEFT JOIN image_shard rs ON rs.id = a.result_shard_id
          {run_packed_image("m.object_id")}
          LEFT JOIN image_shard ps ON ps.id = p.shard_id
         WHERE m.sample_id = %(sample)s
         ORDER BY m.idx
        """,
        {"run": run.id, "size": run.image_size, "sample": sample_id},
    ).fetchall()
    found = [r for r in rows if r[1] is not None and r[2] is not None and r[3] is not None]
    skipped = [int(r[0]) for r in rows if r[1] is None or r[2] is None or r[3] is None]

    def image_set(kind: str, uri_col: int, row_col: int) -> ImageSet:
        ordered = sorted(found, key=lambda r: (r[uri_col], r[row_col]))
        return ImageSet(
            kind,
            np.array([r[0] for r in ordered], dtype=np.int64),
            np.array([r[uri_col] for r in ordered], dtype=object),
            np.array([r[row_col] for r in ordered], dtype=np.int64),
        )

    return image_set("residual", 1, 2), image_set("real", 3, 4), skipped


# -- database writes -------------------------------------------------------------------------
def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """COPY ``rows`` into ``table`` in one transaction; returns the number of rows."""
    n = 0
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def _count(conn: psycopg.Connection, table: str, run_id: int, model_id: int, column: str, value: str) -> int:
    return conn.execute(
        f"SELECT count(*) FROM {table} WHERE run_id = %s AND model_id = %s AND {column} = %s", (run_id, model_id, value)
    ).fetchone()[0]


def _stored_vectors(conn: psycopg.Connection, run_id: int, model_id: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(object_ids int64 (N,), vectors float32 (N, 64)) of stored embeddings, by object_id."""
    rows = conn.execute(
        "SELECT object_id, vector FROM embedding WHERE run_id = %s AND model_id = %s AND kind = %s ORDER BY object_id",
        (run_id, model_id, kind),
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float32)


# -- steps -----------------------------------------------------------------------------------
def _dataset(images: ImageSet, positions: np.ndarray, batch_size: int, seed: int, shuffle: bool):
    """Finite ``tf.data`` dataset of (x, x) batches over ``positions``, streamed from the shards.

    With ``shuffle``, each pass visits the read blocks in a new order and permutes the
    images within windows of about :data:`SHUFFLE_BUFFER` images (numpy, seeded: the same
    seed gives the same batches whatever TensorFlow's global seed). Memory: one window.
    """
    import tensorflow as tf

    blocks = [positions[i : i + READ_BLOCK] for i in range(0, len(positions), READ_BLOCK)]
    per_window = max(1, SHUFFLE_BUFFER // READ_BLOCK)
    rng = np.random.default_rng(seed)

    def generate():
        order = rng.permutation(len(blocks)) if shuffle else np.arange(len(blocks))
        for start in range(0, len(order), per_window):
            window = np.concatenate([blocks[b] for b in order[start : start + per_window]])
            x = images.read(window)
            yield x[rng.permutation(len(x))] if shuffle else x

    n_batches = -(-len(positions) // batch_size)
    ds = tf.data.Dataset.from_generator(generate, output_signature=tf.TensorSpec((None, *images.shape), tf.float32))
    ds = ds.unbatch().batch(batch_size).map(lambda x: (x, x))
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training positions, validation positions), sorted, at least one of each."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, int(round(fraction * n))), n - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _cae_model(conn, run: _Run, images: ImageSet, cfg, home: Path, sample_id: int, progress: Progress | None, result: CharacterizeResult) -> int:
    """Id of the registered CAE of ``cfg`` (trained and registered now if there is none)."""
    from hscanom.ml import registry
    from hscanom.ml.cae import train_cae

    directory = Path(home) / "models" / f"cae-run{run.id}-{cfg.kind}-{cfg.tag()}"
    existing = registry.find(conn, "cae", directory, parent_model_id=run.model_id)
    if existing:
        return existing
    train, val = _split(len(images), cfg.validation_fraction, cfg.seed)
    on_epoch = (lambda epoch, total, losses: progress(f"CAE {cfg.kind}", epoch, total, losses)) if progress else None
    training = train_cae(
        cfg, _dataset(images, train, cfg.batch_size, cfg.seed, True), _dataset(images, val, cfg.batch_size, cfg.seed, False), directory, on_epoch
    )
    result.trained.append(cfg.kind)
    with conn.transaction():
        return registry.register(conn, "cae", cfg, directory, sample_id=sample_id, metrics=training.metrics(len(train), len(val)), parent_model_id=run.model_id)


def _embed(conn, run: _Run, model_id: int, images: ImageSet, progress: Progress | None, result: CharacterizeResult) -> None:
    """Write the latent vector of every image of ``images`` (unless stored already)."""
    from hscanom.ml import registry
    from hscanom.ml.cae import config_from_dict, load_encoder

    if _count(conn, "embedding", run.id, model_id, "kind", images.kind):
        return
    if progress:
        progress("embed", 0, 1, {"kind": images.kind})
    record = registry.get(conn, model_id, "cae")
    encoder = load_encoder(config_from_dict(record.config), record.directory)
    vectors = np.concatenate([encoder(x, training=False).numpy() for _, x in images.blocks(size=256)])
    rows = ((run.id, model_id, int(oid), images.kind, [float(v) for v in vec]) for oid, vec in zip(images.object_ids, vectors))
    result.written[f"embedding {images.kind}"] = _copy(conn, "embedding", ("run_id", "model_id", "object_id", "kind", "vector"), rows)


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    """2-d UMAP (umap-learn, Euclidean, 15 neighbours or n - 1) of x (N, D): float (N, 2)."""
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed, n_jobs=1)
        return reducer.fit_transform(np.asarray(x, np.float32))


def _pixel_components(images: ImageSet, block: int = 512) -> np.ndarray:
    """The first :data:`PIXEL_COMPONENTS` principal components of the flattened images (N, k).

    Incremental PCA over blocks of about ``block`` images (two passes over the shards).
    """
    from sklearn.decomposition import IncrementalPCA

    n = len(images)
    parts = np.array_split(np.arange(n), max(1, n // block))
    k = min(PIXEL_COMPONENTS, n, int(np.prod(images.shape)))
    pca = IncrementalPCA(n_components=k)
    for part in parts:
        pca.partial_fit(images.read(part).reshape(len(part), -1))
    return np.concatenate([pca.transform(images.read(part).reshape(len(part), -1)) for part in parts]).astype(np.float32)


def _write_umap(conn, run_id: int, model_id: int, kind: str, object_ids: np.ndarray, xy: np.ndarray) -> int:
    rows = ((run_id, model_id, int(oid), kind, float(x), float(y)) for oid, (x, y) in zip(object_ids, xy))
    return _copy(conn, "umap_coord", ("run_id", "model_id", "object_id", "kind", "x", "y"), rows)


def cluster_gmm(x: np.ndarray, n_components: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mixture (full covariances) of x (N, D): (labels int (N,), largest posterior (N,)).

    The fit is on standardised float64 features with ``reg_covar`` 1e-3 (in units of each
    feature's variance), so an embedding that collapsed onto a curve or has constant
    dimensions still gives well-defined covariances.
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(x, np.float64)
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    gmm = GaussianMixture(n_components=n_components, covariance_type="full", reg_covar=1e-3, random_state=seed).fit(z)
    posterior = gmm.predict_proba(z)
    return posterior.argmax(axis=1), posterior.max(axis=1)


def cluster_hdbscan(x: np.ndarray, min_cluster_size: int) -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN (scikit-learn) of x (N, D): (labels int (N,), -1 = noise; membership strength (N,))."""
    from sklearn.cluster import HDBSCAN

    fit = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit(x)
    return fit.labels_, fit.probabilities_


def clustering_settings(n_objects: int, gmm_components: int) -> dict:
    """GMM components (capped at n/2) and HDBSCAN's smallest cluster (max(5, n/100))."""
    return {"gmm_components": max(1, min(gmm_components, n_objects // 2)), "hdbscan_min_cluster_size": max(5, n_objects // 100)}


def characterize(
    url: str,
    run_id: int,
    *,
    home: Path,
    sample: str | None = None,
    gmm_components: int = 8,
    seed: int = 0,
    max_epochs: int = 50,
    progress: Progress | None = None,
) -> CharacterizeResult:
    """Embed, map and cluster a sample of score run ``run_id`` (see the module docstring).

    Args:
        url: libpq URL of the database.
        home: ``$HSCANOM_HOME``; models go to ``home/models/cae-run<ID>-<kind>-<hash>/``.
        sample: sample to characterise (default: the run's ``run<ID>-disc3sigma``, created
            if missing). Members not scored in the run are skipped (``result.skipped``).
        gmm_components: Gaussian mixture components (capped at n_objects // 2).
        seed: seed of the CAEs, the splits, UMAP and the mixture.
        max_epochs: cap on CAE training epochs (training stops earlier when the held-out
            loss stops improving).
        progress: called as ``progress(stage, step, total, info)``.

    Raises:
        LookupError: no such run or sample.
        CharacterizeError: the run is not complete, or the sample has fewer than
            :data:`MIN_OBJECTS` scored objects.
    """
    from hscanom.ml.cae import CaeConfig
    from hscanom.ml.runs import high_anomaly_sample
    from hscanom.samples import SampleError

    if gmm_components < 1 or max_epochs < 1:
        raise CharacterizeError(f"gmm_components and max_epochs must be >= 1, got {gmm_components} and {max_epochs}")
    with db.connect(url, autocommit=True) as conn:
        run = _run(conn, run_id)
        name = sample or high_anomaly_sample(url, run_id)
        try:
            info = get_sample(name, url)
        except SampleError as exc:
            raise LookupError(str(exc)) from None
        residuals, reals, skipped = _locate(conn, run, info.id)
        n = len(residuals)
        if n < MIN_OBJECTS:
            raise CharacterizeError(
                f"sample {name!r} has {n} object(s) scored in run {run_id} ({len(skipped)} member(s) not scored); "
                f"characterisation needs at least {MIN_OBJECTS}: choose a larger sample with --sample "
                f"(e.g. the run's scored sample)"
            )
        channels = residuals.shape[-1]
        settings = clustering_settings(n, gmm_components)
        base = CaeConfig(image_size=run.image_size, channels=channels, seed=seed, max_epochs=max_epochs, run_id=run_id, sample=name)
        cfgs = {"residual": base.with_(kind="residual", clustering=settings), "real": base.with_(kind="real")}
        result = CharacterizeResult(run_id, name, n, 0, 0, skipped=skipped)
        images = {"residual": residuals, "real": reals}
        models = {}
        for kind in KINDS:
            models[kind] = _cae_model(conn, run, images[kind], cfgs[kind], Path(home), info.id, progress, result)
            _embed(conn, run, models[kind], images[kind], progress, result)
        result.residual_model_id, result.real_model_id = models["residual"], models["real"]

        for kind in KINDS:
            if _count(conn, "umap_coord", run_id, models[kind], "kind", kind):
                continue
            if progress:
                progress("UMAP", 0, 1, {"kind": kind})
            ids, vectors = _stored_vectors(conn, run_id, models[kind], kind)
            result.written[f"umap_coord {kind}"] = _write_umap(conn, run_id, models[kind], kind, ids, _umap(vectors, seed))
        _pixel_umaps(conn, run, images, seed, progress, result)
        _clusters(conn, run, models["residual"], settings, seed, progress, result)
    return result


def _pixel_umaps(conn, run: _Run, images: dict[str, ImageSet], seed: int, progress: Progress | None, result: CharacterizeResult) -> None:
    """UMAPs of the pixels themselves (model = the run's model), once per run and kind."""
    for kind, source in PIXEL_KINDS.items():
        ids = images[source].object_ids
        stored, same = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE object_id = ANY(%s)) FROM umap_coord WHERE run_id = %s AND model_id = %s AND kind = %s",
            (ids.tolist(), run.id, run.model_id, kind),
        ).fetchone()
        if stored:
            if not (stored == same == len(ids)):
                result.notes.append(
                    f"{kind} UMAP of run {run.id} was made earlier for {stored:,} objects of another sample; it is kept, not redone"
                )
            continue
        if progress:
            progress("UMAP", 0, 1, {"kind": kind})
        xy = _umap(_pixel_components(images[source]), seed)
        result.written[f"umap_coord {kind}"] = _write_umap(conn, run.id, run.model_id, kind, ids, xy)


def _clusters(conn, run: _Run, model_id: int, settings: dict, seed: int, progress: Progress | None, result: CharacterizeResult) -> None:
    """GMM and HDBSCAN labels in the residual-embedding space (each once)."""
    methods = {
        "gmm": lambda x: cluster_gmm(x, settings["gmm_components"], seed),
        "hdbscan": lambda x: cluster_hdbscan(x, settings["hdbscan_min_cluster_size"]),
    }
    todo = [m for m in methods if not _count(conn, "cluster_label", run.id, model_id, "method", m)]
    if not todo:
        return
    ids, vectors = _stored_vectors(conn, run.id, model_id, "residual")
    for method in todo:
        if progress:
            progress("clusters", 0, 1, {"method": method})
        labels, probability = methods[method](vectors)
        rows = ((run.id, model_id, int(oid), method, int(lab), float(p)) for oid, lab, p in zip(ids, labels, probability))
        result.written[f"cluster_label {method}"] = _copy(conn, "cluster_label", ("run_id", "model_id", "object_id", "method", "label", "probability"), rows)


# -- similar objects ---------------------------------------------------------------------------
#: Columns of :func:`similar`'s table, after rank, object_id and distance.
SIMILAR_COLUMNS = (
    "s_disc_sigma", "s_gen_sigma", "s_anom_sigma", "r_eff_arcsec", "g_r", "r_i", "i_cmodel_mag",
    "ra", "dec", "in_bright_star_mask", "gmm_label", "hdbscan_label",
)
_INT64 = (-(2**63), 2**63 - 1)


def similar(url: str, object_id: int, *, run_id: int | None = None, k: int = 20, kind: str = "residual") -> pd.DataFrame:
    """The ``k`` nearest neighbours of ``object_id`` in a run's ``kind`` embedding space.

    Distances come from the SQL function ``similar_objects`` (Euclidean distance between
    the latent vectors of the run's newest CAE of that kind); scores, metadata and the
    residual-embedding clusters come from the ``scored_object`` view.

    Args:
        run_id: the score run (default: the newest run with such an embedding of the object).
        k: rows returned, the object itself included (it is first, at distance 0).
        kind: ``residual`` or ``real``.

    Returns:
        DataFrame with columns rank, object_id (int64), distance and :data:`SIMILAR_COLUMNS`;
        ``attrs`` holds run_id and kind.

    Raises:
        LookupError: unknown object, run, or no embedding of the object.
        ValueError: bad ``k`` or ``kind``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    object_id = int(object_id)
    with db.connect(url) as conn:
        known = _INT64[0] <= object_id <= _INT64[1] and conn.execute("SELECT 1 FROM hsc_object WHERE object_id = %s", (object_id,)).fetchone()
        if not known:
            raise LookupError(f"object {object_id} is not in hsc_object")
        newest = (
            "SELECT max(e.run_id) FROM embedding e JOIN run_embedding_model rm "
            "ON rm.run_id = e.run_id AND rm.kind = e.kind AND rm.model_id = e.model_id "
            "WHERE e.object_id = %s AND e.kind = %s"
        )
        if run_id is None:
            run_id = conn.execute(newest, (object_id, kind)).fetchone()[0]
            if run_id is None:
                raise LookupError(f"object {object_id} has no {kind} embedding in any run (run `hscanom characterize --run ID`)")
        else:
            if conn.execute("SELECT 1 FROM score_run WHERE id = %s", (run_id,)).fetchone() is None:
                raise LookupError(f"no score run with id {run_id}")
            if conn.execute(newest + " AND e.run_id = %s", (object_id, kind, run_id)).fetchone()[0] is None:
                raise LookupError(
                    f"object {object_id} has no {kind} embedding in run {run_id} "
                    f"(it is not in the characterised sample; see `hscanom characterize --run {run_id} --sample ...`)"
                )
        rows = conn.execute(
            f"""
            SELECT s.rank, s.object_id, s.distance, {', '.join('o.' + c for c in SIMILAR_COLUMNS)}
              FROM similar_objects(%(run)s::bigint, %(object)s::bigint, %(k)s::int, %(kind)s::text) s
              LEFT JOIN scored_object o ON o.run_id = %(run)s AND o.object_id = s.object_id
             ORDER BY s.rank
            """,
            {"run": run_id, "object": object_id, "k": k, "kind": kind},
        ).fetchall()
    columns = ("rank", "object_id", "distance", *SIMILAR_COLUMNS)
    data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    frame = pd.DataFrame(data, columns=columns)
    frame["rank"] = np.array(data["rank"], dtype=np.int64)
    frame["object_id"] = np.array(data["object_id"], dtype=np.int64)
    for c in ("gmm_label", "hdbscan_label"):
        frame[c] = pd.array(data[c], dtype="Int64")
    for c in ("distance", "s_disc_sigma", "s_gen_sigma", "s_anom_sigma", "r_eff_arcsec", "g_r", "r_i", "i_cmodel_mag", "ra", "dec"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
    frame.attrs.update(run_id=int(run_id), kind=kind)
    return frame


# -- every scored object --------------------------------------------------------------------
#: Objects embedded per transaction by :func:`embed_all` (a killed call keeps whole batches).
EMBED_ALL_BATCH = 1024


@dataclass
class EmbedAllResult:
    """What :func:`embed_all` did: per kind, the CAE used, objects embedded before and now."""

    run_id: int
    models: dict[str, int]
    before: dict[str, int]
    written: dict[str, int]
    n_scored: int
    skipped: list[int] = field(default_factory=list)


def embed_all(url: str, run_id: int, *, batch: int = EMBED_ALL_BATCH, progress: Progress | None = None) -> EmbedAllResult:
    """Embed EVERY scored object of a run with the run's newest residual and real CAEs.

    :func:`characterize` trains the CAEs and embeds its sample (by default the s_disc > 3
    sigma objects); the ranking (:mod:`hscanom.ml.rank`) needs a representation of every
    object. This writes the missing ``embedding`` rows (same ``model_id`` as the sample's, so
    ``similar_objects`` and the ranking see one space) ``batch`` objects per transaction:
    a killed call keeps the finished batches, and the next call embeds only what is missing.

    Args:
        batch: objects per read-and-COPY transaction.
        progress: called as ``progress("embed all", done, total, {"kind": ...})`` after each batch.

    Raises:
        LookupError: no such run. CharacterizeError: the run is not complete or has not been
            characterised (no CAE yet: run ``hscanom characterize --run ID`` first).
    """
    if batch < 1:
        raise CharacterizeError(f"batch must be >= 1, got {batch}")
    from hscanom.ml import registry
    from hscanom.ml.cae import config_from_dict, load_encoder

    with db.connect(url, autocommit=True) as conn:
        run = _run(conn, run_id)
        models = dict(conn.execute("SELECT kind, model_id FROM run_embedding_model WHERE run_id = %s", (run_id,)).fetchall())
        if any(k not in models for k in KINDS):
            raise CharacterizeError(
                f"run {run_id} has no residual and real CAE yet: run `hscanom characterize --run {run_id}` first "
                "(it trains them on the high-anomaly sample), then `--all`"
            )
        residuals, reals, skipped = _locate(conn, run, run.sample_id)
        out = EmbedAllResult(run_id, {k: int(models[k]) for k in KINDS}, {}, {}, len(residuals), skipped)
        for images in (residuals, reals):
            kind, model_id = images.kind, models[images.kind]
            done = {r[0] for r in conn.execute(
                "SELECT object_id FROM embedding WHERE run_id = %s AND model_id = %s AND kind = %s", (run_id, model_id, kind))}
            out.before[kind] = len(done)
            todo = np.flatnonzero(~np.isin(images.object_ids, np.fromiter(done, np.int64, len(done))))
            out.written[kind] = 0
            if not len(todo):
                continue
            record = registry.get(conn, model_id, "cae")
            encoder = load_encoder(config_from_dict(record.config), record.directory)
            for start in range(0, len(todo), batch):
                part = todo[start : start + batch]
                vectors = np.concatenate([encoder(x, training=False).numpy() for _, x in images.blocks(part, size=256)])
                rows = ((run_id, model_id, int(oid), kind, [float(v) for v in vec]) for oid, vec in zip(images.object_ids[part], vectors))
                out.written[kind] += _copy(conn, "embedding", ("run_id", "model_id", "object_id", "kind", "vector"), rows)
                if progress:
                    progress("embed all", min(start + batch, len(todo)), len(todo), {"kind": kind})
    return out
