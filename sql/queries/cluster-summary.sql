-- cluster-summary: the clusters of a run's residual embeddings, one line per cluster.
--
-- Purpose: for each clustering (GMM, HDBSCAN) of the newest residual CAE of the run and
-- each of its clusters: size, mean membership probability, normalised discriminator score
-- (mean, median, how many above the threshold), bright-star-mask fraction, median size and
-- colours, and the cluster's centre in UMAP coordinates. Objects without a label (not
-- characterised) are left out.
-- Parameters:
--   run_id (bigint): the score run.
--   threshold (float8, default 3): high-anomaly threshold on s_disc_sigma [sigma].
-- Output columns:
--   method (text): gmm or hdbscan.
--   label (integer): cluster label (-1 = HDBSCAN noise).
--   n_objects (bigint): objects in the cluster.
--   fraction (float8): n_objects over the labelled objects of the method.
--   mean_probability (float8): mean membership probability.
--   mean_s_disc_sigma (float8): mean normalised discriminator score [sigma].
--   median_s_disc_sigma (float8): median normalised discriminator score [sigma].
--   n_high_anomaly (bigint): objects with s_disc_sigma above the threshold.
--   fraction_masked (float8): fraction inside the newest bright-star mask version.
--   median_r_eff_arcsec (float8): median determinant radius [arcsec].
--   median_g_r (float8): median g - r colour [mag].
--   median_r_i (float8): median r - i colour [mag].
--   umap_x (float8): mean UMAP x of the members.
--   umap_y (float8): mean UMAP y of the members.
SELECT c.method, c.label,
       count(*) AS n_objects,
       count(*)::float8 / sum(count(*)) OVER (PARTITION BY c.method) AS fraction,
       avg(c.probability) AS mean_probability,
       avg(s.s_disc_sigma) AS mean_s_disc_sigma,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.s_disc_sigma) AS median_s_disc_sigma,
       count(*) FILTER (WHERE s.s_disc_sigma > %(threshold)s::float8) AS n_high_anomaly,
       avg(s.in_bright_star_mask::int) AS fraction_masked,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.r_eff_arcsec) AS median_r_eff_arcsec,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.g_r) AS median_g_r,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.r_i) AS median_r_i,
       avg(s.umap_x) AS umap_x,
       avg(s.umap_y) AS umap_y
  FROM scored_object s
 CROSS JOIN LATERAL (VALUES ('gmm', s.gmm_label, s.gmm_probability),
                            ('hdbscan', s.hdbscan_label, s.hdbscan_probability)) AS c(method, label, probability)
 WHERE s.run_id = %(run_id)s::bigint
   AND c.label IS NOT NULL
 GROUP BY c.method, c.label
 ORDER BY c.method, c.label
