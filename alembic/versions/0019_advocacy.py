"""Employee advocacy: sharing settings of messages, shares, clicks, blocked words, profiles

`message_sharing` holds a message's sharing settings (public URL, texts, signature); `shares`
one employee's post of a message on one network, with its short-link code; `share_clicks` one
counted click per (share, visitor hash, hour), kept while its hour lasts (the count is
`shares.clicks`), and `share_click_keys` the day's key of those hashes; `share_blocked_words` the company's blocked words; `advocacy_profiles` the
leaderboard opt-in.

Revision ID: 0019_advocacy
Revises: 0018_local_editions
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0019_advocacy"
down_revision: str | None = "0018_local_editions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
NETWORKS = "network IN ('linkedin', 'x', 'facebook', 'xing', 'generic')"


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "message_sharing",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("shareable", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("share_url", sa.String(2000), nullable=True),
        sa.Column("signature", sa.String(200), nullable=True),
        sa.Column("texts", JSON, nullable=False, server_default="{}"),
        _fk("message_sharing", "message_id", "messages"),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_sharing")),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("network", sa.String(20), nullable=False),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(NETWORKS, name=op.f("ck_shares_known_network")),
        _fk("shares", "message_id", "messages"),
        _fk("shares", "employee_id", "employees"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
        sa.UniqueConstraint("code", name=op.f("uq_shares_code")),
    )
    op.create_index("ix_shares_message_id", "shares", ["message_id", "network"])
    op.create_index("ix_shares_employee_id", "shares", ["employee_id", "created_at", "id"])
    op.create_index("ix_shares_created_at", "shares", ["created_at"])
    op.create_table(
        "share_clicks",
        sa.Column("share_id", sa.Uuid(), nullable=False),
        sa.Column("visitor", sa.LargeBinary(16), nullable=False),
        sa.Column("clicked_at", UTCDateTime(), nullable=False),
        _fk("share_clicks", "share_id", "shares"),
        sa.PrimaryKeyConstraint("share_id", "visitor", name=op.f("pk_share_clicks")),
    )
    op.create_index("ix_share_clicks_clicked_at", "share_clicks", ["clicked_at"])
    op.create_table(
        "share_click_keys",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_share_click_keys")),
    )
    op.create_table(
        "share_blocked_words",
        sa.Column("word", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_share_blocked_words")),
    )
    op.create_table(
        "advocacy_profiles",
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("leaderboard_opt_in", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("advocacy_profiles", "employee_id", "employees"),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_advocacy_profiles")),
    )


def downgrade() -> None:
    op.drop_table("advocacy_profiles")
    op.drop_table("share_blocked_words")
    op.drop_table("share_click_keys")
    op.drop_index("ix_share_clicks_clicked_at", table_name="share_clicks")
    op.drop_table("share_clicks")
    op.drop_index("ix_shares_created_at", table_name="shares")
    op.drop_index("ix_shares_employee_id", table_name="shares")
    op.drop_index("ix_shares_message_id", table_name="shares")
    op.drop_table("shares")
    op.drop_table("message_sharing")
