"""The employee directory

Revision ID: 0003_employees
Revises: 0002_messages
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0003_employees"
down_revision: str | None = "0002_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "employees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("user_name", sa.String(320), nullable=True),
        sa.Column("employee_number", sa.String(100), nullable=True),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("given_name", sa.String(200), nullable=True),
        sa.Column("family_name", sa.String(200), nullable=True),
        sa.Column("department", sa.String(200), nullable=True),
        sa.Column("division", sa.String(200), nullable=True),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("job_title", sa.String(200), nullable=True),
        sa.Column("job_level", sa.Integer(), nullable=True),
        sa.Column("manager_external_id", sa.String(255), nullable=True),
        sa.Column("employment_type", sa.String(20), nullable=True),
        sa.Column("customer_facing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("hire_date", sa.Date(), nullable=True),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("deactivated_at", TS, nullable=True),
        sa.Column("erased_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employees")),
        sa.UniqueConstraint("external_id", name=op.f("uq_employees_external_id")),
        sa.UniqueConstraint("email", name=op.f("uq_employees_email")),
        sa.UniqueConstraint("user_name", name=op.f("uq_employees_user_name")),
    )
    for name, cols in (
        ("ix_employees_active_department", ["active", "department"]),
        ("ix_employees_active_country", ["active", "country"]),
        ("ix_employees_active_location", ["active", "location"]),
        ("ix_employees_active_division", ["active", "division"]),
        ("ix_employees_manager_external_id", ["manager_external_id"]),
        ("ix_employees_hire_date", ["hire_date"]),
        ("ix_employees_updated_at", ["updated_at", "id"]),
    ):
        op.create_index(name, "employees", cols)


def downgrade() -> None:
    op.drop_table("employees")
