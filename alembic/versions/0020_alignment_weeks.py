"""The brand-alignment summary: `alignment_weeks`, its triggers, and its backfill

Per employee and bucket of 1, 2, 4 or 8 weeks, the sums the brand-alignment report makes
of the recipient rows of brand messages; kept by triggers on `recipients` and `messages`
(their SQL is in `app.reports.summary`, with the reasons for its layout) and filled here
from the rows there are, in one `INSERT … SELECT … GROUP BY`.

Revision ID: 0020_alignment_weeks
Revises: 0019_advocacy
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from app.reports import summary
from app.reports.models import COUNTS

revision: str = "0020_alignment_weeks"
down_revision: str | None = "0019_advocacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "alignment_weeks",
        sa.Column("employee_id", sa.Uuid(), nullable=False),
        sa.Column("span", sa.SmallInteger(), nullable=False),
        sa.Column("starts", sa.Date(), nullable=False),
        sa.Column("folded", sa.Boolean(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
    )
    op.create_index(
        "uq_alignment_weeks_folded",
        "alignment_weeks",
        ["employee_id", "span", "starts"],
        unique=True,
        postgresql_where=sa.text("folded"),
        sqlite_where=sa.text("folded"),
    )
    op.create_index(
        "ix_alignment_weeks_unfolded",
        "alignment_weeks",
        ["starts", "employee_id"],
        postgresql_where=sa.text("NOT folded"),
        sqlite_where=sa.text("NOT folded"),
    )
    # the rows first, then the index the report reads (built once, not row by row)
    op.execute(summary.backfill_sql(dialect))
    op.create_index(
        "ix_alignment_weeks_span_starts",
        "alignment_weeks",
        ["span", "starts", "employee_id"],
        postgresql_include=list(COUNTS),
        postgresql_where=sa.text("folded"),
        sqlite_where=sa.text("folded"),
    )
    for statement in summary.create_sql(dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in summary.drop_sql(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("alignment_weeks")
