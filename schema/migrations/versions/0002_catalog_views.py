"""Catalog metadata view and bright-star masks as queries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

* ``hsc_finite(x)``: ``x``, or NULL when it is NaN or infinite.
* ``object_metadata``: per object, the quantities the paper studies, derived from the
  i-band exponential CModel ellipse moments (I11, I22, I12 in arcsec^2):

  - ``r_eff_arcsec`` = (I11 I22 - I12^2)^(1/4), the determinant radius sqrt(a b);
  - ``e1`` = (I11 - I22) / (I11 + I22), ``e2`` = 2 I12 / (I11 + I22), and
    ``ellipticity`` = sqrt(e1^2 + e2^2) = (a^2 - b^2) / (a^2 + b^2) (the distortion);
  - ``axis_ratio`` = b / a = sqrt((1 - ellipticity) / (1 + ellipticity));
  - ``position_angle_deg`` = 1/2 atan2(2 I12, I11 - I22) in degrees, in (-90, 90], from
    the moments' first axis towards the second;

  all NULL unless the moments are finite and positive definite (determinant and trace
  > 0). Also ``i_blendedness_abs_flux``, ``blended`` = i_blendedness_abs_flux >=
  10^-0.375 (Mandelbaum et al. 2018), CModel colours ``g_r`` and ``r_i`` [mag], and
  ``log_aperture_cmodel_ratio`` = log10(i_convolvedflux_3_20_flux / i_cmodel_flux)
  (NULL unless both fluxes are finite and positive).
* ``ix_hsc_object_spoint``: GiST index on the objects' pgSphere points, so that applying
  masks probes objects region by region.
* ``in_bright_star_mask(object_id, version)`` and ``in_bright_star_mask(ra, dec, version)``:
  whether a stored object / a position (deg) is inside any region of a mask version
  (NULL for an unknown object_id).
* ``bright_star_masked_object(mask_version, object_id)``: every (version, object) pair
  with the object inside a region of the version; filter on ``mask_version`` and join or
  anti-join on ``object_id``.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The objects' positions as pgSphere points (radians), as indexed.
SPOINT = "spoint(radians(o.ra), radians(o.dec))"

HSC_FINITE = """
CREATE FUNCTION hsc_finite(x double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN x > '-Infinity'::float8 AND x < 'Infinity'::float8 THEN x END $$;
COMMENT ON FUNCTION hsc_finite(double precision) IS 'x, or NULL when x is NaN or infinite';
"""

OBJECT_METADATA = """
CREATE VIEW object_metadata AS
SELECT o.object_id,
       o.ra,
       o.dec,
       hsc_finite(o.i_cmodel_mag) AS i_cmodel_mag,
       CASE WHEN d.ok THEN power(d.det, 0.25) END AS r_eff_arcsec,
       CASE WHEN d.ok THEN (m.i11 - m.i22) / d.tr END AS e1,
       CASE WHEN d.ok THEN 2 * m.i12 / d.tr END AS e2,
       CASE WHEN d.ok THEN sqrt((m.i11 - m.i22) ^ 2 + (2 * m.i12) ^ 2) / d.tr END AS ellipticity,
       CASE WHEN d.ok THEN sqrt((d.tr - sqrt((m.i11 - m.i22) ^ 2 + (2 * m.i12) ^ 2))
                              / (d.tr + sqrt((m.i11 - m.i22) ^ 2 + (2 * m.i12) ^ 2))) END AS axis_ratio,
       CASE WHEN d.ok THEN degrees(0.5 * atan2(2 * m.i12, m.i11 - m.i22)) END AS position_angle_deg,
       hsc_finite(o.i_blendedness_abs_flux) AS i_blendedness_abs_flux,
       hsc_finite(o.i_blendedness_abs_flux) >= 10 ^ (-0.375) AS blended,
       hsc_finite(o.g_cmodel_mag) - hsc_finite(o.r_cmodel_mag) AS g_r,
       hsc_finite(o.r_cmodel_mag) - hsc_finite(o.i_cmodel_mag) AS r_i,
       CASE WHEN hsc_finite(o.i_convolvedflux_3_20_flux) > 0 AND hsc_finite(o.i_cmodel_flux) > 0
            THEN log(o.i_convolvedflux_3_20_flux / o.i_cmodel_flux) END AS log_aperture_cmodel_ratio
FROM hsc_object o
CROSS JOIN LATERAL (
    SELECT hsc_finite(o.i_cmodel_exp_ellipse_11) AS i11,
           hsc_finite(o.i_cmodel_exp_ellipse_22) AS i22,
           hsc_finite(o.i_cmodel_exp_ellipse_12) AS i12
) AS m
CROSS JOIN LATERAL (
    SELECT hsc_finite(m.i11 * m.i22 - m.i12 * m.i12) AS det,
           m.i11 + m.i22 AS tr,
           coalesce(hsc_finite(m.i11 * m.i22 - m.i12 * m.i12) > 0 AND m.i11 + m.i22 > 0, false) AS ok
) AS d;
COMMENT ON VIEW object_metadata IS
    'Per-object size, shape, blendedness, colours and aperture/CModel ratio (i-band exp CModel moments; see migration 0002)';
COMMENT ON COLUMN object_metadata.r_eff_arcsec IS 'Determinant radius (I11 I22 - I12^2)^(1/4) of the i-band exponential CModel moments [arcsec]';
COMMENT ON COLUMN object_metadata.ellipticity IS 'Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2)/(a^2 + b^2)';
COMMENT ON COLUMN object_metadata.position_angle_deg IS 'Major-axis angle 1/2 atan2(2 I12, I11 - I22), from the first moment axis [deg]';
COMMENT ON COLUMN object_metadata.blended IS 'i_blendedness_abs_flux >= 10^-0.375 (Mandelbaum et al. 2018)';
COMMENT ON COLUMN object_metadata.g_r IS 'g - r CModel colour [mag]';
COMMENT ON COLUMN object_metadata.r_i IS 'r - i CModel colour [mag]';
COMMENT ON COLUMN object_metadata.log_aperture_cmodel_ratio IS 'log10(i_convolvedflux_3_20_flux / i_cmodel_flux)';
"""

MASK_FUNCTIONS = f"""
CREATE INDEX ix_hsc_object_spoint ON hsc_object USING gist (spoint(radians(ra), radians(dec)));

CREATE FUNCTION in_bright_star_mask(ra_deg double precision, dec_deg double precision, mask_version text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM bright_star_mask m
        WHERE m.mask_version = $3
          AND (spoint(radians($1), radians($2)) @ m.circle OR spoint(radians($1), radians($2)) @ m.poly))
$$;
COMMENT ON FUNCTION in_bright_star_mask(double precision, double precision, text) IS
    'Whether the position (ra, dec) [deg] is inside any region of the mask version';

CREATE FUNCTION in_bright_star_mask(object_id bigint, mask_version text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM bright_star_mask m
        WHERE m.mask_version = $2 AND ({SPOINT} @ m.circle OR {SPOINT} @ m.poly))
    FROM hsc_object o WHERE o.object_id = $1
$$;
COMMENT ON FUNCTION in_bright_star_mask(bigint, text) IS
    'Whether the object is inside any region of the mask version (NULL if the object is unknown)';

CREATE VIEW bright_star_masked_object AS
SELECT DISTINCT m.mask_version, o.object_id
FROM bright_star_mask m
JOIN hsc_object o ON {SPOINT} @ m.circle OR {SPOINT} @ m.poly;
COMMENT ON VIEW bright_star_masked_object IS
    'Objects inside any region of a mask version: filter on mask_version, (anti-)join on object_id';
"""


def upgrade() -> None:
    op.execute(HSC_FINITE)
    op.execute(OBJECT_METADATA)
    op.execute(MASK_FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP VIEW bright_star_masked_object")
    op.execute("DROP FUNCTION in_bright_star_mask(bigint, text)")
    op.execute("DROP FUNCTION in_bright_star_mask(double precision, double precision, text)")
    op.execute("DROP INDEX ix_hsc_object_spoint")
    op.execute("DROP VIEW object_metadata")
    op.execute("DROP FUNCTION hsc_finite(double precision)")
