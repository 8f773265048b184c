"""Hot path: cheaper delivery planning

Planning a message's e-mails (one `deliveries` row per recipient, in the publication's
transaction) cost more than resolving the recipients did (bench/emails.py, bench/RESULTS.md).
Per planned row PostgreSQL checked the foreign key to `messages` (an index probe and a
`FOR KEY SHARE` lock through a trigger) and maintained `uq_deliveries_chat_target`, whose
entries for e-mail rows were all `(message_id, NULL)`. Only drafts are ever deleted, and
drafts have no deliveries, so the key guarded nothing the service can do (as for recipients
in 0009). The key to `chat_targets` fired its trigger for every e-mail row too (with NULL):
it goes, and deleting a chat target deletes its rows itself. The chat targets' uniqueness
becomes a partial unique index over chat rows only.

Revision ID: 0017_hot_path
Revises: 0016_understanding
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0017_hot_path"
down_revision: str | None = "0016_understanding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE_FK = "fk_deliveries_message_id_messages"
CHAT_FK = "fk_deliveries_chat_target_id_chat_targets"
CHAT_UNIQUE = "uq_deliveries_chat_target"
CHAT_ROWS = "chat_target_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(MESSAGE_FK, type_="foreignkey")
        batch.drop_constraint(CHAT_FK, type_="foreignkey")
        batch.drop_constraint(CHAT_UNIQUE, type_="unique")
    op.create_index(
        CHAT_UNIQUE,
        "deliveries",
        ["message_id", "chat_target_id"],
        unique=True,
        postgresql_where=sa.text(CHAT_ROWS),
        sqlite_where=sa.text(CHAT_ROWS),
    )


def downgrade() -> None:
    op.drop_index(CHAT_UNIQUE, table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.create_unique_constraint(CHAT_UNIQUE, ["message_id", "chat_target_id"])
        batch.create_foreign_key(MESSAGE_FK, "messages", ["message_id"], ["id"], ondelete="CASCADE")
        batch.create_foreign_key(
            CHAT_FK, "chat_targets", ["chat_target_id"], ["id"], ondelete="CASCADE"
        )
