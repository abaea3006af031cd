-- bright-star-fraction: how much of the full and of the high-anomaly sample bright-star masks cover.
--
-- Purpose: the fraction of a run's scored objects that fall inside a bright-star mask
-- region of one mask version, for the full sample and for the high-anomaly sample
-- (s_disc_sigma above the threshold). The paper finds 8.5 per cent of the full sample and
-- 44.6 per cent of the 3-sigma sample inside the newer HSC masks: anomalies are often
-- artefacts near bright stars. n_regions = 0 means the mask version does not exist.
-- Parameters:
--   run_id (bigint): the score run.
--   mask_version (text, optional): the mask version; NULL (the default) for the newest ingested one.
--   threshold (float8, default 3): high-anomaly threshold on s_disc_sigma [sigma].
-- Output columns:
--   mask_version (text): the mask version applied.
--   n_regions (bigint): regions in that mask version.
--   selection (text): full, or high_anomaly (s_disc_sigma above the threshold).
--   n_objects (bigint): objects in the selection.
--   n_masked (bigint): of them, inside a mask region.
--   fraction_masked (float8): n_masked / n_objects.
WITH v AS (
    SELECT coalesce(%(mask_version)s::text,
                    (SELECT m.mask_version FROM bright_star_mask m ORDER BY m.id DESC LIMIT 1)) AS mask_version
), masked AS (
    SELECT DISTINCT b.object_id
      FROM bright_star_masked_object b
     WHERE b.mask_version = (SELECT mask_version FROM v)
), s AS (
    SELECT n.object_id, n.s_disc_sigma, (k.object_id IS NOT NULL) AS masked
      FROM anomaly_score_normalized n
      LEFT JOIN masked k ON k.object_id = n.object_id
     WHERE n.run_id = %(run_id)s::bigint
)
SELECT (SELECT mask_version FROM v) AS mask_version,
       (SELECT count(*) FROM bright_star_mask m WHERE m.mask_version = (SELECT mask_version FROM v)) AS n_regions,
       sel.selection,
       count(s.object_id) AS n_objects,
       count(s.object_id) FILTER (WHERE s.masked) AS n_masked,
       count(s.object_id) FILTER (WHERE s.masked)::float8 / nullif(count(s.object_id), 0) AS fraction_masked
  FROM (VALUES (1, 'full'), (2, 'high_anomaly')) AS sel(k, selection)
  LEFT JOIN s ON sel.k = 1 OR s.s_disc_sigma > %(threshold)s::float8
 GROUP BY sel.k, sel.selection
 ORDER BY sel.k
