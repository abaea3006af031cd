"""The columns of the extended catalog (Parquet, FITS, HATS, VOTable): names, units, descriptions.

The columns that are ``object_metadata``'s own (:data:`METADATA_COLUMNS`) are described once,
by the view's PostgreSQL column comments (migrations 0002 and 0010, ``description [unit]``);
:func:`describe_columns` reads them when a cut is planned. The other descriptions are the
release's own: they say what the release computed (its mask version, sample ``idx``), name
the published columns (``= discriminator_score_normalized``) or the newest CAE, so they differ
from the comments of the tables the values come from.
"""

from __future__ import annotations

import psycopg

from hscanom.catalog.release.layout import ReleaseError
from hscanom.schema.columns import ColumnSpec

__all__ = ["EXTENDED_COLUMNS", "METADATA_COLUMNS", "RANKING_COLUMNS", "describe_columns"]

#: Extended-catalog columns taken from the ``object_metadata`` view, described by its comments.
METADATA_COLUMNS: tuple[str, ...] = (
    "i_cmodel_mag", "r_eff_arcsec", "e1", "e2", "ellipticity", "axis_ratio", "position_angle_deg",
    "i_blendedness_abs_flux", "blended", "g_r", "r_i", "log_aperture_cmodel_ratio",
)

#: Columns of the extended catalog (Parquet and FITS), in order; those of
#: :data:`METADATA_COLUMNS` without description and unit, which :func:`describe_columns` adds.
EXTENDED_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("idx", "Index of the object in the scored sample (sample_member.idx, 0-based)"),
    ColumnSpec("object_id", "HSC PDR2 object id (int64)"),
    ColumnSpec("ra", "Right ascension", "deg"),
    ColumnSpec("dec", "Declination", "deg"),
    ColumnSpec("s_gen", "Generator (pixel) score sum |x - G(z)|, raw"),
    ColumnSpec("s_disc", "Discriminator (feature) score sum |d(x) - d(G(z))|, raw"),
    ColumnSpec("s_anom", "Combined score (1 - lambda) s_gen + lambda s_disc, raw"),
    ColumnSpec("s_gen_sigma", "s_gen normalised: (s - mean) / std over the run", "sigma"),
    ColumnSpec("s_disc_sigma", "s_disc normalised (= discriminator_score_normalized)", "sigma"),
    ColumnSpec("s_anom_sigma", "s_anom normalised (= combined_score_normalized)", "sigma"),
    *(ColumnSpec(name) for name in METADATA_COLUMNS),
    ColumnSpec("in_bright_star_mask", "Inside a bright-star mask region of the release's mask version (NULL without masks)"),
    ColumnSpec("gmm_label", "GMM cluster of the residual embedding (newest CAE of the run; NULL if not clustered)"),
    ColumnSpec("gmm_probability", "GMM membership probability"),
    ColumnSpec("hdbscan_label", "HDBSCAN cluster of the residual embedding (-1 = noise; NULL if not clustered)"),
    ColumnSpec("hdbscan_probability", "HDBSCAN membership probability"),
    ColumnSpec("umap_x", "UMAP x of the residual embedding"),
    ColumnSpec("umap_y", "UMAP y of the residual embedding"),
)

#: Extended-catalog columns added when the run has a ranking (the newest one; manifest "ranking").
RANKING_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("relevance", "Relevance in [0, 1] learnt from labels (newest ranking of the run, manifest 'ranking'; docs/ranking.md)"),
    ColumnSpec("relevance_uncertainty", "Posterior standard deviation of the ranking model's relevance (0 for labelled objects)"),
    ColumnSpec("relevance_rank", "Rank by relevance (1 = most relevant)"),
)


def describe_columns(conn: psycopg.Connection, columns: tuple[ColumnSpec, ...] = EXTENDED_COLUMNS) -> tuple[ColumnSpec, ...]:
    """``columns`` with the description and unit of each of :data:`METADATA_COLUMNS` read from
    its ``object_metadata`` column comment (``col_description``; a final ``[unit]`` is the unit).

    Raises:
        ReleaseError: such a column has no comment (a database before migration 0010: run
            ``hscanom db upgrade``).
    """
    comments = dict(conn.execute(
        "SELECT a.attname::text, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
        "WHERE a.attrelid = 'object_metadata'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
    ).fetchall())
    out = []
    for spec in columns:
        if spec.name in METADATA_COLUMNS:
            if not comments.get(spec.name):
                raise ReleaseError(
                    f"object_metadata.{spec.name} has no column comment, the description the release publishes: "
                    "upgrade the database (`hscanom db upgrade`, migration 0010)"
                )
            spec = ColumnSpec.from_comment(spec.name, comments[spec.name])
        out.append(spec)
    return tuple(out)
