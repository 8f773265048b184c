"""Webhook subscriptions and the transactional outbox (events and their deliveries)."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Uuid,
    false,
    true,
)
from sqlmodel import Field, SQLModel

from app.core.database import Editable, JSONType, UTCDateTime, owned_by, recorded_at


class EventType(StrEnum):
    MESSAGE_PUBLISHED = "message.published"
    MESSAGE_SCHEDULED = "message.scheduled"
    MESSAGE_UPDATED = "message.updated"
    MESSAGE_ARCHIVED = "message.archived"
    MESSAGE_EXPIRED = "message.expired"
    MESSAGE_REVIEW_REQUESTED = "message.review_requested"
    MESSAGE_APPROVED = "message.approved"
    ACKNOWLEDGEMENT_CREATED = "acknowledgement.created"
    ACKNOWLEDGEMENT_REMINDER_DUE = "acknowledgement.reminder_due"
    ACKNOWLEDGEMENT_OVERDUE = "acknowledgement.overdue"
    FEEDBACK_QUESTION_CREATED = "feedback.question_created"
    EMPLOYEE_DEACTIVATED = "employee.deactivated"
    DELIVERY_FAILED = "delivery.failed"
    ACTION_CREATED = "action.created"  # issue 21
    ACTION_UPDATED = "action.updated"  # issue 21: a step (status, text) or the links changed
    MESSAGE_SHARED = "message.shared"
    PING = "ping"


# `ping` goes only to the webhook it was asked for; nobody subscribes to it.
SUBSCRIBABLE_EVENTS = tuple(t.value for t in EventType if t is not EventType.PING)
ALL_EVENTS = "*"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERING = "delivering"  # claimed by a dispatcher until `locked_until`
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the maximum age


# A `BIGSERIAL` on PostgreSQL; SQLite numbers rows only through an INTEGER primary key.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class Webhook(Editable, table=True):
    """A subscription. The secrets are kept in clear: signing needs them.

    A `…_is_legacy` secret was converted from the pre-Standard-Webhooks scheme (migration
    0012); while it signs, deliveries also carry the old `Brandcast-*` headers.
    """

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_created_at", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    url: str = Field(sa_column=Column(String(2000), nullable=False))
    events: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    description: str | None = Field(default=None, sa_column=Column(String(500)))
    secret: str = Field(sa_column=Column(String(100), nullable=False))
    # the secret before the last rotation, still signed with until it expires
    previous_secret: str | None = Field(default=None, sa_column=Column(String(100)))
    previous_secret_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    secret_is_legacy: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    previous_secret_is_legacy: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # start of the current run of failed attempts; cleared by any success
    failing_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    disabled_reason: str | None = Field(default=None, sa_column=Column(String(500)))


class OutboxEvent(SQLModel, table=True):
    """One event, written in the transaction of the change it reports.

    `seq` orders events (per message) for delivery; `id` is what receivers see.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_created_at", "created_at"),)

    seq: int | None = Field(
        default=None, sa_column=Column(SEQ_TYPE, primary_key=True, autoincrement=True)
    )
    id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    type: str = Field(sa_column=Column(String(60), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    # events with the same key reach each webhook in order (the message id, for now)
    ordering_key: str | None = Field(default=None, sa_column=Column(String(100)))


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook: its state and its latest attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # the dispatcher's claim: due rows first
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # "is an earlier event for this message still pending for this webhook?"
        Index("ix_webhook_deliveries_ordering", "webhook_id", "ordering_key", "event_seq"),
        # the delivery log of one webhook
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at", "id"),
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    webhook_id: uuid.UUID = owned_by("webhooks.id")
    event_id: uuid.UUID = owned_by("events.id")
    event_seq: int = Field(sa_column=Column(SEQ_TYPE, nullable=False))
    ordering_key: str | None = Field(default=None, sa_column=Column(String(100)))
    status: str = Field(
        default=DeliveryStatus.PENDING, sa_column=Column(String(20), nullable=False)
    )
    attempt: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    response_status: int | None = Field(default=None, sa_column=Column(Integer))
    duration_ms: int | None = Field(default=None, sa_column=Column(Integer))
    error: str | None = Field(default=None, sa_column=Column(String(500)))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    created_at: datetime = recorded_at()
