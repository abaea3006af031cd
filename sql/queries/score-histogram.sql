-- score-histogram: distributions of the normalised anomaly scores, per run.
--
-- Purpose: histograms of s_gen_sigma, s_disc_sigma and s_anom_sigma (scores normalised to
-- zero mean and unit standard deviation over each run) in bins of bin_width sigma, for one
-- run or for every run. Empty bins are left out.
-- Parameters:
--   run_id (bigint, optional): the score run; NULL (the default) for every run.
--   bin_width (float8, default 0.5): bin width [sigma].
-- Output columns:
--   run_id (bigint): the score run.
--   score (text): s_gen, s_disc or s_anom.
--   bin_lo_sigma (float8): lower edge of the bin (included) [sigma].
--   bin_hi_sigma (float8): upper edge of the bin (excluded) [sigma].
--   n_objects (bigint): objects in the bin.
--   fraction (float8): n_objects over the run's objects with that score.
SELECT h.run_id, h.score,
       h.bin * %(bin_width)s::float8 AS bin_lo_sigma,
       (h.bin + 1) * %(bin_width)s::float8 AS bin_hi_sigma,
       count(*) AS n_objects,
       count(*)::float8 / sum(count(*)) OVER (PARTITION BY h.run_id, h.score) AS fraction
  FROM (
        SELECT n.run_id, v.score, floor(v.sigma / %(bin_width)s::float8) AS bin
          FROM anomaly_score_normalized n
         CROSS JOIN LATERAL (VALUES ('s_gen', n.s_gen_sigma), ('s_disc', n.s_disc_sigma), ('s_anom', n.s_anom_sigma)) AS v(score, sigma)
         WHERE (%(run_id)s::bigint IS NULL OR n.run_id = %(run_id)s::bigint)
           AND v.sigma IS NOT NULL
       ) AS h
 GROUP BY h.run_id, h.score, h.bin
 ORDER BY h.run_id, h.score, h.bin
