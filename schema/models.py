"""SQLAlchemy 2.0 models of the hscanom database.

Conventions (docs/architecture.md, "Conventions the code cites"):

* HSC ``object_id`` is ``BIGINT`` everywhere; it never passes through a float.
* Every derived row names what made it (``run_id``, ``model_id``, ``release_id``,
  ``ingest_batch_id``); a new run is a new set of rows, nothing is overwritten in place.
* Angles are degrees; units live in column comments.
* ``hsc_object`` has a Q3C index on ``(ra, dec)``; bright-star masks are pgSphere regions
  with GiST indexes.

The migrations in ``schema/migrations`` create exactly these tables; ``tests/test_schema.py``
fails when the two drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hscanom.schema.columns import HSC_COLUMNS
from hscanom.schema.types import SCircle, SPoly

_SQL_TYPES = {
    "bigint": sa.BigInteger,
    "integer": sa.Integer,
    "double": sa.Double,
    "boolean": sa.Boolean,
    "text": sa.Text,
}

#: Bands a FITS cutout can be in.
BAND_CHECK = "band IN ('g', 'r', 'i', 'z', 'y')"


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def _created() -> Mapped[dt.datetime]:
    return mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


# -- ingest -------------------------------------------------------------------------------
class IngestBatch(Base):
    """One ingest of one file (catalog, cutout folder or mask file)."""

    __tablename__ = "ingest_batch"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('catalog', 'cutouts', 'masks', 'starlist')", name="kind"),
        sa.CheckConstraint("status IN ('running', 'complete', 'failed')", name="status"),
        {"comment": "One ingest of one file or folder, with its summary counts"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text)
    uri: Mapped[str] = mapped_column(sa.Text, comment="File or folder ingested")
    sha256: Mapped[str | None] = mapped_column(sa.Text, comment="Checksum of the file (hex)")
    data_release: Mapped[str | None] = mapped_column(sa.Text, comment="HSC data release, e.g. pdr2_wide")
    status: Mapped[str] = mapped_column(sa.Text, server_default="running")
    started_at: Mapped[dt.datetime] = _created()
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    rows_stored: Mapped[int] = mapped_column(sa.BigInteger, server_default="0", comment="New rows stored")
    rows_updated: Mapped[int] = mapped_column(sa.BigInteger, server_default="0", comment="Existing rows changed")
    rows_rejected: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", comment="Changes, warnings, options")
    provenance: Mapped[str | None] = mapped_column(sa.Text, comment="The source's own description (e.g. a CAS information block)")
    worker: Mapped[str | None] = mapped_column(sa.Text, comment="host:pid of the process that ran the ingest")


class IngestReject(Base):
    """A row or file that an ingest refused, with where and why."""

    __tablename__ = "ingest_reject"
    __table_args__ = ({"comment": "Rows and files refused by an ingest"},)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("ingest_batch.id", ondelete="CASCADE"), index=True)
    line: Mapped[int | None] = mapped_column(sa.BigInteger, comment="Line (text files) or row number (tables), 1-based")
    field: Mapped[str | None] = mapped_column(sa.Text, comment="Column or field at fault")
    raw_value: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)


# -- catalog ------------------------------------------------------------------------------
_hsc_columns = [
    sa.Column(
        c.name,
        _SQL_TYPES[c.kind](),
        primary_key=c.name == "object_id",
        autoincrement=False,
        nullable=not c.required,
        comment=c.comment,
    )
    for c in HSC_COLUMNS
]

hsc_object = sa.Table(
    "hsc_object",
    Base.metadata,
    *_hsc_columns,
    sa.Column("data_release", sa.Text, nullable=False, server_default="pdr2_wide", comment="HSC data release"),
    sa.Column(
        "ingest_batch_id",
        sa.BigInteger,
        sa.ForeignKey("ingest_batch.id"),
        nullable=True,
        comment="Ingest batch that last stored this row",
    ),
    sa.Column("extra", JSONB, nullable=False, server_default="{}", comment="Columns of the source without a typed column"),
    sa.CheckConstraint("ra >= 0 AND ra < 360", name="ra_range"),
    sa.CheckConstraint("dec >= -90 AND dec <= 90", name="dec_range"),
    sa.Index("ix_hsc_object_q3c", sa.text("q3c_ang2ipix(ra, dec)")),
    sa.Index("ix_hsc_object_spoint", sa.text("spoint(radians(ra), radians(dec))"), postgresql_using="gist"),
    comment="HSC CAS catalog rows (PDR2 forced/forced2/meas columns), one per object",
)


class HscObject(Base):
    """An HSC object: the CAS catalog row (all typed columns in ``hsc_object``)."""

    __table__ = hsc_object

    object_id: Mapped[int]
    ra: Mapped[float]
    dec: Mapped[float]


# -- images -------------------------------------------------------------------------------
class Cutout(Base):
    """A pointer to one cutout image file (one band of one object, or a rendered RGB)."""

    __tablename__ = "cutout"
    __table_args__ = (
        sa.CheckConstraint("format IN ('fits', 'png', 'jpeg')", name="format"),
        sa.CheckConstraint(
            f"(format = 'fits' AND {BAND_CHECK}) OR (format <> 'fits' AND band ~ '^[grizy]{{3}}$')",
            name="band",
        ),
        sa.UniqueConstraint("uri", "hdu"),
        {"comment": "Cutout image files: pointers with checksums (pixels stay in the files)"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), index=True)
    band: Mapped[str] = mapped_column(sa.Text, comment="g, r, i, z, y; or e.g. 'gri' for a rendered RGB image")
    uri: Mapped[str] = mapped_column(sa.Text, comment="Absolute path or URL of the file")
    hdu: Mapped[str] = mapped_column(sa.Text, server_default="IMAGE", comment="HDU name holding the pixels")
    format: Mapped[str] = mapped_column(sa.Text)
    rendered: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false(), comment="Pre-rendered RGB, not calibrated flux")
    shape: Mapped[list[int]] = mapped_column(ARRAY(sa.Integer), comment="Pixel array shape (numpy order)")
    sha256: Mapped[str] = mapped_column(sa.Text, index=True)
    ingest_batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ingest_batch.id"))
    quality: Mapped[list[str]] = mapped_column(
        ARRAY(sa.Text), server_default="{}", comment="Pixel-quality flags of IMAGE at ingest: nonfinite, nonfinite_centre"
    )
    n_nonfinite: Mapped[int] = mapped_column(sa.Integer, server_default="0", comment="Number of NaN/inf pixels in IMAGE")


class ImageShard(Base):
    """An HDF5 file of preprocessed images (``images`` N x H x W x C, ``object_ids`` int64)."""

    __tablename__ = "image_shard"
    __table_args__ = (
        sa.UniqueConstraint("uri"),
        sa.CheckConstraint("kind IN ('packed', 'result')", name="kind"),
        {"comment": "HDF5 image shards: packed inputs and scoring results"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text, comment="packed (preprocessed inputs) or result (reconstructions, residuals)")
    uri: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str | None] = mapped_column(sa.Text, comment="Checksum once the shard is complete")
    n_images: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", comment="Size, bands, preprocessing")
    sample_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sample.id"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("score_run.id"))
    created_at: Mapped[dt.datetime] = _created()


class PackedImage(Base):
    """Where an object's preprocessed image sits: (shard, row)."""

    __tablename__ = "packed_image"
    __table_args__ = (
        sa.UniqueConstraint("shard_id", "row"),
        {"comment": "Row of each object in the packed image shards"},
    )

    shard_id: Mapped[int] = mapped_column(sa.ForeignKey("image_shard.id", ondelete="CASCADE"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), primary_key=True, index=True)
    row: Mapped[int] = mapped_column(sa.Integer, comment="Row in the shard's datasets, 0-based")
    quality: Mapped[list[str]] = mapped_column(
        ARRAY(sa.Text), server_default="{}", comment="Pixel-quality flags of the packed stamp: nonfinite, nonfinite_centre, partial"
    )


# -- bright-star masks --------------------------------------------------------------------
class BrightStarMask(Base):
    """One bright-star mask region (a pgSphere circle or polygon)."""

    __tablename__ = "bright_star_mask"
    __table_args__ = (
        sa.CheckConstraint("(circle IS NULL) <> (poly IS NULL)", name="one_region"),
        sa.CheckConstraint("shape IN ('circle', 'box', 'polygon', 'ellipse')", name="shape"),
        sa.Index("ix_bright_star_mask_circle", "circle", postgresql_using="gist"),
        sa.Index("ix_bright_star_mask_poly", "poly", postgresql_using="gist"),
        {"comment": "Bright-star mask regions (halos, ghosts, channel stops) per mask version"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    mask_version: Mapped[str] = mapped_column(sa.Text, index=True)
    kind: Mapped[str | None] = mapped_column(sa.Text, comment="halo, ghost, channel_stop, ... when the source says")
    shape: Mapped[str] = mapped_column(sa.Text, comment="Shape in the source file")
    circle: Mapped[str | None] = mapped_column(SCircle, comment="Region when a circle [deg]")
    poly: Mapped[str | None] = mapped_column(SPoly, comment="Region when a box, ellipse or polygon [deg]")
    star_id: Mapped[int | None] = mapped_column(sa.BigInteger, comment="Source star id")
    star_mag: Mapped[float | None] = mapped_column(sa.Double, comment="Source star magnitude [mag]")
    source: Mapped[str | None] = mapped_column(sa.Text, comment="file:line the region came from")
    ingest_batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ingest_batch.id"))


# -- samples ------------------------------------------------------------------------------
class Sample(Base):
    """A named, reproducible selection of objects (its SQL is kept)."""

    __tablename__ = "sample"
    __table_args__ = (sa.UniqueConstraint("name"), {"comment": "Named, reproducible object selections"})

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text)
    sql: Mapped[str] = mapped_column(sa.Text, comment="SELECT returning object_id that defined the sample")
    description: Mapped[str | None] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    n_members: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    created_at: Mapped[dt.datetime] = _created()


class SampleMember(Base):
    """An object of a sample, with its 0-based index (ordered by object_id)."""

    __tablename__ = "sample_member"
    __table_args__ = (sa.UniqueConstraint("sample_id", "idx"), {"comment": "Members of each sample"})

    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("sample.id", ondelete="CASCADE"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), primary_key=True, index=True)
    idx: Mapped[int] = mapped_column(sa.BigInteger, comment="Index of the object in the sample, 0-based")


# -- models and runs ----------------------------------------------------------------------
class Model(Base):
    """A trained network in the registry (WGAN, encoder, CAE, DCAE)."""

    __tablename__ = "model"
    __table_args__ = ({"comment": "Registry of trained models"},)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text, comment="wgan, encoder, cae, dcae")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    sample_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sample.id"), comment="Training sample")
    parent_model_id: Mapped[int | None] = mapped_column(sa.ForeignKey("model.id"), comment="E.g. the WGAN an encoder belongs to")
    checkpoint_uri: Mapped[str | None] = mapped_column(sa.Text)
    sha256: Mapped[str | None] = mapped_column(sa.Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    code_version: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = _created()


class ScoreRun(Base):
    """One scoring of a sample with a model (a method and its parameters)."""

    __tablename__ = "score_run"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'running', 'interrupted', 'complete', 'failed')", name="status"),
        {"comment": "Scoring runs: model x sample x parameters"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    method: Mapped[str] = mapped_column(sa.Text, server_default="wgan", comment="wgan or dcae")
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("model.id"))
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("sample.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", comment="lambda, iterations, optimiser, seed")
    status: Mapped[str] = mapped_column(sa.Text, server_default="pending")
    code_version: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = _created()
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ScoreBatch(Base):
    """A unit of scoring work: sample members with ``idx_lo <= idx < idx_hi``.

    Workers claim batches with ``SELECT ... FOR UPDATE SKIP LOCKED`` and hold them under a
    lease; a batch whose lease expired (its worker died) is claimed again.
    """

    __tablename__ = "score_batch"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'running', 'done')", name="status"),
        sa.CheckConstraint("idx_lo < idx_hi", name="idx_range"),
        {"comment": "Scoring work queue: one row per batch of sample members"},
    )

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), primary_key=True)
    batch_no: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    idx_lo: Mapped[int] = mapped_column(sa.BigInteger, comment="First sample idx of the batch")
    idx_hi: Mapped[int] = mapped_column(sa.BigInteger, comment="One past the last sample idx")
    status: Mapped[str] = mapped_column(sa.Text, server_default="pending")
    worker: Mapped[str | None] = mapped_column(sa.Text, comment="host:pid of the worker holding or finishing it")
    lease_expires: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    missing: Mapped[list[int]] = mapped_column(ARRAY(sa.BigInteger), server_default="{}", comment="Members without packed images (not scored)")
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


_finite = "{c} IS NULL OR {c} NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)"


class AnomalyScore(Base):
    """Raw anomaly scores of one object in one run."""

    __tablename__ = "anomaly_score"
    __table_args__ = (
        sa.CheckConstraint(_finite.format(c="s_gen"), name="s_gen_finite"),
        sa.CheckConstraint(_finite.format(c="s_disc"), name="s_disc_finite"),
        sa.CheckConstraint(_finite.format(c="s_anom"), name="s_anom_finite"),
        {"comment": "Raw anomaly scores per run and object"},
    )

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), primary_key=True, index=True)
    s_gen: Mapped[float | None] = mapped_column(sa.Double, comment="Generator (pixel) score: sum |x - G(z)|")
    s_disc: Mapped[float | None] = mapped_column(sa.Double, comment="Discriminator (feature) score: sum |d(x) - d(G(z))|")
    s_anom: Mapped[float | None] = mapped_column(sa.Double, comment="Combined score (1-lambda) s_gen + lambda s_disc")
    result_shard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("image_shard.id"), comment="Shard with the reconstruction and residual")
    result_row: Mapped[int | None] = mapped_column(sa.Integer)


class Embedding(Base):
    """A learned vector of an object (e.g. the CAE latent of its residual image)."""

    __tablename__ = "embedding"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('residual', 'real')", name="kind"),
        {"comment": "Autoencoder latent vectors per run, model and object"},
    )

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("model.id"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text, primary_key=True, comment="residual or real")
    vector: Mapped[list[float]] = mapped_column(ARRAY(sa.REAL))


class UmapCoord(Base):
    """2-d UMAP coordinates of an object's embedding."""

    __tablename__ = "umap_coord"
    __table_args__ = ({"comment": "UMAP coordinates per run, embedding model and object"},)

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("model.id"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    x: Mapped[float] = mapped_column(sa.Double)
    y: Mapped[float] = mapped_column(sa.Double)


class ClusterLabel(Base):
    """Cluster membership of an object in an embedding space."""

    __tablename__ = "cluster_label"
    __table_args__ = ({"comment": "Cluster labels (GMM, HDBSCAN) with membership probabilities"},)

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("model.id"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), primary_key=True)
    method: Mapped[str] = mapped_column(sa.Text, primary_key=True, comment="gmm or hdbscan")
    label: Mapped[int] = mapped_column(sa.Integer, comment="-1 for HDBSCAN noise")
    probability: Mapped[float | None] = mapped_column(sa.Double)


# -- evaluation and labels ----------------------------------------------------------------
#: Tags a person can give an object (explorer, ``hscanom evaluate --truth labels``).
OBJECT_LABELS = (
    "merger",
    "tidal_feature",
    "star_forming_clump",
    "blue_core",
    "artefact",
    "streak",
    "bright_star",
    "other",
    # revision 0008: the remaining classes of the paper / simulator, and an explicit "no"
    "red_extended",
    "empty_noise",
    "bad_deblend",
    "not_interesting",
)


class Evaluation(Base):
    """One evaluation of score runs against ground truth."""

    __tablename__ = "evaluation"
    __table_args__ = ({"comment": "Evaluations of score runs against ground-truth labels"},)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), index=True, comment="The run evaluated (others may be compared beside it)")
    truth: Mapped[str] = mapped_column(sa.Text, comment="Where the labels came from: a file (with sha256) or 'object_label'")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", comment="Threshold [sigma], runs compared, class column")
    created_at: Mapped[dt.datetime] = _created()


class EvaluationMetric(Base):
    """Detection metrics of one score, overall or for one anomaly class."""

    __tablename__ = "evaluation_metric"
    __table_args__ = ({"comment": "ROC AUC, average precision, and 3-sigma recall/purity per score and class"},)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[str] = mapped_column(sa.Text, primary_key=True, comment="s_gen, s_disc or s_anom")
    anomaly_class: Mapped[str] = mapped_column(sa.Text, primary_key=True, comment="'all' or one class (positives of that class vs normals)")
    n_objects: Mapped[int] = mapped_column(sa.BigInteger)
    n_positive: Mapped[int] = mapped_column(sa.BigInteger)
    roc_auc: Mapped[float | None] = mapped_column(sa.Double)
    average_precision: Mapped[float | None] = mapped_column(sa.Double)
    recall_3sigma: Mapped[float | None] = mapped_column(sa.Double, comment="Fraction of positives above the threshold")
    purity_3sigma: Mapped[float | None] = mapped_column(sa.Double, comment="Fraction of objects above the threshold that are positives")
    frac_above_3sigma: Mapped[float | None] = mapped_column(sa.Double, comment="Fraction of all objects above the threshold")


class ObjectLabel(Base):
    """A person's tag of an object (append-only; the newest per user counts)."""

    __tablename__ = "object_label"
    __table_args__ = (
        sa.CheckConstraint("label IN (" + ", ".join(f"'{x}'" for x in OBJECT_LABELS) + ")", name="label"),
        {"comment": "Human labels of objects, from the explorer or imported"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), index=True)
    label: Mapped[str] = mapped_column(sa.Text, comment="One of OBJECT_LABELS")
    note: Mapped[str | None] = mapped_column(sa.Text, comment="Free text")
    user_name: Mapped[str] = mapped_column(sa.Text)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("score_run.id", ondelete="SET NULL"), comment="Run the object was seen in, if any")
    created_at: Mapped[dt.datetime] = _created()


# -- rankings (active learning) -----------------------------------------------------------
class Ranking(Base):
    """One ranking of a run's objects by relevance, fitted on one label set (immutable)."""

    __tablename__ = "ranking"
    __table_args__ = (
        sa.CheckConstraint("n_labels >= 0 AND n_interesting >= 0 AND n_interesting <= n_labels", name="counts"),
        {"comment": "Rankings of a run by relevance learnt from labels (hscanom rank); immutable"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id", ondelete="CASCADE"), index=True)
    label_digest: Mapped[str] = mapped_column(sa.Text, comment="sha256 of the sorted (object_id, interesting) pairs the model was fitted on")
    label_source: Mapped[str] = mapped_column(sa.Text, comment="'object_label', a CSV path with sha256, or 'oracle ...'")
    n_labels: Mapped[int] = mapped_column(sa.Integer, comment="Labelled objects of the run used")
    n_interesting: Mapped[int] = mapped_column(sa.Integer, comment="Of them, labelled interesting")
    model: Mapped[str] = mapped_column(sa.Text, comment="'prior' (no fit: the unsupervised order) or the estimator's name")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", comment="Seed, prior score, blend weight, estimator settings, interesting classes, features")
    created_at: Mapped[dt.datetime] = _created()


class RankingScore(Base):
    """An object's relevance in one ranking."""

    __tablename__ = "ranking_score"
    __table_args__ = (
        sa.CheckConstraint("relevance >= 0 AND relevance <= 1", name="relevance"),
        sa.CheckConstraint("uncertainty >= 0", name="uncertainty"),
        sa.UniqueConstraint("ranking_id", "rank"),
        {"comment": "Per ranking and object: relevance in [0, 1], its uncertainty, rank (1 = most relevant)"},
    )

    ranking_id: Mapped[int] = mapped_column(sa.ForeignKey("ranking.id", ondelete="CASCADE"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.ForeignKey("hsc_object.object_id"), primary_key=True)
    relevance: Mapped[float] = mapped_column(sa.Double, comment="Estimated probability-like relevance in [0, 1]")
    uncertainty: Mapped[float] = mapped_column(sa.Double, comment="Posterior standard deviation of the ranking model (Gaussian process; the spread of the trees' votes in random-forest rankings); 0 for labelled objects")
    rank: Mapped[int] = mapped_column(sa.Integer, comment="1 = most relevant; ties broken by object_id")
    labelled: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false(), comment="The object was in the label set")


# -- releases -----------------------------------------------------------------------------
class Release(Base):
    """A versioned public catalog release (append-only)."""

    __tablename__ = "release"
    __table_args__ = (
        sa.UniqueConstraint("version"),
        sa.CheckConstraint("status IN ('cutting', 'complete', 'failed')", name="status"),
        {"comment": "Versioned catalog releases; append-only, complete releases are immutable"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    version: Mapped[str] = mapped_column(sa.Text)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("score_run.id"))
    out_dir: Mapped[str] = mapped_column(sa.Text)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(sa.Text, server_default="cutting")
    created_at: Mapped[dt.datetime] = _created()
