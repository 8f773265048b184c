import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from app.webhooks.models import ALL_EVENTS, SUBSCRIBABLE_EVENTS, DeliveryStatus


def _known_event(value: str) -> str:
    if value != ALL_EVENTS and value not in SUBSCRIBABLE_EVENTS:
        raise ValueError(
            f"unknown event type {value!r}; use one of {', '.join(SUBSCRIBABLE_EVENTS)} or '*'"
        )
    return value


SubscribedEvent = Annotated[
    str,
    AfterValidator(_known_event),
    WithJsonSchema({"type": "string", "enum": [*SUBSCRIBABLE_EVENTS, ALL_EVENTS]}),
]
EventList = Annotated[
    list[SubscribedEvent],
    Field(
        min_length=1,
        max_length=len(SUBSCRIBABLE_EVENTS),
        description='Event types to receive, or `["*"]` for all of them.',
    ),
]
WebhookURL = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="An https:// endpoint that resolves to a public address.",
    ),
]


def _normalize_events(events: list[str] | None) -> list[str] | None:
    if events is None:
        return None
    if ALL_EVENTS in events:
        if len(set(events)) > 1:
            raise ValueError("'*' already means every event; list it alone")
        return [ALL_EVENTS]
    return sorted(set(events))


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookURL
    events: EventList
    active: bool = True
    description: str | None = Field(default=None, max_length=500)

    _events = field_validator("events")(_normalize_events)


class WebhookUpdate(BaseModel):
    """Only the fields given change; `url`, `events` and `active` cannot be null."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookURL | None = None
    events: EventList | None = None
    active: bool | None = None
    description: str | None = Field(default=None, max_length=500)

    _events = field_validator("events")(_normalize_events)

    @field_validator("url", "events", "active", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    description: str | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries are also signed with the secret before the last "
        "rotation."
    )
    legacy_signatures: bool = Field(
        description="Deliveries also carry the pre-Standard-Webhooks `Brandcast-Event-Id`, "
        "`Brandcast-Timestamp` and `Brandcast-Signature` headers: the subscription dates from "
        "before the switch and its converted secret still signs (until it is rotated and the "
        'overlap ends). See docs/webhooks.md, "Upgrading from the old signature scheme".'
    )
    failing_since: datetime | None = Field(
        description="Start of the current run of failed attempts, if failing."
    )
    disabled_at: datetime | None = Field(description="When the dispatcher disabled it.")
    disabled_reason: str | None = Field(description="Why the dispatcher disabled it.")
    created_by: str
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description="The signing secret, `whsec_` + base64 of the HMAC-SHA256 key, as Standard "
        "Webhooks libraries take it. It is shown this once (on create and rotation)."
    )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempt: int = Field(description="Attempts made so far.")
    response_status: int | None = Field(description="HTTP status of the latest attempt.")
    duration_ms: int | None = Field(description="Duration of the latest attempt.")
    error: str | None = Field(description="Why the latest attempt failed.")
    next_attempt_at: datetime | None = Field(description="The next try, while pending.")
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
