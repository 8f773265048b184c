"""The transactional outbox: `emit` is how every area announces a change to webhooks.

The event row and one delivery row per matching active subscription are written with the
caller's session, so they commit with the change they report and vanish with its rollback.
Delivery happens later, from the dispatcher, never inside the request.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import (
    CTE,
    ColumnClause,
    Select,
    and_,
    column,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import sql
from app.core.database import utcnow
from app.core.ids import new_id
from app.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    EventType,
    OutboxEvent,
    Webhook,
    WebhookDelivery,
)

# Built once, on the tables (not the ORM entities): `emit` runs in every write that reports a
# change, and building these statements plus the ORM's bulk-insert path cost about 1 ms a call.
_INSERT_EVENTS = insert(OutboxEvent.__table__).returning(
    OutboxEvent.__table__.c.seq, sort_by_parameter_order=True
)
_INSERT_DELIVERIES = insert(WebhookDelivery.__table__)


@lru_cache(maxsize=128)
def _subscribers(dialect: str, event_type: str) -> Select:
    """The ids of the active webhooks subscribed to `event_type`."""
    webhooks = Webhook.__table__.c
    return select(webhooks.id).where(
        webhooks.active,
        sql.json_array_contains_any(dialect, webhooks.events, [event_type, ALL_EVENTS]),
    )


def ordering_key_for(message_id: uuid.UUID | None) -> str | None:
    return f"message:{message_id}" if message_id else None


async def write_events(
    session: AsyncSession,
    *,
    type: EventType,
    data: Sequence[dict[str, Any]],
    ordering_key: str | None,
    webhook_ids: Sequence[uuid.UUID] | None = None,
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Write events of one type and their deliveries, in three statements whatever their
    number; return the event ids (in order) and the delivery ids.

    `webhook_ids` names the receivers explicitly (ping); otherwise every active subscription
    to the type gets one delivery per event.
    """
    if not data:
        return [], []
    now = utcnow()
    event_ids = [new_id() for _ in data]
    rows = [
        {
            "id": event_id,
            "type": type.value,
            "created_at": now,
            "data": event_data(item),
            "ordering_key": ordering_key,
        }
        for event_id, item in zip(event_ids, data, strict=True)
    ]
    # one event (the usual case) is a plain INSERT … RETURNING, not an executemany
    result = await session.execute(_INSERT_EVENTS, rows[0] if len(rows) == 1 else rows)
    seqs = result.scalars().all()
    if webhook_ids is None:
        subscribers = _subscribers(sql.dialect_of(session), type.value)
        webhook_ids = (await session.execute(subscribers)).scalars().all()
    deliveries = [
        new_delivery(
            delivery_id=uuid.uuid4(),
            webhook_id=webhook_id,
            event_id=event_id,
            event_seq=seq,
            ordering_key=ordering_key,
            now=now,
        )
        for event_id, seq in zip(event_ids, seqs, strict=True)
        for webhook_id in webhook_ids
    ]
    if deliveries:
        await session.execute(_INSERT_DELIVERIES, deliveries)
    return event_ids, [d["id"] for d in deliveries]


def new_delivery(
    *,
    delivery_id: uuid.UUID,
    webhook_id: uuid.UUID,
    event_id: uuid.UUID,
    event_seq: int,
    ordering_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The column values of a delivery due now."""
    return {
        "id": delivery_id,
        "webhook_id": webhook_id,
        "event_id": event_id,
        "event_seq": event_seq,
        "ordering_key": ordering_key,
        "status": DeliveryStatus.PENDING.value,
        "attempt": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def emit(
    session: AsyncSession,
    *,
    type: str,
    data: dict[str, Any],
    message_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record an event for webhooks, in the caller's transaction; return its id.

    `type` is an `EventType` value (a programming error otherwise: ValueError). `data` is the
    envelope's `data` (anything FastAPI can encode to JSON). Events with the same `message_id`
    reach each webhook in the order they were emitted.
    """
    event_type = EventType(type)
    if event_type is EventType.PING:
        raise ValueError("ping events are sent with the webhooks ping operation")
    (event_id,), _ = await write_events(
        session, type=event_type, data=[data], ordering_key=ordering_key_for(message_id)
    )
    return event_id


_EVENT_VALUES = ("event_id", "event_created_at", "event_data", "event_ordering_key")


def emit_with(source: Any, *, dialect: str, type: EventType, values: Any) -> tuple[CTE, CTE]:
    """`emit` as a part of one PostgreSQL statement: for each row `source` (a data-modifying
    CTE, or a join of one) yields, the event and one delivery per active subscription to
    `type`. Its values are the columns `values[name]` of `source`'s rows, named as
    `emit_params` names them (a batch's items, read with `event_columns`). Returns the
    event's and the deliveries' CTEs."""
    events, deliveries, webhooks = (
        OutboxEvent.__table__,
        WebhookDelivery.__table__,
        Webhook.__table__,
    )
    given = {name: values[name] for name in _EVENT_VALUES}
    event_columns = ("id", "type", "created_at", "data", "ordering_key")
    event = (
        insert(events)
        .from_select(
            event_columns,
            select(
                given["event_id"],
                literal(type.value, events.c.type.type),
                given["event_created_at"],
                given["event_data"],
                given["event_ordering_key"],
            ).select_from(source),
        )
        .returning(events.c.seq, events.c.id, events.c.ordering_key, events.c.created_at)
        .cte("event")
    )
    delivery_columns = (
        "id",
        "webhook_id",
        "event_id",
        "event_seq",
        "ordering_key",
        "status",
        "attempt",
        "next_attempt_at",
        "created_at",
    )
    subscribed = sql.json_array_contains_any(dialect, webhooks.c.events, [type.value, ALL_EVENTS])
    queued = (
        insert(deliveries)
        .from_select(
            delivery_columns,
            select(
                func.gen_random_uuid(),
                webhooks.c.id,
                event.c.id,
                event.c.seq,
                event.c.ordering_key,
                literal(DeliveryStatus.PENDING.value, deliveries.c.status.type),
                literal(0, deliveries.c.attempt.type),
                event.c.created_at,
                event.c.created_at,
            )
            .select_from(event)
            .join(webhooks, and_(webhooks.c.active, subscribed)),
        )
        .returning(deliveries.c.id)
        .cte("deliveries")
    )
    return event, queued


def event_columns() -> list[ColumnClause[Any]]:
    """The typed columns of `emit_with`'s values, named as `emit_params` names them: for a
    batch's items read from JSON (`jsonb_to_recordset`)."""
    c = OutboxEvent.__table__.c
    types = (c.id.type, c.created_at.type, c.data.type, c.ordering_key.type)
    return [column(name, t) for name, t in zip(_EVENT_VALUES, types, strict=True)]


_PLAIN = (str, int, float, bool, type(None))


def event_data(data: dict[str, Any]) -> dict[str, Any]:
    """An event's `data` as JSON values: FastAPI's `jsonable_encoder`, with the flat dicts of
    ids, numbers, text and times most events are done without it (a tenth of the time, on
    the acknowledgement's hot path); the same output either way."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        kind = type(value)
        if kind in _PLAIN:
            out[key] = value
        elif kind is uuid.UUID:
            out[key] = str(value)
        elif kind is datetime:
            out[key] = value.isoformat()
        else:
            return jsonable_encoder(data)  # type: ignore[no-any-return]
    return out


def emit_params(
    *, data: dict[str, Any], message_id: uuid.UUID | None, now: datetime
) -> dict[str, Any]:
    """The values of `emit_with` for one event about `message_id`."""
    return {
        "event_id": new_id(),
        "event_created_at": now,
        "event_data": event_data(data),
        "event_ordering_key": ordering_key_for(message_id),
    }


async def emit_many(
    session: AsyncSession,
    *,
    type: str,
    data: Sequence[dict[str, Any]],
    message_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """`emit` for a batch of events of one type (say, the employees a full sync deactivated):
    one event each, written in a fixed number of statements; returns their ids in order."""
    event_type = EventType(type)
    if event_type is EventType.PING:
        raise ValueError("ping events are sent with the webhooks ping operation")
    event_ids, _ = await write_events(
        session, type=event_type, data=data, ordering_key=ordering_key_for(message_id)
    )
    return event_ids
