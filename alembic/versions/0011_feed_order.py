"""Recipients carry their message's publication time: the feed walks one index in order

The feed is "my live messages, newest publication first". With the order on `messages`, the
database had to join every one of the employee's recipient rows to its message and sort them
before it could take a page: the cost grew with the number of messages a company publishes.
With `published_at` on the recipient row (the message's, copied at publication and for late
joiners; it never changes once published) and an index on (employee_id, published_at,
message_id), it reads the employee's rows newest first and stops after a page. The old index
on (employee_id, message_id) is replaced: the primary key (message_id, employee_id) serves
single lookups.

Revision ID: 0011_feed_order
Revises: 0010_idempotency_keys
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0011_feed_order"
down_revision: str | None = "0010_idempotency_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEX = "ix_recipients_employee_id_message_id"
NEW_INDEX = "ix_recipients_employee_id_published_at_message_id"


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("published_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE recipients SET published_at = ("
        " SELECT coalesce(messages.published_at, recipients.targeted_at) FROM messages"
        " WHERE messages.id = recipients.message_id)"
    )
    with op.batch_alter_table("recipients") as batch:
        batch.alter_column("published_at", existing_type=UTCDateTime(), nullable=False)
        batch.drop_index(OLD_INDEX)
        batch.create_index(NEW_INDEX, ["employee_id", "published_at", "message_id"])


def downgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.drop_index(NEW_INDEX)
        batch.create_index(OLD_INDEX, ["employee_id", "message_id"])
        batch.drop_column("published_at")
