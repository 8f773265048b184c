"""Delivery rows: planning a message's e-mails and chat posts, and what the comms team sees
of them.

A message published with `email` among its channels gets one `deliveries` row per recipient,
written by one `INSERT … SELECT` over the recipient rows just resolved, in the publication's
transaction; late joiners get theirs in the statement after their recipient rows. `chat` gets
one row per chat target. Nothing is sent here: the sender job (`app.receipts.sender`) claims
due rows later.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Uuid, cast, literal, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.core import sql
from app.core.database import UTCDateTime
from app.core.errors import ValidationFailed, field_error
from app.messages.models import Message
from app.receipts.models import Channel, ChatTarget, Delivery, DeliveryState, Recipient

_D = Delivery.__table__
_R = Recipient.__table__.c
PLAN_COLUMNS = (
    "message_id",
    "channel",
    "employee_id",
    "chat_target_id",
    "state",
    "not_before",
    "attempts",
    "version",
    "planned_at",
)
# a row that exists already (the unique constraints) is kept as it is
_INSERT_DELIVERIES = sql.insert_ignore(_D)


def _planned(at: datetime) -> tuple[ColumnElement[Any], ...]:
    """The constant columns of a new delivery: planned, due at `at`, never tried."""
    return (
        literal(DeliveryState.PLANNED.value, String()),
        literal(at, UTCDateTime()),
        literal(0, Integer()),
    )


async def check_chat_targets(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    """422 unless every id names an active chat target."""
    if not ids:
        return
    found = set(
        (
            await session.execute(
                select(ChatTarget.id).where(ChatTarget.id.in_(list(ids)), ChatTarget.active)
            )
        )
        .scalars()
        .all()
    )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ValidationFailed(
            [field_error("body.chat_target_ids", f"no active chat target {', '.join(missing)}")]
        )


async def plan_deliveries(session: AsyncSession, *, message: Message, at: datetime) -> None:
    """Plan the message's e-mails (one per recipient row) and chat posts (one per target),
    due at `at`. Call it right after the recipients are materialized, in that transaction."""
    insert = _INSERT_DELIVERIES[session]
    if Channel.EMAIL in message.channels:
        rows = select(
            _R.message_id,
            literal(Channel.EMAIL.value, String()),
            _R.employee_id,
            cast(null(), Uuid()),
            *_planned(at),
            literal(message.version, Integer()),
            literal(at, UTCDateTime()),
        ).where(_R.message_id == message.id)
        await session.execute(insert.from_select(PLAN_COLUMNS, rows))
    if Channel.CHAT in message.channels and message.chat_target_ids:
        targets = ChatTarget.__table__.c
        rows = select(
            literal(message.id, Uuid()),
            literal(Channel.CHAT.value, String()),
            cast(null(), Uuid()),
            targets.id,
            *_planned(at),
            literal(message.version, Integer()),
            literal(at, UTCDateTime()),
        ).where(
            targets.id.in_([uuid.UUID(str(i)) for i in message.chat_target_ids]),
            targets.active,
        )
        await session.execute(insert.from_select(PLAN_COLUMNS, rows))


async def plan_late_joiners(
    session: AsyncSession, *, new_recipients: ColumnElement[bool], at: datetime
) -> None:
    """E-mails for recipient rows just added to published messages (`new_recipients`, a
    condition on `recipients`) whose channels include `email`."""
    messages = Message.__table__.c
    rows = (
        select(
            _R.message_id,
            literal(Channel.EMAIL.value, String()),
            _R.employee_id,
            cast(null(), Uuid()),
            *_planned(at),
            messages.version,
            literal(at, UTCDateTime()),
        )
        .select_from(Recipient.__table__)
        .join(Message.__table__, messages.id == _R.message_id)
        .where(
            new_recipients,
            sql.json_array_contains(sql.dialect_of(session), messages.channels, Channel.EMAIL),
        )
    )
    await session.execute(_INSERT_DELIVERIES[session].from_select(PLAN_COLUMNS, rows))
