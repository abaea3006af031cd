-- top-ranked: the most relevant objects of a ranking (hscanom rank), with their metadata.
--
-- Purpose: the first objects of a ranking learnt from people's labels (active learning,
-- docs/ranking.md), joined to the run's scores and object_metadata through the
-- scored_object view, and to the newest label of each object. Rank 1 first.
-- Parameters:
--   ranking_id (bigint): the ranking (ranking.id; `hscanom rank` prints it).
--   limit (integer, default 100): how many objects.
-- Output columns:
--   rank (integer): 1 = most relevant.
--   object_id (bigint): HSC object id.
--   relevance (float8): relevance in [0, 1].
--   uncertainty (float8): the ranking model's posterior standard deviation (0 for labelled objects).
--   labelled (boolean): the object was in the ranking's label set.
--   label (text): its newest object_label label, if any.
--   ra (float8): right ascension [deg].
--   dec (float8): declination [deg].
--   s_anom_sigma (float8): normalised anomaly score [sigma].
--   s_disc_sigma (float8): normalised discriminator score [sigma].
--   s_gen_sigma (float8): normalised generator score [sigma].
--   i_cmodel_mag (float8): i-band CModel magnitude [mag].
--   r_eff_arcsec (float8): determinant radius of the i-band exponential CModel moments [arcsec].
--   ellipticity (float8): distortion (a^2 - b^2) / (a^2 + b^2).
--   i_blendedness_abs_flux (float8): i-band blendedness (absolute flux).
--   g_r (float8): g - r CModel colour [mag].
--   r_i (float8): r - i CModel colour [mag].
--   log_aperture_cmodel_ratio (float8): log10(i_convolvedflux_3_20_flux / i_cmodel_flux).
--   in_bright_star_mask (boolean): inside a bright-star mask region (newest mask version).
SELECT rs.rank, rs.object_id, rs.relevance, rs.uncertainty, rs.labelled,
       (SELECT l.label FROM object_label l WHERE l.object_id = rs.object_id ORDER BY l.created_at DESC, l.id DESC LIMIT 1) AS label,
       s.ra, s.dec, s.s_anom_sigma, s.s_disc_sigma, s.s_gen_sigma, s.i_cmodel_mag, s.r_eff_arcsec, s.ellipticity,
       s.i_blendedness_abs_flux, s.g_r, s.r_i, s.log_aperture_cmodel_ratio, s.in_bright_star_mask
  FROM ranking_score rs
  JOIN ranking r ON r.id = rs.ranking_id
  JOIN scored_object s ON s.run_id = r.run_id AND s.object_id = rs.object_id
 WHERE rs.ranking_id = %(ranking_id)s::bigint
 ORDER BY rs.rank
 LIMIT %(limit)s::integer
