"""Feedback: reactions, pulse answers, comments; pulse question and feedback settings

Revision ID: 0007_feedback
Revises: 0006_receipts
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0007_feedback"
down_revision: str | None = "0006_receipts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
DEFAULT_FEEDBACK = '{"reactions": true, "comments": true, "anonymous_comments": false}'


def _message_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["message_id"],
        ["messages.id"],
        name=op.f(f"fk_{table}_message_id_messages"),
        ondelete="CASCADE",
    )


def _employee_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["employee_id"],
        ["employees.id"],
        name=op.f(f"fk_{table}_employee_id_employees"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    # Plain ADD COLUMNs (no table copy on SQLite): existing messages get the default settings.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("pulse_question", sa.String(300), nullable=True))
        batch.add_column(
            sa.Column("feedback", JSON, server_default=DEFAULT_FEEDBACK, nullable=False)
        )
    with op.batch_alter_table("message_versions") as batch:
        batch.add_column(sa.Column("pulse_question", sa.String(300), nullable=True))

    op.create_table(
        "reactions",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("reaction", sa.String(20), nullable=False),
        sa.Column("reacted_at", TS, nullable=False),
        sa.CheckConstraint(
            "reaction IN ('like', 'love', 'insightful', 'celebrate', 'concerned')",
            name=op.f("ck_reactions_known_reaction"),
        ),
        _message_fk("reactions"),
        _employee_fk("reactions"),
        sa.PrimaryKeyConstraint("message_id", "employee_id", name=op.f("pk_reactions")),
    )
    op.create_table(
        "pulse_answers",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("answered_at", TS, nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_pulse_answers_score_range")),
        _message_fk("pulse_answers"),
        _employee_fk("pulse_answers"),
        sa.PrimaryKeyConstraint("message_id", "employee_id", name=op.f("pk_pulse_answers")),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("body", sa.String(2000), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("hidden_at", TS, nullable=True),
        sa.Column("hidden_by", sa.String(300), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("answered_by", sa.String(300), nullable=True),
        sa.CheckConstraint("kind IN ('comment', 'question')", name=op.f("ck_comments_known_kind")),
        sa.CheckConstraint(
            "NOT anonymous OR author_id IS NULL", name=op.f("ck_comments_anonymous_has_no_author")
        ),
        _message_fk("comments"),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["employees.id"],
            name=op.f("fk_comments_author_id_employees"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(
        "ix_comments_message_id_created_at", "comments", ["message_id", "created_at", "id"]
    )
    op.create_index("ix_comments_author_id", "comments", ["author_id"])


def downgrade() -> None:
    op.drop_table("comments")
    op.drop_table("pulse_answers")
    op.drop_table("reactions")
    # Not batch mode: on SQLite that copies the table, and dropping the old `messages` would
    # cascade to recipients; SQLite (3.35+) drops a plain column in place.
    for table, column in (
        ("message_versions", "pulse_question"),
        ("messages", "feedback"),
        ("messages", "pulse_question"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
