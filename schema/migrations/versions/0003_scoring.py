"""Scoring: the score_batch work queue and normalised scores.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

* ``score_batch``: one row per batch of sample members of a score run; workers claim rows
  with ``FOR UPDATE SKIP LOCKED`` under a lease (see ``hscanom.ml.jobs``).
* ``anomaly_score_normalized``: per run, (s - mean) / std (population std) of s_gen, s_disc
  and s_anom; ``run_id`` predicates are pushed into the window, so one run's rows are read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NORMALIZED_VIEW = """
CREATE VIEW anomaly_score_normalized AS
SELECT s.run_id,
       s.object_id,
       s.s_gen,
       s.s_disc,
       s.s_anom,
       (s.s_gen - avg(s.s_gen) OVER w) / nullif(stddev_pop(s.s_gen) OVER w, 0) AS s_gen_sigma,
       (s.s_disc - avg(s.s_disc) OVER w) / nullif(stddev_pop(s.s_disc) OVER w, 0) AS s_disc_sigma,
       (s.s_anom - avg(s.s_anom) OVER w) / nullif(stddev_pop(s.s_anom) OVER w, 0) AS s_anom_sigma
  FROM anomaly_score s
WINDOW w AS (PARTITION BY s.run_id);
COMMENT ON VIEW anomaly_score_normalized IS
    'Anomaly scores per run with normalised values (s - mean) / std over the run (population std), in sigma';
"""


def upgrade() -> None:
    op.create_table(
        "score_batch",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("idx_lo", sa.BigInteger(), nullable=False, comment="First sample idx of the batch"),
        sa.Column("idx_hi", sa.BigInteger(), nullable=False, comment="One past the last sample idx"),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("worker", sa.Text(), nullable=True, comment="host:pid of the worker holding or finishing it"),
        sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("missing", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False, comment="Members without packed images (not scored)"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("idx_lo < idx_hi", name=op.f("ck_score_batch_idx_range")),
        sa.CheckConstraint("status IN ('pending', 'running', 'done')", name=op.f("ck_score_batch_status")),
        sa.ForeignKeyConstraint(["run_id"], ["score_run.id"], name=op.f("fk_score_batch_run_id_score_run"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "batch_no", name=op.f("pk_score_batch")),
        comment="Scoring work queue: one row per batch of sample members",
    )
    op.execute(NORMALIZED_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW anomaly_score_normalized")
    op.drop_table("score_batch")
