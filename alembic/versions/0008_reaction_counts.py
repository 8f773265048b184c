"""Reaction counts per message, kept beside the reactions for the feed

Revision ID: 0008_reaction_counts
Revises: 0007_feedback
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008_reaction_counts"
down_revision: str | None = "0007_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_reaction_counts",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("reaction", sa.String(20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "reaction IN ('like', 'love', 'insightful', 'celebrate', 'concerned')",
            name=op.f("ck_message_reaction_counts_known_reaction"),
        ),
        sa.CheckConstraint("count >= 0", name=op.f("ck_message_reaction_counts_not_negative")),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_reaction_counts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "reaction", name=op.f("pk_message_reaction_counts")),
    )
    # The reactions given so far, counted once; from here on each change keeps them current.
    op.execute(
        "INSERT INTO message_reaction_counts (message_id, reaction, count) "
        "SELECT message_id, reaction, count(*) FROM reactions GROUP BY message_id, reaction"
    )


def downgrade() -> None:
    op.drop_table("message_reaction_counts")
