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

from sqlalchemy import Integer, String, Uuid, cast, exists, func, literal, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.core import sql
from app.core.database import UTCDateTime
from app.core.errors import NotFound, ValidationFailed, field_error
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal
from app.employees.models import Employee
from app.messages.models import Message
from app.receipts.models import (
    PENDING_STATES,
    Channel,
    ChatTarget,
    Delivery,
    DeliveryState,
    Recipient,
)
from app.receipts.schemas import ChannelCounts, DeliveryOut, DeliveryStateFilter

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
# a publication's e-mails when the message has none yet: a plain insert (`ON CONFLICT` probes
# every unique index before each row, a third of the planning's cost at 20,000 rows)
_INSERT_NEW = _D.insert()


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
    due at `at`. Call it right after the recipients are materialized, in that transaction
    (which holds the message's row lock, so no other planning of it runs meanwhile)."""
    insert = _INSERT_DELIVERIES[session]
    if Channel.EMAIL in message.channels:
        planned_before = await session.scalar(
            select(
                exists().where(_D.c.message_id == message.id, _D.c.channel == Channel.EMAIL.value)
            )
        )
        rows = select(
            _R.message_id,
            literal(Channel.EMAIL.value, String()),
            _R.employee_id,
            cast(null(), Uuid()),
            *_planned(at),
            literal(message.version, Integer()),
            literal(at, UTCDateTime()),
        ).where(_R.message_id == message.id)
        # in the order of `uq_deliveries_employee` (the recipients' key gives it without a
        # sort): each row goes next to the previous one in that index (-20 to -30 % at 100,000)
        rows = rows.order_by(_R.employee_id)
        email_insert = insert if planned_before else _INSERT_NEW
        await session.execute(email_insert.from_select(PLAN_COLUMNS, rows))
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


# --- what the comms team sees ----------------------------------------------------------------

STATE_FILTERS: dict[DeliveryStateFilter, tuple[str, ...]] = {
    DeliveryStateFilter.PENDING: tuple(s.value for s in PENDING_STATES),
    DeliveryStateFilter.SENT: (DeliveryState.SENT.value,),
    DeliveryStateFilter.FAILED: (DeliveryState.FAILED.value,),
    DeliveryStateFilter.CANCELLED: (DeliveryState.CANCELLED.value,),
    DeliveryStateFilter.DIGESTED: (DeliveryState.DIGESTED.value,),
}


def counts_of(state: Any) -> dict[str, ColumnElement[int]]:
    """The `ChannelCounts` figures as aggregates over delivery rows (`state` their column;
    rows of an outer join without a delivery count nowhere)."""
    return {
        "planned": func.count(state),
        "sent": sql.count_when(state == DeliveryState.SENT.value),
        "failed": sql.count_when(state == DeliveryState.FAILED.value),
        "pending": sql.count_when(state.in_(STATE_FILTERS[DeliveryStateFilter.PENDING])),
        "cancelled": sql.count_when(state == DeliveryState.CANCELLED.value),
    }


async def channel_counts(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    channels: Sequence[str],
    among: ColumnElement[bool] | None = None,
) -> dict[str, ChannelCounts]:
    """Per channel the message names (other than the feed): its deliveries' figures (with
    `among`, a condition on employees: only theirs, so no team channel's)."""
    wanted = [c for c in channels if c != Channel.FEED]
    if not wanted:
        return {}
    figures = counts_of(Delivery.state)
    stmt = select(Delivery.channel, *(f.label(name) for name, f in figures.items())).where(
        Delivery.message_id == message_id
    )
    if among is not None:
        stmt = stmt.where(Delivery.employee_id.in_(select(Employee.id).where(among)))
    rows = (await session.execute(stmt.group_by(Delivery.channel))).all()
    found = {r.channel: ChannelCounts(**{name: getattr(r, name) for name in figures}) for r in rows}
    empty = ChannelCounts(planned=0, sent=0, failed=0, pending=0, cancelled=0)
    return {channel: found.get(channel, empty) for channel in wanted}


async def list_deliveries(
    session: AsyncSession,
    _principal: Principal,
    *,
    message_id: uuid.UUID,
    page: PageParams,
    channel: Channel | None = None,
    state: DeliveryStateFilter | None = None,
) -> Page[DeliveryOut]:
    """A message's deliveries in the order they were planned; 404 for no such message."""
    if await session.scalar(select(Message.id).where(Message.id == message_id)) is None:
        raise NotFound("No message with this id.")
    stmt = (
        select(Delivery, Employee.external_id, Employee.email)
        .outerjoin(Employee, Employee.id == Delivery.employee_id)
        .where(Delivery.message_id == message_id)
    )
    if channel is not None:
        stmt = stmt.where(Delivery.channel == channel.value)
    if state is not None:
        stmt = stmt.where(Delivery.state.in_(STATE_FILTERS[state]))
    rows = (await session.execute(keyset(stmt, page, [Delivery.id], descending=False))).all()

    def out(row: Any) -> DeliveryOut:
        d = row.Delivery
        return DeliveryOut(
            **{name: getattr(d, name) for name in _DELIVERY_OUT_COLUMNS},
            employee_external_id=row.external_id,
            email=row.email,
        )

    return make_page(rows, page, lambda r: (r.Delivery.id,), out)


_DELIVERY_OUT_COLUMNS = tuple(
    name for name in DeliveryOut.model_fields if name not in ("employee_external_id", "email")
)


async def list_employee_deliveries(
    session: AsyncSession,
    _principal: Principal,
    *,
    external_id: str,
    page: PageParams,
    state: DeliveryStateFilter | None = None,
) -> Page[DeliveryOut]:
    """An employee's e-mails, newest first, with why each is held or was cancelled (the
    inbox rules' `reason`, `held_at`, `released_at`); 404 for no such employee."""
    employee = (
        await session.execute(
            select(Employee.id, Employee.email).where(Employee.external_id == external_id)
        )
    ).one_or_none()
    if employee is None:
        raise NotFound("No employee with this external_id.")
    stmt = select(Delivery).where(
        Delivery.employee_id == employee.id, Delivery.channel == Channel.EMAIL.value
    )
    if state is not None:
        stmt = stmt.where(Delivery.state.in_(STATE_FILTERS[state]))
    rows = (await session.execute(keyset(stmt, page, [Delivery.id], descending=True))).all()

    def out(row: Any) -> DeliveryOut:
        d = row.Delivery
        return DeliveryOut(
            **{name: getattr(d, name) for name in _DELIVERY_OUT_COLUMNS},
            employee_external_id=external_id,
            email=employee.email,
        )

    return make_page(rows, page, lambda r: (r.Delivery.id,), out)
