"""Acknowledgements: per-version evidence of what each employee acknowledged

Revision ID: 0006_receipts
Revises: 0005_webhooks
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006_receipts"
down_revision: str | None = "0005_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("acknowledgement_version", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("statement", sa.String(1000), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("acknowledged_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_acknowledgements_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name=op.f("fk_acknowledgements_employee_id_employees"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acknowledgements")),
        sa.UniqueConstraint(
            "message_id",
            "employee_id",
            "acknowledgement_version",
            name="uq_acknowledgements_round",
        ),
    )
    op.create_index("ix_acknowledgements_employee_id", "acknowledgements", ["employee_id"])


def downgrade() -> None:
    op.drop_table("acknowledgements")
