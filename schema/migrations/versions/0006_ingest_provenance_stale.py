"""Ingest provenance and stale jobs: who runs an ingest, what its file says about itself.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

* ``ingest_batch.provenance``: the source's own description of itself, kept as read (for a
  CAS catalog, the ``#`` information block before the header: job id, release, SQL).
* ``ingest_batch.worker``: ``host:pid`` of the process running the ingest. While it runs,
  that process holds a PostgreSQL advisory lock on the batch; a ``running`` batch whose lock
  is free belongs to a process that is gone and is marked ``failed`` by the next command.
* ``score_run.status`` may be ``interrupted``: every worker of a running run is gone (none
  holds the run's advisory lock); scoring it again with the same arguments resumes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ingest_batch",
        sa.Column("provenance", sa.Text(), nullable=True, comment="The source's own description (e.g. a CAS information block)"),
    )
    op.add_column(
        "ingest_batch",
        sa.Column("worker", sa.Text(), nullable=True, comment="host:pid of the process that ran the ingest"),
    )
    op.drop_constraint(op.f("ck_score_run_status"), "score_run", type_="check")
    op.create_check_constraint(
        op.f("ck_score_run_status"), "score_run", "status IN ('pending', 'running', 'interrupted', 'complete', 'failed')"
    )


def downgrade() -> None:
    op.execute("UPDATE score_run SET status = 'running' WHERE status = 'interrupted'")
    op.drop_constraint(op.f("ck_score_run_status"), "score_run", type_="check")
    op.create_check_constraint(op.f("ck_score_run_status"), "score_run", "status IN ('pending', 'running', 'complete', 'failed')")
    op.drop_column("ingest_batch", "worker")
    op.drop_column("ingest_batch", "provenance")
