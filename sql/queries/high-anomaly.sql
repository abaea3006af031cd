-- high-anomaly: the high-anomaly sample of a score run, with the objects' metadata.
--
-- Purpose: every object of the run whose normalised discriminator score s_disc_sigma is
-- above the threshold (the paper's high-anomaly sample is s_disc > 3 sigma: 13,477 of
-- 942,782 objects), joined to object_metadata (size, shape, blendedness, colours,
-- aperture ratio), the bright-star-mask flag of the newest mask version, the cluster
-- labels and the UMAP coordinates (all through the scored_object view). Most anomalous
-- first.
-- Parameters:
--   run_id (bigint): the score run (score_run.id).
--   threshold (float8, default 3): lower limit on s_disc_sigma [sigma].
-- Output columns:
--   object_id (bigint): HSC object id.
--   ra (float8): right ascension [deg].
--   dec (float8): declination [deg].
--   s_disc_sigma (float8): normalised discriminator score [sigma].
--   s_gen_sigma (float8): normalised generator score [sigma].
--   s_anom_sigma (float8): normalised combined score [sigma].
--   i_cmodel_mag (float8): i-band CModel magnitude [mag].
--   r_eff_arcsec (float8): determinant radius of the i-band exponential CModel moments [arcsec].
--   ellipticity (float8): distortion (a^2 - b^2) / (a^2 + b^2).
--   axis_ratio (float8): minor / major axis b / a.
--   i_blendedness_abs_flux (float8): i-band blendedness (absolute flux).
--   blended (boolean): i_blendedness_abs_flux >= 10^-0.375 (Mandelbaum et al. 2018).
--   g_r (float8): g - r CModel colour [mag].
--   r_i (float8): r - i CModel colour [mag].
--   log_aperture_cmodel_ratio (float8): log10(i_convolvedflux_3_20_flux / i_cmodel_flux).
--   mask_version (text): the bright-star mask version of in_bright_star_mask (newest ingested).
--   in_bright_star_mask (boolean): inside a bright-star mask region of mask_version.
--   gmm_label (integer): GMM cluster of the residual embedding (NULL if not characterised).
--   hdbscan_label (integer): HDBSCAN cluster (-1 = noise).
--   umap_x (float8): UMAP x of the residual embedding.
--   umap_y (float8): UMAP y of the residual embedding.
SELECT s.object_id, s.ra, s.dec,
       s.s_disc_sigma, s.s_gen_sigma, s.s_anom_sigma,
       s.i_cmodel_mag, s.r_eff_arcsec, s.ellipticity, s.axis_ratio,
       s.i_blendedness_abs_flux, s.blended, s.g_r, s.r_i, s.log_aperture_cmodel_ratio,
       s.mask_version, s.in_bright_star_mask,
       s.gmm_label, s.hdbscan_label, s.umap_x, s.umap_y
  FROM scored_object s
 WHERE s.run_id = %(run_id)s::bigint
   AND s.s_disc_sigma > %(threshold)s::float8
 ORDER BY s.s_disc_sigma DESC, s.object_id
