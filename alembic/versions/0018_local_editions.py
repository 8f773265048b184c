"""Local editions, scoped editors, review before publishing

`editor_grants` give an employee or an API token a role over one unit; audiences and messages
made by a scoped editor carry that unit. `message_editions` hold a unit's adaptation of an HQ
message; `recipients.edition_id` names the edition a recipient is served and
`acknowledgements.edition_id` the edition acknowledged. Messages gain `localizable`, `locked`
and their review state.

Revision ID: 0018_local_editions
Revises: 0017_hot_path
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0018_local_editions"
down_revision: str | None = "0017_hot_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "editor_grants",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "employee_id",
            sa.Uuid(),
            sa.ForeignKey("employees.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "token_id", sa.Uuid(), sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("unit", sa.String(1000), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(employee_id IS NULL) <> (token_id IS NULL)", name="editor_grants_one_grantee"
        ),
    )
    op.create_index("ix_editor_grants_employee_id", "editor_grants", ["employee_id"])
    op.create_index("ix_editor_grants_token_id", "editor_grants", ["token_id"])

    with op.batch_alter_table("audiences") as batch:
        batch.add_column(sa.Column("unit", sa.String(1000), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("unit", sa.String(1000), nullable=True))
        batch.add_column(
            sa.Column("localizable", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("locked", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("review_status", sa.String(20), nullable=True))
        batch.add_column(sa.Column("submitted_by", sa.String(300), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(300), nullable=True))
        batch.add_column(sa.Column("review_comment", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("updated_by", sa.String(300), nullable=True))

    op.create_table(
        "message_editions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "message_id",
            sa.Uuid(),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("unit", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("review_status", sa.String(20), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("summary", sa.String(500), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("acknowledgement_text", sa.String(1000), nullable=True),
        sa.Column("translations", JSON, nullable=False),
        sa.Column("local_note", sa.String(2000), nullable=True),
        sa.Column("based_on_version", sa.Integer(), nullable=False),
        sa.Column("outdated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("submitted_by", sa.String(300), nullable=True),
        sa.Column("reviewed_by", sa.String(300), nullable=True),
        sa.Column("review_comment", sa.String(2000), nullable=True),
        sa.Column("updated_by", sa.String(300), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("message_id", "unit"),
    )
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("edition_id", sa.Uuid(), nullable=True))
    with op.batch_alter_table("acknowledgements") as batch:
        batch.add_column(sa.Column("edition_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acknowledgements") as batch:
        batch.drop_column("edition_id")
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("edition_id")
    op.drop_table("message_editions")
    with op.batch_alter_table("messages") as batch:
        for name in (
            "updated_by",
            "review_comment",
            "reviewed_by",
            "submitted_by",
            "review_status",
            "locked",
            "localizable",
            "unit",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("audiences") as batch:
        batch.drop_column("unit")
    op.drop_index("ix_editor_grants_token_id", table_name="editor_grants")
    op.drop_index("ix_editor_grants_employee_id", table_name="editor_grants")
    op.drop_table("editor_grants")
