"""Delivery rows: who was asked to read which message, their acknowledgements, and which
due-date notices were already announced."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
    true,
)
from sqlmodel import Field, SQLModel

from app.core.database import UTCDateTime, owned_by, utcnow
from app.core.ids import new_id


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
    # where the first read happened: `feed` (or an acknowledgement) or `email` (tracked link)
    read_channel: str | None = Field(default=None, sa_column=Column(String(10)))
    # the local edition served to this recipient (`message_editions.id`); None: HQ's text
    edition_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))


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

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    message_id: uuid.UUID = owned_by("messages.id")
    employee_id: uuid.UUID = owned_by("employees.id")
    # the round this acknowledgement answers: `messages.acknowledgement_version` at the time
    acknowledgement_version: int = Field(sa_column=Column(Integer, nullable=False))
    # the content version shown (`messages.version`, see `message_versions`)
    version: int = Field(sa_column=Column(Integer, nullable=False))
    statement: str = Field(sa_column=Column(String(1000), nullable=False))
    locale: str = Field(sa_column=Column(String(35), nullable=False))
    content_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    # the local edition acknowledged (its content is what `content_sha256` hashes); None: HQ's
    edition_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    acknowledged_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # issue 21: the passing comprehension-check attempt, when the message has a quiz
    quiz_attempt_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey("quiz_attempts.id", ondelete="SET NULL"), nullable=True),
    )


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


class Channel(StrEnum):
    """Where a message goes. `feed` is every recipient row; the others get delivery rows."""

    FEED = "feed"
    EMAIL = "email"
    CHAT = "chat"


class DeliveryState(StrEnum):
    PLANNED = "planned"  # waiting for `not_before`, then for a sender to claim it
    HELD = "held"  # kept back (with a `reason`) until released; nothing sends it
    SENDING = "sending"  # claimed by a sender until `claimed_until`
    SENT = "sent"
    FAILED = "failed"  # rejected, or given up on after the retry period; `last_error` says why
    CANCELLED = "cancelled"  # not sent: the message closed, or the employee opted out
    DIGESTED = "digested"  # carried by a digest e-mail (`digest_id`) instead of its own


# delivery states a client filters on: `pending` is every state that may still be sent
PENDING_STATES = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.SENDING)
# A `BIGSERIAL` on PostgreSQL; SQLite numbers rows only through an INTEGER primary key.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class Delivery(SQLModel, table=True):
    """One message for one recipient on one channel other than the feed: an e-mail to an
    employee (`employee_id`) or a post to a chat target (`chat_target_id`).

    Planned in the publication's transaction (and for late joiners), sent later by the sender
    job: a due row (`planned`, `not_before` passed) is claimed (`sending`, with a lease in
    `claimed_until` and the claim's id in `claim_id`), sent, and recorded as `sent`, `failed`
    or planned again after a back-off. `reason` says why a row is held or cancelled.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        # one e-mail per (message, employee, retargeting round): planning relies on it (round 0)
        UniqueConstraint(
            "message_id", "channel", "employee_id", "round", name="uq_deliveries_employee"
        ),
        # one post per (message, chat target); e-mail rows (no chat target) are not indexed
        Index(
            "uq_deliveries_chat_target",
            "message_id",
            "chat_target_id",
            unique=True,
            postgresql_where=text("chat_target_id IS NOT NULL"),
            sqlite_where=text("chat_target_id IS NOT NULL"),
        ),
        # the sender's claim: only rows that may still be sent are indexed
        Index(
            "ix_deliveries_due",
            "not_before",
            postgresql_where=text("state IN ('planned', 'sending')"),
            sqlite_where=text("state IN ('planned', 'sending')"),
        ),
        # the weekly cap: what an employee was sent lately
        Index("ix_deliveries_employee_id_sent_at", "employee_id", "sent_at"),
        Index("ix_deliveries_digest_id", "digest_id"),
        # the release of held rows whose moment came
        Index(
            "ix_deliveries_held",
            "not_before",
            postgresql_where=text("state = 'held'"),
            sqlite_where=text("state = 'held'"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(_SEQ, primary_key=True, autoincrement=True)
    )
    # No foreign key to `messages` (migration 0016): checking it per planned row cost as much
    # as the insert, and only drafts are deleted, which have no deliveries.
    message_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    channel: str = Field(sa_column=Column(String(10), nullable=False))
    # no foreign key (as on recipients): checking it per planned row costs more than the insert
    employee_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    # no foreign key either: its trigger ran for every e-mail row too (deleting a chat target
    # deletes its rows, `chat_targets.delete_chat_target`)
    chat_target_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    state: str = Field(default=DeliveryState.PLANNED, sa_column=Column(String(12), nullable=False))
    # the next moment it may be sent (planning: the publication; after a failure: the back-off)
    not_before: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    claim_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    # the message's content version planned, then the one sent
    version: int = Field(sa_column=Column(Integer, nullable=False))
    locale: str | None = Field(default=None, sa_column=Column(String(35)))
    last_error: str | None = Field(default=None, sa_column=Column(String(1000)))
    reason: str | None = Field(default=None, sa_column=Column(String(200)))
    planned_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    first_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # 0: the e-mail of the publication; 1, 2, …: retargeting e-mails (app.receipts.inbox)
    round: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # the digest that carried it (state `digested`)
    digest_id: int | None = Field(default=None, sa_column=Column(_SEQ, nullable=True))
    # held for a digest: the period of the digest that is to carry it (`Digest.period`)
    digest_period: str | None = Field(default=None, sa_column=Column(String(10)))
    # the first time the inbox rules held it back, and the last time they let it go
    held_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    released_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class Digest(SQLModel, table=True):
    """One digest e-mail for one employee and period (`2030-01-07` daily, `2030-W02` weekly):
    the unique key is what makes it one even with several schedulers or a crash mid-build.
    Built by `app.receipts.digests` from the deliveries held for it (which then point at it
    through `digest_id`); sent like a delivery: claimed, leased, sent or retried."""

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("employee_id", "period", name="uq_digests_employee_period"),
        Index(
            "ix_digests_due",
            "not_before",
            postgresql_where=text("state IN ('planned', 'sending')"),
            sqlite_where=text("state IN ('planned', 'sending')"),
        ),
        Index("ix_digests_build_id", "build_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(_SEQ, primary_key=True, autoincrement=True)
    )
    employee_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    period: str = Field(sa_column=Column(String(10), nullable=False))
    frequency: str = Field(sa_column=Column(String(10), nullable=False))
    state: str = Field(sa_column=Column(String(12), nullable=False))
    not_before: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    claim_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    # the build pass that created it: only that pass attaches deliveries to it
    build_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    items: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    locale: str | None = Field(default=None, sa_column=Column(String(35)))
    last_error: str | None = Field(default=None, sa_column=Column(String(1000)))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    first_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class ChatTarget(SQLModel, table=True):
    """A team channel messages can be posted to: a Teams workflow webhook or a Slack incoming
    webhook. The URL is a credential (whoever has it can post), shown only to webhook admins."""

    __tablename__ = "chat_targets"
    __table_args__ = (Index("ix_chat_targets_created_at", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    url: str = Field(sa_column=Column(String(2000), nullable=False))
    locale: str = Field(sa_column=Column(String(35), nullable=False))
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    created_by: str = Field(sa_column=Column(String(300), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class OptOut(SQLModel, table=True):
    """An employee who asked (RFC 8058 one-click) for no more e-mails of messages that ask for
    no acknowledgement. Messages that require one are still e-mailed."""

    __tablename__ = "delivery_opt_outs"

    employee_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    channel: str = Field(sa_column=Column(String(10), primary_key=True))
    message_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
