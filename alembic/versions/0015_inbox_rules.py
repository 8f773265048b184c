"""Never flood an inbox: preferences, time zones, digests, caps, quiet hours, retargeting

`employees.time_zone` (IANA) comes from the directory; `employee_preferences` holds what an
employee (or an admin for them) chose, one nullable column per preference (NULL: the company
default); `digests` is one e-mail per employee and period; deliveries gain the retargeting
round (part of their unique key), the digest that carried them, and when they were held and
released; messages gain their own cap and retargeting rule.

Revision ID: 0015_inbox_rules
Revises: 0014_deliveries
Create Date: 2026-12-11
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0015_inbox_rules"
down_revision: str | None = "0014_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HELD = "state = 'held'"
DIGEST_DUE = "state IN ('planned', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("employees") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("email_max_per_week", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retarget_after_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retarget_max", sa.Integer(), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("digest_id", SEQ, nullable=True))
        batch.add_column(sa.Column("digest_period", sa.String(10), nullable=True))
        batch.add_column(sa.Column("held_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("released_at", UTCDateTime(), nullable=True))
        batch.drop_constraint("uq_deliveries_employee", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_employee", ["message_id", "channel", "employee_id", "round"]
        )
    op.create_index("ix_deliveries_employee_id_sent_at", "deliveries", ["employee_id", "sent_at"])
    op.create_index("ix_deliveries_digest_id", "deliveries", ["digest_id"])
    op.create_index(
        "ix_deliveries_held",
        "deliveries",
        ["not_before"],
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )

    op.create_table(
        "employee_preferences",
        sa.Column(
            "employee_id",
            sa.Uuid(),
            sa.ForeignKey("employees.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("email_off", JSON, nullable=False, server_default="[]"),
        sa.Column("digest", sa.String(10), nullable=True),
        sa.Column("digest_hour", sa.Integer(), nullable=True),
        sa.Column("quiet_start", sa.Integer(), nullable=True),
        sa.Column("quiet_end", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "digests",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("build_id", sa.Uuid(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("first_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("employee_id", "period", name="uq_digests_employee_period"),
    )
    op.create_index(
        "ix_digests_due",
        "digests",
        ["not_before"],
        postgresql_where=sa.text(DIGEST_DUE),
        sqlite_where=sa.text(DIGEST_DUE),
    )
    op.create_index("ix_digests_build_id", "digests", ["build_id"])


def downgrade() -> None:
    op.drop_index("ix_digests_build_id", table_name="digests")
    op.drop_index("ix_digests_due", table_name="digests")
    op.drop_table("digests")
    op.drop_table("employee_preferences")
    op.drop_index("ix_deliveries_held", table_name="deliveries")
    op.drop_index("ix_deliveries_digest_id", table_name="deliveries")
    op.drop_index("ix_deliveries_employee_id_sent_at", table_name="deliveries")
    op.execute("DELETE FROM deliveries WHERE round > 0")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_employee", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_employee", ["message_id", "channel", "employee_id"]
        )
        batch.drop_column("released_at")
        batch.drop_column("held_at")
        batch.drop_column("digest_period")
        batch.drop_column("digest_id")
        batch.drop_column("round")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("retarget_max")
        batch.drop_column("retarget_after_days")
        batch.drop_column("email_max_per_week")
    with op.batch_alter_table("employees") as batch:
        batch.drop_column("time_zone")
