"""Issue 21: comprehension checks (quizzes) and actions ("you said, we did")

`messages.quiz` (and its snapshot in `message_versions`) is the comprehension check;
`quiz_attempts` and `quiz_answers` its scored attempts; `acknowledgements.quiz_attempt_id` the
passing attempt an acknowledgement records. `actions`, `action_links` and `action_updates` are
what the company did about feedback; `comments.author_secret_sha256` lets the client of an
anonymous comment's author find the actions linked to it (docs/listening.md).

Revision ID: 0016_understanding
Revises: 0015_inbox_rules
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0016_understanding"
down_revision: str | None = "0015_inbox_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
LINK_TARGET = (
    "(kind = 'comment' AND comment_id IS NOT NULL)"
    " OR (kind = 'pulse' AND message_id IS NOT NULL AND comment_id IS NULL)"
    " OR (kind = 'unit' AND unit_kind IS NOT NULL AND unit_value IS NOT NULL)"
)


def _owned_by(name: str, target: str) -> sa.Column:
    return sa.Column(name, sa.Uuid(), sa.ForeignKey(target, ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("quiz", JSON, nullable=True))
    with op.batch_alter_table("message_versions") as batch:
        batch.add_column(sa.Column("quiz", JSON, nullable=True))

    op.create_table(
        "quiz_attempts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _owned_by("message_id", "messages.id"),
        _owned_by("employee_id", "employees.id"),
        sa.Column("acknowledgement_version", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("quiz_sha256", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("answers", JSON, nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "message_id",
            "employee_id",
            "acknowledgement_version",
            "number",
            name="uq_quiz_attempts_number",
        ),
    )
    op.create_index("ix_quiz_attempts_employee_id", "quiz_attempts", ["employee_id"])
    op.create_table(
        "quiz_answers",
        _owned_by("attempt_id", "quiz_attempts.id"),
        sa.Column("question_id", sa.String(40), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", "question_id"),
    )
    with op.batch_alter_table("acknowledgements") as batch:
        batch.add_column(sa.Column("quiz_attempt_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_acknowledgements_quiz_attempt_id_quiz_attempts",
            "quiz_attempts",
            ["quiz_attempt_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("author_secret_sha256", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_comments_author_secret_sha256", ["author_secret_sha256"])

    op.create_table(
        "actions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_unit_kind", sa.String(20), nullable=False),
        sa.Column("owner_unit", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decline_reason", sa.String(1000), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_actions_created_at", "actions", ["created_at", "id"])
    op.create_table(
        "action_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _owned_by("action_id", "actions.id"),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column(
            "comment_id", sa.Uuid(), sa.ForeignKey("comments.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column(
            "message_id", sa.Uuid(), sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("unit_kind", sa.String(20), nullable=True),
        sa.Column("unit_value", sa.String(200), nullable=True),
        sa.Column("feedback_at", UTCDateTime(), nullable=True),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(LINK_TARGET, name="link_target"),
    )
    op.create_index("ix_action_links_comment_id", "action_links", ["comment_id"])
    op.create_index("ix_action_links_message_id", "action_links", ["message_id"])
    op.create_table(
        "action_updates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _owned_by("action_id", "actions.id"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("previous_status", sa.String(20), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_action_updates_action_id_created_at", "action_updates", ["action_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("action_updates")
    op.drop_table("action_links")
    op.drop_table("actions")
    with op.batch_alter_table("comments") as batch:
        batch.drop_constraint("uq_comments_author_secret_sha256", type_="unique")
        batch.drop_column("author_secret_sha256")
    with op.batch_alter_table("acknowledgements") as batch:
        batch.drop_constraint(
            "fk_acknowledgements_quiz_attempt_id_quiz_attempts", type_="foreignkey"
        )
        batch.drop_column("quiz_attempt_id")
    op.drop_table("quiz_answers")
    op.drop_table("quiz_attempts")
    with op.batch_alter_table("message_versions") as batch:
        batch.drop_column("quiz")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("quiz")
