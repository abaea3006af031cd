"""Every ``object_metadata`` column described in the database, as the releases publish it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

Migration 0002 commented seven of the view's twelve derived columns. This one adds the other
five (``i_cmodel_mag``, ``e1``, ``e2``, ``axis_ratio``, ``i_blendedness_abs_flux``) and
spaces ``ellipticity``'s formula as the release files always printed it, so that the column
comments are the one definition of these descriptions: ``hscanom release`` reads them
(``col_description``) for the extended catalog's Parquet, FITS, HATS, VOTable and README
instead of repeating them in Python. A comment is ``description [unit]``
(:meth:`hscanom.schema.columns.ColumnSpec.from_comment` reads it back). No data changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: column -> comment added or changed here.
COMMENTS: dict[str, str] = {
    "i_cmodel_mag": "i-band CModel magnitude [mag]",
    "e1": "Ellipticity component (I11 - I22) / (I11 + I22)",
    "e2": "Ellipticity component 2 I12 / (I11 + I22)",
    "ellipticity": "Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2) / (a^2 + b^2)",
    "axis_ratio": "Minor over major axis b / a",
    "i_blendedness_abs_flux": "i-band blendedness (absolute flux)",
}

#: What 0002 left: no comment, except ellipticity's unspaced formula.
BEFORE: dict[str, str | None] = {name: None for name in COMMENTS} | {
    "ellipticity": "Distortion sqrt(e1^2 + e2^2) = (a^2 - b^2)/(a^2 + b^2)",
}


def _comment(name: str, text: str | None) -> str:
    value = "NULL" if text is None else "'" + text.replace("'", "''") + "'"
    return f"COMMENT ON COLUMN object_metadata.{name} IS {value}"


def upgrade() -> None:
    for name, text in COMMENTS.items():
        op.execute(_comment(name, text))


def downgrade() -> None:
    for name, text in BEFORE.items():
        op.execute(_comment(name, text))
