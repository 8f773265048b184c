"""SCIM fidelity: what an identity provider sent, kept for its view, and SCIM deletion

`scim_attributes` holds, per SCIM attribute, the value an identity provider sent where the
directory stores it otherwise (a free-text `locale`, a `userType` that names no employment
type, several e-mail addresses, ...) together with the directory value it was stored as; the
SCIM view shows the sent value while the directory still holds that value. `scim_deleted_at`
marks an employee whose SCIM resource was deleted (RFC 7644 §3.6: 404 from then on); the
employee stays, deactivated, for the directory and reports.

Revision ID: 0013_scim_fidelity
Revises: 0011_feed_order
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0013_scim_fidelity"
down_revision: str | None = "0012_standard_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("employees") as batch:
        batch.add_column(sa.Column("scim_attributes", JSON, nullable=True))
        batch.add_column(sa.Column("scim_deleted_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("employees") as batch:
        batch.drop_column("scim_deleted_at")
        batch.drop_column("scim_attributes")
