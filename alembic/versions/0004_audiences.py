"""Audiences, the audiences of each message, and recipients

Revision ID: 0004_audiences
Revises: 0003_employees
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0004_audiences"
down_revision: str | None = "0003_employees"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audiences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key", sa.String(100), nullable=True),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("rule", JSON, nullable=False),
        sa.Column("include_external_ids", JSON, nullable=False),
        sa.Column("exclude_external_ids", JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audiences")),
        sa.UniqueConstraint("key", name=op.f("uq_audiences_key")),
    )
    op.create_index("ix_audiences_created_at", "audiences", ["created_at", "id"])

    op.create_table(
        "message_audiences",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("audience_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_audiences_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["audience_id"],
            ["audiences.id"],
            name=op.f("fk_message_audiences_audience_id_audiences"),
        ),
        sa.PrimaryKeyConstraint("message_id", "audience_id", name=op.f("pk_message_audiences")),
    )
    op.create_index("ix_message_audiences_audience_id", "message_audiences", ["audience_id"])

    op.create_table(
        "recipients",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("targeted_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("read_at", TS, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_recipients_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name=op.f("fk_recipients_employee_id_employees"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "employee_id", name=op.f("pk_recipients")),
    )
    op.create_index(
        "ix_recipients_employee_id_message_id", "recipients", ["employee_id", "message_id"]
    )


def downgrade() -> None:
    op.drop_table("recipients")
    op.drop_table("message_audiences")
    op.drop_table("audiences")
