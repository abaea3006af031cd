"""Per-file and per-image pixel-quality flags of cutouts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

* ``cutout.quality`` (text[]) and ``cutout.n_nonfinite``: what ``hscanom ingest cutouts``
  found in the file's ``IMAGE``: ``'nonfinite'`` (some NaN/inf pixels), ``'nonfinite_centre'``
  (some within the central 16 x 16 pixels). Samples exclude flagged objects with
  ``NOT EXISTS (SELECT 1 FROM cutout c WHERE c.object_id = o.object_id AND c.quality <> '{}')``.
* ``packed_image.quality`` (text[]): the same flags for the packed stamp, plus ``'partial'``
  (the stamp reaches beyond the file's edge and was filled with 0 there).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "cutout",
        sa.Column("quality", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False,
                  comment="Pixel-quality flags of IMAGE at ingest: nonfinite, nonfinite_centre"),
    )
    op.add_column(
        "cutout",
        sa.Column("n_nonfinite", sa.Integer(), server_default="0", nullable=False,
                  comment="Number of NaN/inf pixels in IMAGE"),
    )
    op.add_column(
        "packed_image",
        sa.Column("quality", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False,
                  comment="Pixel-quality flags of the packed stamp: nonfinite, nonfinite_centre, partial"),
    )


def downgrade() -> None:
    op.drop_column("packed_image", "quality")
    op.drop_column("cutout", "n_nonfinite")
    op.drop_column("cutout", "quality")
