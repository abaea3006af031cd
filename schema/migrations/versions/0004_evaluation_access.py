"""Evaluation, human labels, similar objects, the scored_object view and read-only access.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

* ``evaluation`` / ``evaluation_metric``: ``hscanom evaluate`` results, one metric row per
  (run, score, anomaly class).
* ``object_label``: tags people give objects (explorer); usable as ground truth.
* ``run_embedding_model``: per run and embedding kind, the newest characterisation model
  (the one the view and ``similar_objects`` use).
* ``similar_objects(run_id, object_id, k, kind)``: the k nearest neighbours of an object in
  the run's embedding space (Euclidean distance of the CAE latents; the object itself first,
  at distance 0).
* ``scored_object``: one line per (run, object) joining normalised scores, object_metadata,
  the bright-star-mask flag of the newest mask version, residual-embedding clusters (GMM and
  HDBSCAN) and UMAP coordinates.
* Role ``hscanom_reader`` (NOLOGIN, SELECT only), granted to the migrating user so that
  ``SET ROLE hscanom_reader`` works for user SQL. Roles are cluster-wide: the downgrade
  revokes this database's grants but leaves the role.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READER = "hscanom_reader"

FUNCTIONS_AND_VIEWS = """
CREATE VIEW run_embedding_model AS
SELECT run_id, kind, max(model_id) AS model_id
  FROM embedding
 GROUP BY run_id, kind;
COMMENT ON VIEW run_embedding_model IS
    'Per run and embedding kind (residual, real), the newest characterisation model';

CREATE FUNCTION similar_objects(run_id bigint, object_id bigint, k integer DEFAULT 20, kind text DEFAULT 'residual')
RETURNS TABLE (rank bigint, object_id bigint, distance double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH q AS (
        SELECT e.model_id, e.vector
          FROM embedding e
          JOIN run_embedding_model rm ON rm.run_id = e.run_id AND rm.kind = e.kind AND rm.model_id = e.model_id
         WHERE e.run_id = $1 AND e.object_id = $2 AND e.kind = $4
    ), d AS (
        SELECT e.object_id,
               (SELECT sqrt(sum((u.a - u.b)::float8 ^ 2)) FROM unnest(e.vector, q.vector) AS u(a, b)) AS distance
          FROM q
          JOIN embedding e ON e.run_id = $1 AND e.kind = $4 AND e.model_id = q.model_id
    )
    SELECT row_number() OVER (ORDER BY d.distance, d.object_id <> $2, d.object_id), d.object_id, d.distance
      FROM d
     ORDER BY d.distance, d.object_id <> $2, d.object_id
     LIMIT $3
$$;
COMMENT ON FUNCTION similar_objects(bigint, bigint, integer, text) IS
    'k nearest neighbours of an object in a run''s embedding space (kind residual or real; Euclidean distance of the newest CAE''s latents); the object itself is rank 1';

CREATE VIEW scored_object AS
SELECT n.run_id,
       r.method,
       n.object_id,
       m.ra,
       m.dec,
       n.s_gen, n.s_disc, n.s_anom,
       n.s_gen_sigma, n.s_disc_sigma, n.s_anom_sigma,
       m.i_cmodel_mag, m.r_eff_arcsec, m.ellipticity, m.axis_ratio,
       m.i_blendedness_abs_flux, m.blended, m.g_r, m.r_i, m.log_aperture_cmodel_ratio,
       mv.mask_version,
       CASE WHEN mv.mask_version IS NOT NULL THEN EXISTS (
           SELECT 1 FROM bright_star_masked_object b
            WHERE b.mask_version = mv.mask_version AND b.object_id = n.object_id) END AS in_bright_star_mask,
       rm.model_id AS embedding_model_id,
       g.label AS gmm_label, g.probability AS gmm_probability,
       h.label AS hdbscan_label, h.probability AS hdbscan_probability,
       u.x AS umap_x, u.y AS umap_y
  FROM anomaly_score_normalized n
  JOIN score_run r ON r.id = n.run_id
  JOIN object_metadata m ON m.object_id = n.object_id
  LEFT JOIN LATERAL (SELECT bm.mask_version FROM bright_star_mask bm ORDER BY bm.id DESC LIMIT 1) mv ON true
  LEFT JOIN run_embedding_model rm ON rm.run_id = n.run_id AND rm.kind = 'residual'
  LEFT JOIN cluster_label g ON g.run_id = n.run_id AND g.model_id = rm.model_id AND g.object_id = n.object_id AND g.method = 'gmm'
  LEFT JOIN cluster_label h ON h.run_id = n.run_id AND h.model_id = rm.model_id AND h.object_id = n.object_id AND h.method = 'hdbscan'
  LEFT JOIN umap_coord u ON u.run_id = n.run_id AND u.model_id = rm.model_id AND u.object_id = n.object_id AND u.kind = 'residual';
COMMENT ON VIEW scored_object IS
    'Per run and object: raw and normalised scores [sigma], object_metadata, bright-star-mask flag (newest mask version), residual-embedding clusters and UMAP coordinates';
COMMENT ON COLUMN scored_object.in_bright_star_mask IS 'Inside a region of mask_version, the newest ingested mask version (NULL when no masks)';
COMMENT ON COLUMN scored_object.umap_x IS 'UMAP x of the residual embedding (newest CAE of the run)';
"""

READER_ROLE = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}') THEN
        CREATE ROLE {READER} NOLOGIN;
    END IF;
END $$;
COMMENT ON ROLE {READER} IS 'hscanom: read-only access for user SQL (SELECT only)';
GRANT USAGE ON SCHEMA public TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER};
DO $$ BEGIN
    IF NOT pg_has_role(current_user, '{READER}', 'MEMBER') THEN
        EXECUTE format('GRANT {READER} TO %I', current_user);
    END IF;
END $$;
"""


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('evaluation',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False, comment='The run evaluated (others may be compared beside it)'),
    sa.Column('truth', sa.Text(), nullable=False, comment="Where the labels came from: a file (with sha256) or 'object_label'"),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False, comment='Threshold [sigma], runs compared, class column'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_evaluation_run_id_score_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation')),
    comment='Evaluations of score runs against ground-truth labels'
    )
    op.create_index(op.f('ix_evaluation_run_id'), 'evaluation', ['run_id'], unique=False)
    op.create_table('object_label',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('label', sa.Text(), nullable=False, comment='One of OBJECT_LABELS'),
    sa.Column('note', sa.Text(), nullable=True, comment='Free text'),
    sa.Column('user_name', sa.Text(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=True, comment='Run the object was seen in, if any'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("label IN ('merger', 'tidal_feature', 'star_forming_clump', 'blue_core', 'artefact', 'streak', 'bright_star', 'other')", name=op.f('ck_object_label_label')),
    sa.ForeignKeyConstraint(['object_id'], ['hsc_object.object_id'], name=op.f('fk_object_label_object_id_hsc_object')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_object_label_run_id_score_run'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_object_label')),
    comment='Human labels of objects, from the explorer or imported'
    )
    op.create_index(op.f('ix_object_label_object_id'), 'object_label', ['object_id'], unique=False)
    op.create_table('evaluation_metric',
    sa.Column('evaluation_id', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('score', sa.Text(), nullable=False, comment='s_gen, s_disc or s_anom'),
    sa.Column('anomaly_class', sa.Text(), nullable=False, comment="'all' or one class (positives of that class vs normals)"),
    sa.Column('n_objects', sa.BigInteger(), nullable=False),
    sa.Column('n_positive', sa.BigInteger(), nullable=False),
    sa.Column('roc_auc', sa.Double(), nullable=True),
    sa.Column('average_precision', sa.Double(), nullable=True),
    sa.Column('recall_3sigma', sa.Double(), nullable=True, comment='Fraction of positives above the threshold'),
    sa.Column('purity_3sigma', sa.Double(), nullable=True, comment='Fraction of objects above the threshold that are positives'),
    sa.Column('frac_above_3sigma', sa.Double(), nullable=True, comment='Fraction of all objects above the threshold'),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluation.id'], name=op.f('fk_evaluation_metric_evaluation_id_evaluation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_evaluation_metric_run_id_score_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('evaluation_id', 'run_id', 'score', 'anomaly_class', name=op.f('pk_evaluation_metric')),
    comment='ROC AUC, average precision, and 3-sigma recall/purity per score and class'
    )
    # ### end Alembic commands ###
    op.execute(FUNCTIONS_AND_VIEWS)
    op.execute(READER_ROLE)


def downgrade() -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM {READER}")
    op.execute(f"REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM {READER}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {READER}")
    op.execute("DROP VIEW scored_object")
    op.execute("DROP FUNCTION similar_objects(bigint, bigint, integer, text)")
    op.execute("DROP VIEW run_embedding_model")
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table('evaluation_metric')
    op.drop_index(op.f('ix_object_label_object_id'), table_name='object_label')
    op.drop_table('object_label')
    op.drop_index(op.f('ix_evaluation_run_id'), table_name='evaluation')
    op.drop_table('evaluation')
    # ### end Alembic commands ###
