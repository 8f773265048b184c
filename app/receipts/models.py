"""Delivery rows: who was asked to read which message, their acknowledgements, and which
due-date notices were already announced."""

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Integer, String, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from app.core.database import UTCDateTime, owned_by


class Recipient(SQLModel, table=True):
    """One row per (message, employee) asked to read it: millions of rows, read on every feed
    request, so it holds only ids, timestamps and the acknowledged version."""

    __tablename__ = "recipients"
    __table_args__ = (
        # the feed: "my messages, newest first", read in index order and stopped after a page
        # (the primary key serves "this message's recipients" and single lookups)
        Index(
            "ix_recipients_employee_id_published_at_message_id",
            "employee_id",
            "published_at",
            "message_id",
        ),
    )

    message_id: uuid.UUID = owned_by("messages.id", primary_key=True)
    # No foreign key to `employees` (migration 0009): checking it on each of a publication's
    # rows cost more than the insert, and employees are never deleted, only anonymized.
    employee_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    targeted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # the message's `published_at` (it never changes once published): the feed's order
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # the content version (`messages.version`) of the latest acknowledgement; it is current
    # while it is at least `messages.acknowledgement_version`
    acknowledged_version: int | None = Field(default=None, sa_column=Column(Integer))


class Acknowledgement(SQLModel, table=True):
    """Evidence that an employee acknowledged a message: what they saw and what they agreed to.

    Rows are never updated or deleted by the service (only with their message or employee).
    One per recipient and acknowledgement round (`messages.acknowledgement_version`): the
    unique constraint is what makes concurrent acknowledgements produce exactly one row.
    """

    __tablename__ = "acknowledgements"
    __table_args__ = (
        UniqueConstraint(
            "message_id",
            "employee_id",
            "acknowledgement_version",
            name="uq_acknowledgements_round",
        ),
        # foreign key lookups when an employee row goes
        Index("ix_acknowledgements_employee_id", "employee_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: uuid.UUID = owned_by("messages.id")
    employee_id: uuid.UUID = owned_by("employees.id")
    # the round this acknowledgement answers: `messages.acknowledgement_version` at the time
    acknowledgement_version: int = Field(sa_column=Column(Integer, nullable=False))
    # the content version shown (`messages.version`, see `message_versions`)
    version: int = Field(sa_column=Column(Integer, nullable=False))
    statement: str = Field(sa_column=Column(String(1000), nullable=False))
    locale: str = Field(sa_column=Column(String(35), nullable=False))
    content_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    acknowledged_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DueNotice(SQLModel, table=True):
    """What was already announced for a message's due dates, so that nothing is sent twice.

    For `reminder_due` and `overdue`, every pending recipient whose `due_at` is at or before
    `covered_due_at` has been announced; `last_emitted_at` spaces late joiners' batches and
    rate-limits manual reminders (`manual`).
    """

    __tablename__ = "acknowledgement_due_notices"

    message_id: uuid.UUID = owned_by("messages.id", primary_key=True)
    kind: str = Field(sa_column=Column(String(20), primary_key=True))
    covered_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_emitted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    batches: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    last_event_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
