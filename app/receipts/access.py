"""What an employee may see and act on: the one place that decides it.

An employee sees a message only while they are one of its recipients and it is published;
asking for anything else is a 404, never a hint that the message exists. Acting on it
(acknowledging, reacting, answering the pulse, commenting) also needs it to be open: not
archived and not expired (409).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from app.core.errors import Conflict, NotFound
from app.core.principal import Principal
from app.messages.models import Message
from app.receipts import rules
from app.receipts.models import Recipient


def visible_to(principal: Principal, now: datetime, *columns) -> Select:
    """A select of `columns` over the caller's live messages (recipients joined to messages)."""
    return (
        select(*columns)
        .select_from(Recipient)
        .join(Message, Message.id == Recipient.message_id)
        .where(Recipient.employee_id == principal.employee_id, rules.live(now))
    )


@dataclass(frozen=True)
class Delivery:
    """One message as delivered to the calling employee."""

    message_id: uuid.UUID
    status: str
    expires_at: datetime | None
    version: int
    acknowledgement_version: int
    requires_acknowledgement: bool

    def is_open(self, now: datetime) -> bool:
        return rules.is_live(self.status, self.expires_at, now)


# Table columns, not entity attributes: statements made only of them skip the ORM's execution
# path, which costs more than the query on the acknowledgement's hot path (bench/RESULTS.md).
_MESSAGES, _RECIPIENTS = Message.__table__, Recipient.__table__
DELIVERY_COLUMNS = (
    _MESSAGES.c.id,
    _MESSAGES.c.status,
    _MESSAGES.c.expires_at,
    _MESSAGES.c.version,
    _MESSAGES.c.acknowledgement_version,
    _MESSAGES.c.requires_acknowledgement,
)


def delivery_select(
    principal: Principal, *, message_id: uuid.UUID, columns: Sequence[Any] = ()
) -> Select:
    """The caller's delivery of one published or archived message: the `Delivery` fields, then
    `columns`. Callers may join more to it; read the row back with `delivery_of`."""
    return delivery_statement(principal.employee_id, message_id, columns)


def delivery_statement(employee_id: Any, message_id: Any, columns: Sequence[Any] = ()) -> Select:
    """`delivery_select` for an employee and a message given as values or as bound parameters
    (`bindparam`), so that hot paths can build it once and execute it with the ids."""
    return (
        select(*DELIVERY_COLUMNS, *columns)
        .select_from(_RECIPIENTS)
        .join(_MESSAGES, _MESSAGES.c.id == _RECIPIENTS.c.message_id)
        .where(
            _RECIPIENTS.c.employee_id == employee_id,
            _RECIPIENTS.c.message_id == message_id,
            rules.reachable(),
        )
    )


def delivery_of(row: Row | None, *, open_at: datetime | None = None) -> Delivery:
    """The `Delivery` heading a `delivery_select` row: 404 without a row; with `open_at`,
    409 when the message is archived or expired by then."""
    if row is None:
        raise NotFound("No message with this id was sent to you.")
    delivery = Delivery(*row[: len(DELIVERY_COLUMNS)])
    if open_at is not None and not delivery.is_open(open_at):
        raise Conflict("This message is closed (archived or expired); it takes no more responses.")
    return delivery


async def delivery_for(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, now: datetime
) -> Delivery:
    """The caller's delivery of a message: 404 unless a recipient of a published/archived one."""
    stmt = delivery_select(principal, message_id=message_id)
    return delivery_of((await session.execute(stmt)).one_or_none())


async def open_delivery_for(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, now: datetime
) -> Delivery:
    """As `delivery_for`, and 409 when the message is archived or expired."""
    stmt = delivery_select(principal, message_id=message_id)
    return delivery_of((await session.execute(stmt)).one_or_none(), open_at=now)
