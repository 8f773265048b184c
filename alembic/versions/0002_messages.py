"""Brand messages and their published versions

Revision ID: 0002_messages
Revises: 0001_foundation
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002_messages"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.String(500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("translations", JSON, nullable=False),
        sa.Column("priority", sa.String(20), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column(
            "requires_acknowledgement", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("acknowledgement_text", sa.String(1000), nullable=True),
        sa.Column("acknowledge_within_days", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("publish_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("archived_at", TS, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("acknowledgement_version", sa.Integer(), nullable=False),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index("ix_messages_created_at", "messages", ["created_at", "id"])
    op.create_index("ix_messages_status_publish_at", "messages", ["status", "publish_at"])
    op.create_index("ix_messages_status_published_at", "messages", ["status", "published_at"])
    op.create_index("ix_messages_category", "messages", ["category"])
    op.create_table(
        "message_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.String(500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("translations", JSON, nullable=False),
        sa.Column("acknowledgement_text", sa.String(1000), nullable=True),
        sa.Column(
            "requires_reacknowledgement", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("published_by", sa.String(300), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_versions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_versions")),
        sa.UniqueConstraint(
            "message_id", "version", name=op.f("uq_message_versions_message_id_version")
        ),
    )


def downgrade() -> None:
    op.drop_table("message_versions")
    op.drop_table("messages")
