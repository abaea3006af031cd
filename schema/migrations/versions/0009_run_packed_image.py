"""One rule for which packed image a score run reads: ``run_packed_image(run_id, object_id)``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

* ``run_packed_image(run_id, object_id)``: ``(shard_id, row)`` of the packed image of
  ``object_id`` that score run ``run_id`` reads -- a ``packed`` shard whose ``config.size``
  is the run's image size (``score_run.params.image_size``, else the model's
  ``config.image_size``), from the run's sample first, then the lowest shard id. No row when
  the object has no packed image of that size.

Scoring (``hscanom.ml.jobs``), characterisation, the report, releases and the explorer call
it (through ``hscanom.ingest.pack.run_packed_image`` for the LATERAL join), so they all show
the pixels that were scored. It is ``LANGUAGE sql STABLE`` and not ``STRICT``, so PostgreSQL
inlines it into the calling query.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION run_packed_image(run_id bigint, object_id bigint)
RETURNS TABLE (shard_id bigint, "row" integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT pi.shard_id, pi.row
      FROM score_run r
      JOIN model m ON m.id = r.model_id
      CROSS JOIN LATERAL (SELECT coalesce((r.params ->> 'image_size')::int, (m.config ->> 'image_size')::int) AS size) z
      JOIN packed_image pi ON pi.object_id = $2
      JOIN image_shard sh ON sh.id = pi.shard_id
     WHERE r.id = $1
       AND sh.kind = 'packed'
       AND (sh.config ->> 'size')::int = z.size
       AND coalesce(sh.config ->> 'source', 'fits') = coalesce((
               SELECT coalesce(s0.config ->> 'source', 'fits') FROM image_shard s0
                WHERE s0.kind = 'packed' AND s0.sample_id = r.sample_id AND (s0.config ->> 'size')::int = z.size
                ORDER BY s0.id LIMIT 1), 'fits')
     ORDER BY (sh.sample_id IS NOT DISTINCT FROM r.sample_id) DESC, pi.shard_id
     LIMIT 1
$$;
COMMENT ON FUNCTION run_packed_image(bigint, bigint) IS
    'The packed image (shard_id, row) a score run reads for an object: a shard of the run''s image size, the run''s sample first, then the lowest shard id';
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION run_packed_image(bigint, bigint)")
