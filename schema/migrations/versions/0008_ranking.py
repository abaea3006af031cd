"""Rankings learnt from labels (active learning) and the fuller label vocabulary.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

* ``ranking``: one row per ranking of a run (``hscanom rank``): the label set's digest and
  size, the model and its parameters. Immutable: a trigger refuses UPDATE.
* ``ranking_score``: per ranking and object, relevance in [0, 1], its uncertainty and the
  rank. Immutable as well.
* ``object_label``'s CHECK gains ``red_extended``, ``empty_noise``, ``bad_deblend`` and
  ``not_interesting`` (the explorer's review mode labels every class of the paper, and an
  explicit "not interesting").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LABELS = ("merger", "tidal_feature", "star_forming_clump", "blue_core", "artefact", "streak", "bright_star", "other")
NEW_LABELS = (*OLD_LABELS, "red_extended", "empty_noise", "bad_deblend", "not_interesting")

GUARD = """
CREATE FUNCTION ranking_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is immutable: a ranking is never changed, make a new one (hscanom rank)', TG_TABLE_NAME;
END $$;
CREATE TRIGGER ranking_immutable BEFORE UPDATE ON ranking
    FOR EACH ROW EXECUTE FUNCTION ranking_immutable();
CREATE TRIGGER ranking_score_immutable BEFORE UPDATE ON ranking_score
    FOR EACH ROW EXECUTE FUNCTION ranking_immutable();
GRANT SELECT ON ranking, ranking_score TO hscanom_reader;
"""


def _label_check(labels: Sequence[str]) -> None:
    op.drop_constraint(op.f("ck_object_label_label"), "object_label", type_="check")
    op.create_check_constraint(op.f("ck_object_label_label"), "object_label", "label IN (" + ", ".join(f"'{x}'" for x in labels) + ")")


def upgrade() -> None:
    op.create_table(
        "ranking",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("label_digest", sa.Text(), nullable=False, comment="sha256 of the sorted (object_id, interesting) pairs the model was fitted on"),
        sa.Column("label_source", sa.Text(), nullable=False, comment="'object_label', a CSV path with sha256, or 'oracle ...'"),
        sa.Column("n_labels", sa.Integer(), nullable=False, comment="Labelled objects of the run used"),
        sa.Column("n_interesting", sa.Integer(), nullable=False, comment="Of them, labelled interesting"),
        sa.Column("model", sa.Text(), nullable=False, comment="'prior' (no fit: the unsupervised order) or the estimator's name"),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False, comment="Seed, prior score, blend weight, estimator settings, interesting classes, features"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("n_labels >= 0 AND n_interesting >= 0 AND n_interesting <= n_labels", name=op.f("ck_ranking_counts")),
        sa.ForeignKeyConstraint(["run_id"], ["score_run.id"], name=op.f("fk_ranking_run_id_score_run"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking")),
        comment="Rankings of a run by relevance learnt from labels (hscanom rank); immutable",
    )
    op.create_index(op.f("ix_ranking_run_id"), "ranking", ["run_id"], unique=False)
    op.create_table(
        "ranking_score",
        sa.Column("ranking_id", sa.BigInteger(), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("relevance", sa.Double(), nullable=False, comment="Estimated probability-like relevance in [0, 1]"),
        sa.Column("uncertainty", sa.Double(), nullable=False, comment="Spread of the estimators' votes (0 for labelled objects)"),
        sa.Column("rank", sa.Integer(), nullable=False, comment="1 = most relevant; ties broken by object_id"),
        sa.Column("labelled", sa.Boolean(), server_default=sa.false(), nullable=False, comment="The object was in the label set"),
        sa.CheckConstraint("relevance >= 0 AND relevance <= 1", name=op.f("ck_ranking_score_relevance")),
        sa.CheckConstraint("uncertainty >= 0", name=op.f("ck_ranking_score_uncertainty")),
        sa.ForeignKeyConstraint(["object_id"], ["hsc_object.object_id"], name=op.f("fk_ranking_score_object_id_hsc_object")),
        sa.ForeignKeyConstraint(["ranking_id"], ["ranking.id"], name=op.f("fk_ranking_score_ranking_id_ranking"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ranking_id", "object_id", name=op.f("pk_ranking_score")),
        sa.UniqueConstraint("ranking_id", "rank", name=op.f("uq_ranking_score_ranking_id_rank")),
        comment="Per ranking and object: relevance in [0, 1], its uncertainty, rank (1 = most relevant)",
    )
    op.execute(GUARD)
    _label_check(NEW_LABELS)


def downgrade() -> None:
    # refuse rather than lose people's labels that the older vocabulary cannot hold
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM object_label WHERE label IN ('red_extended', 'empty_noise', 'bad_deblend', 'not_interesting')) "
        "THEN RAISE EXCEPTION 'object_label holds labels that revision 0004 cannot store (red_extended, empty_noise, bad_deblend, "
        "not_interesting): export them (/api/labels.csv) and delete them before downgrading'; END IF; END $$"
    )
    _label_check(OLD_LABELS)
    op.execute("DROP TRIGGER ranking_score_immutable ON ranking_score")
    op.execute("DROP TRIGGER ranking_immutable ON ranking")
    op.execute("DROP FUNCTION ranking_immutable()")
    op.drop_table("ranking_score")
    op.drop_index(op.f("ix_ranking_run_id"), table_name="ranking")
    op.drop_table("ranking")
