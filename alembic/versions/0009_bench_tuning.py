"""Recipients without a foreign key to employees: publication is bound by it

Publishing a message to 100,000 employees checked the foreign key once per recipient row:
an index lookup and a `FOR KEY SHARE` lock on every employee row, which writes to each of
them. Measured in `bench/company.py` (bench/RESULTS.md), that was 1.2 to 2.7 s of a 4 to 7 s
publication. Employees are never deleted (erasure anonymizes the row, which stays), and
recipient rows are only ever made from `employees` rows by `INSERT … SELECT`, so the key
guarded nothing the service can do; the key to `messages` stays.

Revision ID: 0009_bench_tuning
Revises: 0008_reaction_counts
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_bench_tuning"
down_revision: str | None = "0008_reaction_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_recipients_employee_id_employees"


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.drop_constraint(FK, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.create_foreign_key(FK, "employees", ["employee_id"], ["id"], ondelete="CASCADE")
