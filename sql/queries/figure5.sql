-- figure5: the paper's Figure 5, the full sample against each 3-sigma selection.
--
-- Purpose: for the full scored sample of a run and for the objects above the threshold in
-- each normalised score (s_gen, s_disc, s_anom), the distribution of the properties the
-- paper compares: effective radius, ellipticity, blendedness, aperture/CModel ratio and the
-- g-r and r-i colours, as count, mean, 16th percentile, median and 84th percentile (NULL
-- values left out).
-- Parameters:
--   run_id (bigint): the score run.
--   threshold (float8, default 3): selection threshold on each normalised score [sigma].
-- Output columns:
--   selection (text): full, s_gen, s_disc or s_anom (objects above the threshold in that score).
--   quantity (text): r_eff_arcsec, ellipticity, i_blendedness_abs_flux, log_aperture_cmodel_ratio, g_r or r_i.
--   n_objects (bigint): objects of the selection with a value of the quantity.
--   mean (float8): mean of the quantity (in its own unit: arcsec for r_eff_arcsec, mag for colours).
--   q16 (float8): 16th percentile.
--   median (float8): median.
--   q84 (float8): 84th percentile.
WITH s AS (
    SELECT * FROM scored_object WHERE run_id = %(run_id)s::bigint
), selected AS (
    SELECT 'full' AS selection, s.* FROM s
    UNION ALL SELECT 's_gen', s.* FROM s WHERE s.s_gen_sigma > %(threshold)s::float8
    UNION ALL SELECT 's_disc', s.* FROM s WHERE s.s_disc_sigma > %(threshold)s::float8
    UNION ALL SELECT 's_anom', s.* FROM s WHERE s.s_anom_sigma > %(threshold)s::float8
), values_ AS (
    SELECT x.selection, q.quantity, q.value
      FROM selected x
     CROSS JOIN LATERAL (VALUES
        (1, 'r_eff_arcsec', x.r_eff_arcsec),
        (2, 'ellipticity', x.ellipticity),
        (3, 'i_blendedness_abs_flux', x.i_blendedness_abs_flux),
        (4, 'log_aperture_cmodel_ratio', x.log_aperture_cmodel_ratio),
        (5, 'g_r', x.g_r),
        (6, 'r_i', x.r_i)) AS q(k, quantity, value)
)
SELECT v.selection, v.quantity,
       count(v.value) AS n_objects,
       avg(v.value) AS mean,
       percentile_cont(0.16) WITHIN GROUP (ORDER BY v.value) AS q16,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY v.value) AS median,
       percentile_cont(0.84) WITHIN GROUP (ORDER BY v.value) AS q84
  FROM values_ v
 GROUP BY v.selection, v.quantity
 ORDER BY array_position(ARRAY['full', 's_gen', 's_disc', 's_anom'], v.selection),
          array_position(ARRAY['r_eff_arcsec', 'ellipticity', 'i_blendedness_abs_flux', 'log_aperture_cmodel_ratio', 'g_r', 'r_i'], v.quantity)
