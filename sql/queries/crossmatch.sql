-- crossmatch: a list of positions cross-matched against the scored objects of a run (Q3C).
--
-- Purpose: every position of the list (upload a CSV with ra and dec columns:
-- hscanom sql run crossmatch --upload FILE.csv --param run_id=1) paired with the objects
-- scored in the run within radius_arcsec of it (q3c_join on the hsc_object index), nearest
-- first; a position without a match gives one row with NULL object columns. The list is
-- passed as two arrays, so nothing is written to the database.
-- Parameters:
--   run_id (bigint): the score run.
--   ra (float8[]): right ascensions of the list [deg].
--   dec (float8[]): declinations of the list, same length as ra [deg].
--   radius_arcsec (float8, default 1): match radius [arcsec].
-- Output columns:
--   upload_row (bigint): 0-based position in the list (data rows of the CSV).
--   upload_ra (float8): the listed right ascension [deg].
--   upload_dec (float8): the listed declination [deg].
--   match_rank (bigint): 1 for the nearest match, 2 for the next, ... (NULL without a match).
--   object_id (bigint): HSC object id of the match.
--   ra (float8): right ascension of the match [deg].
--   dec (float8): declination of the match [deg].
--   distance_arcsec (float8): separation [arcsec].
--   s_disc_sigma (float8): normalised discriminator score [sigma].
--   s_gen_sigma (float8): normalised generator score [sigma].
--   s_anom_sigma (float8): normalised combined score [sigma].
--   in_bright_star_mask (boolean): inside a region of the newest bright-star mask version.
WITH upload AS (
    SELECT u.n - 1 AS upload_row, u.ra, u.dec
      FROM unnest(%(ra)s::float8[], %(dec)s::float8[]) WITH ORDINALITY AS u(ra, dec, n)
), matches AS (
    SELECT up.upload_row, o.object_id,
           q3c_dist(up.ra, up.dec, o.ra, o.dec) * 3600.0 AS distance_arcsec
      FROM upload up
      JOIN hsc_object o ON q3c_join(up.ra, up.dec, o.ra, o.dec, %(radius_arcsec)s::float8 / 3600.0)
      JOIN anomaly_score a ON a.run_id = %(run_id)s::bigint AND a.object_id = o.object_id
)
SELECT up.upload_row, up.ra AS upload_ra, up.dec AS upload_dec,
       CASE WHEN m.object_id IS NOT NULL
            THEN row_number() OVER (PARTITION BY up.upload_row ORDER BY m.distance_arcsec, m.object_id) END AS match_rank,
       m.object_id, s.ra, s.dec, m.distance_arcsec,
       s.s_disc_sigma, s.s_gen_sigma, s.s_anom_sigma, s.in_bright_star_mask
  FROM upload up
  LEFT JOIN matches m ON m.upload_row = up.upload_row
  LEFT JOIN scored_object s ON s.run_id = %(run_id)s::bigint AND s.object_id = m.object_id
 ORDER BY up.upload_row, m.distance_arcsec NULLS LAST, m.object_id
