"""The brand-alignment summary: brand-message receipts and pulse answers added up per
employee and range of weeks.

Written only by database triggers (`app.reports.summary`, which explains the layout); the
brand-alignment report reads it instead of millions of recipient rows.
"""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    SmallInteger,
    Table,
    Uuid,
    text,
)
from sqlmodel import SQLModel

COUNTS = (
    "deliveries",
    "read",
    "acknowledgement_requested",
    "acknowledged",
    "due",
    "acknowledged_on_time",
    "pulse_responses",
    "pulse_sum",
)

# A Core table: it has no primary key. On PostgreSQL each statement that changes recipient
# rows appends its changes as unfolded rows (no row is ever updated by a writer, so writers
# never wait for one another); the fold pass adds them into the folded row of their bucket.
alignment_weeks = Table(
    "alignment_weeks",
    SQLModel.metadata,
    Column("employee_id", Uuid, nullable=False),
    # the bucket: `span` weeks (1, 2, 4 or 8) from the Monday `starts`, aligned on 1970-01-05
    Column("span", SmallInteger, nullable=False),
    Column("starts", Date, nullable=False),
    Column("folded", Boolean, nullable=False),
    *(Column(name, Integer, nullable=False) for name in COUNTS),
    # one folded row per bucket: what the fold pass (and SQLite's triggers) add into
    Index(
        "uq_alignment_weeks_folded",
        "employee_id",
        "span",
        "starts",
        unique=True,
        postgresql_where=text("folded"),
        sqlite_where=text("folded"),
    ),
    # the report: the folded rows of one bucket, read from the index alone on PostgreSQL
    Index(
        "ix_alignment_weeks_span_starts",
        "span",
        "starts",
        "employee_id",
        postgresql_include=list(COUNTS),
        postgresql_where=text("folded"),
        sqlite_where=text("folded"),
    ),
    # the fold pass and the report: the (weekly) rows appended since the last fold
    Index(
        "ix_alignment_weeks_unfolded",
        "starts",
        "employee_id",
        postgresql_where=text("NOT folded"),
        sqlite_where=text("NOT folded"),
    ),
)
