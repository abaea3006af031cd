"""The columns of the extended catalog (Parquet, FITS, HATS, VOTable): names, units, descriptions."""

from __future__ import annotations

from hscanom.catalog.formats import ColumnSpec

__all__ = ["EXTENDED_COLUMNS", "RANKING_COLUMNS", "extended_columns"]

#: Columns of the extended catalog (Parquet and FITS), in order.
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
    ColumnSpec("i_cmodel_mag", "i-band CModel magnitude", "mag"),
    ColumnSpec("r_eff_arcsec", "Determinant radius (I11 I22 - I12^2)^(1/4) of the i-band exponential CModel moments", "arcsec"),
    ColumnSpec("e1", "Ellipticity component (I11 - I22) / (I11 + I22)"),
    ColumnSpec("e2", "Ellipticity component 2 I12 / (I11 + I22)"),
    ColumnSpec("ellipticity", "Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2) / (a^2 + b^2)"),
    ColumnSpec("axis_ratio", "Minor over major axis b / a"),
    ColumnSpec("position_angle_deg", "Major-axis angle 1/2 atan2(2 I12, I11 - I22), from the first moment axis", "deg"),
    ColumnSpec("i_blendedness_abs_flux", "i-band blendedness (absolute flux)"),
    ColumnSpec("blended", "i_blendedness_abs_flux >= 10^-0.375 (Mandelbaum et al. 2018)"),
    ColumnSpec("g_r", "g - r CModel colour", "mag"),
    ColumnSpec("r_i", "r - i CModel colour", "mag"),
    ColumnSpec("log_aperture_cmodel_ratio", "log10(i_convolvedflux_3_20_flux / i_cmodel_flux)"),
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
    ColumnSpec("relevance_uncertainty", "Spread of the ranking model's votes (0 for labelled objects)"),
    ColumnSpec("relevance_rank", "Rank by relevance (1 = most relevant)"),
)


def extended_columns(ranked: bool) -> tuple[ColumnSpec, ...]:
    """The extended catalog's columns in order: :data:`EXTENDED_COLUMNS`, then
    :data:`RANKING_COLUMNS` when the run has a ranking (``ranked``)."""
    return EXTENDED_COLUMNS + (RANKING_COLUMNS if ranked else ())
