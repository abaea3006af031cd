"""``ranking_score.uncertainty`` described as what it now is: the GP's posterior standard deviation.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

Rankings were first fitted with a random forest, whose uncertainty was the spread of its trees'
votes; since then ``hscanom rank`` fits a Gaussian process (docs/ranking.md), and the column
holds its posterior standard deviation. Comment only; no data changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = ("Posterior standard deviation of the ranking model (Gaussian process; the spread of the trees' votes "
       "in random-forest rankings); 0 for labelled objects")
OLD = "Spread of the estimators' votes (0 for labelled objects)"


def _comment(text: str) -> str:
    quoted = text.replace("'", "''")
    return f"COMMENT ON COLUMN ranking_score.uncertainty IS '{quoted}'"


def upgrade() -> None:
    op.execute(_comment(NEW))


def downgrade() -> None:
    op.execute(_comment(OLD))
