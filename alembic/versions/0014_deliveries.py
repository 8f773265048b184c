"""E-mail and chat delivery: delivery rows, chat targets, opt-outs, a message's channels

`deliveries` holds one row per recipient and channel other than the feed (an e-mail to an
employee, a post to a chat target), planned at publication; `recipients.read_channel` says
where the first read happened (reads before this revision were all in the feed).

Revision ID: 0014_deliveries
Revises: 0013_scim_fidelity
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0014_deliveries"
down_revision: str | None = "0013_scim_fidelity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DUE = "state IN ('planned', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("channels", JSON, nullable=False, server_default='["feed"]'))
        batch.add_column(sa.Column("chat_target_ids", JSON, nullable=False, server_default="[]"))
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("read_channel", sa.String(10), nullable=True))
    op.execute("UPDATE recipients SET read_channel = 'feed' WHERE read_at IS NOT NULL")

    op.create_table(
        "chat_targets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_chat_targets_created_at", "chat_targets", ["created_at", "id"])

    op.create_table(
        "deliveries",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            sa.Uuid(),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("employee_id", sa.Uuid(), nullable=True),
        sa.Column(
            "chat_target_id",
            sa.Uuid(),
            sa.ForeignKey("chat_targets.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("planned_at", UTCDateTime(), nullable=False),
        sa.Column("first_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("message_id", "channel", "employee_id", name="uq_deliveries_employee"),
        sa.UniqueConstraint("message_id", "chat_target_id", name="uq_deliveries_chat_target"),
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["not_before"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )

    op.create_table(
        "delivery_opt_outs",
        sa.Column("employee_id", sa.Uuid(), primary_key=True),
        sa.Column("channel", sa.String(10), primary_key=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_opt_outs")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_chat_targets_created_at", table_name="chat_targets")
    op.drop_table("chat_targets")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("read_channel")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("chat_target_ids")
        batch.drop_column("channels")
