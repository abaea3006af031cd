-- cone-search: scored objects of a run within a radius of a position (Q3C).
--
-- Purpose: a Q3C cone search (index on hsc_object (ra, dec)) over the objects scored in a
-- run, nearest first, with their normalised scores, mask flag and cluster labels.
-- Parameters:
--   run_id (bigint): the score run.
--   ra (float8): right ascension of the centre [deg].
--   dec (float8): declination of the centre [deg].
--   radius_arcsec (float8): search radius [arcsec].
-- Output columns:
--   object_id (bigint): HSC object id.
--   ra (float8): right ascension [deg].
--   dec (float8): declination [deg].
--   distance_arcsec (float8): angular distance from the centre [arcsec].
--   s_disc_sigma (float8): normalised discriminator score [sigma].
--   s_gen_sigma (float8): normalised generator score [sigma].
--   s_anom_sigma (float8): normalised combined score [sigma].
--   i_cmodel_mag (float8): i-band CModel magnitude [mag].
--   in_bright_star_mask (boolean): inside a region of the newest bright-star mask version.
--   gmm_label (integer): GMM cluster of the residual embedding.
--   hdbscan_label (integer): HDBSCAN cluster (-1 = noise).
SELECT s.object_id, s.ra, s.dec,
       q3c_dist(s.ra, s.dec, %(ra)s::float8, %(dec)s::float8) * 3600.0 AS distance_arcsec,
       s.s_disc_sigma, s.s_gen_sigma, s.s_anom_sigma, s.i_cmodel_mag,
       s.in_bright_star_mask, s.gmm_label, s.hdbscan_label
  FROM scored_object s
 WHERE s.run_id = %(run_id)s::bigint
   AND q3c_radial_query(s.ra, s.dec, %(ra)s::float8, %(dec)s::float8, %(radius_arcsec)s::float8 / 3600.0)
 ORDER BY distance_arcsec, s.object_id
