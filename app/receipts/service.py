"""Recipients: who was asked to read (and acknowledge) which message, resolved once at
publication and extended to late joiners."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    Uuid,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.audiences.models import Audience, MessageAudience
from app.audiences.rules import AudienceSpec, Compiler
from app.audiences.service import spec_of
from app.core import sql
from app.core.database import UTCDateTime, utcnow
from app.editions.service import assign_editions
from app.employees.models import Employee
from app.messages.models import Message
from app.receipts import rules
from app.receipts.deliveries import plan_late_joiners
from app.receipts.models import Recipient

# employee ids per statement: well under the drivers' 32,767 bind parameters
ENROLL_CHUNK = 5_000
RECIPIENT_COLUMNS = ("message_id", "employee_id", "targeted_at", "published_at", "due_at")


_INSERT_RECIPIENTS = sql.insert_ignore(Recipient.__table__)


async def materialize_recipients(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    audiences: Sequence[AudienceSpec],
    published_at: datetime,
    acknowledge_within_days: int | None,
) -> int:
    """Resolve the message's audiences into recipient rows; return how many there are.

    One `INSERT … SELECT` over the employees matching any of the audiences, so each employee
    is one row however many audiences they are in; rows that exist are kept as they are, so
    running it twice adds nothing. The caller stores the count on the message.
    """
    if audiences:
        compiler = Compiler(dialect=sql.dialect_of(session), today=published_at.date())
        due = (
            published_at + timedelta(days=acknowledge_within_days)
            if acknowledge_within_days is not None
            else None
        )
        rows = select(
            literal(message_id, Uuid()),
            Employee.id,
            literal(published_at, UTCDateTime()),
            literal(published_at, UTCDateTime()),
            literal(due, UTCDateTime()),
        ).where(compiler.members(audiences))
        await session.execute(_INSERT_RECIPIENTS[session].from_select(RECIPIENT_COLUMNS, rows))
    return (
        await session.execute(
            select(func.count()).select_from(Recipient).where(Recipient.message_id == message_id)
        )
    ).scalar_one()


async def enroll_late_joiners(session: AsyncSession, *, employee_ids: Sequence[uuid.UUID]) -> int:
    """Make changed employees recipients of published messages they now match.

    For every published, unexpired message whose audiences a given (active) employee now
    matches and who is not yet its recipient: a recipient row with its own `targeted_at` (now)
    and due date, and the message's `recipient_count` grows. Employees who stopped matching
    stay recipients. Call it after the employee changes are flushed. Returns rows added.
    """
    ids = list(dict.fromkeys(employee_ids))
    if not ids:
        return 0
    now = utcnow()
    live = rules.live(now)
    audiences = (
        await session.execute(
            select(
                Audience.id,
                Audience.rule,
                Audience.include_external_ids,
                Audience.exclude_external_ids,
                Audience.unit,
            ).where(
                Audience.id.in_(
                    select(MessageAudience.audience_id)
                    .join(Message, Message.id == MessageAudience.message_id)
                    .where(live)
                )
            )
        )
    ).all()
    if not audiences:
        return 0
    # one due date per distinct deadline, so the statement needs no date arithmetic in SQL
    deadlines = (
        (
            await session.execute(
                select(Message.acknowledge_within_days)
                .where(live, Message.acknowledge_within_days.is_not(None))
                .distinct()
            )
        )
        .scalars()
        .all()
    )
    due = (
        case(
            {d: literal(now + timedelta(days=d), UTCDateTime()) for d in deadlines},
            value=Message.acknowledge_within_days,
            else_=null(),
        )
        if deadlines
        else cast(null(), UTCDateTime())  # typed: PostgreSQL reads a bare NULL as text here
    )
    added = 0
    for start in range(0, len(ids), ENROLL_CHUNK):
        chunk = ids[start : start + ENROLL_CHUNK]
        enrolled = await _enroll_chunk(session, chunk, audiences, live=live, due=due, now=now)
        if enrolled:  # the local editions they are now inside (app/editions)
            await assign_editions(session, employee_ids=chunk, targeted_at=now)
        added += enrolled
    return added


async def _enroll_chunk(
    session: AsyncSession,
    ids: list[uuid.UUID],
    audiences: Sequence,
    *,
    live: ColumnElement[bool],
    due: ColumnElement,
    now: datetime,
) -> int:
    changed = select(Employee).where(Employee.id.in_(ids), Employee.active == true()).cte("changed")
    compiler = Compiler(dialect=sql.dialect_of(session), today=now.date(), cols=changed.c)
    # (audience, employee) for each audience each changed employee now matches
    branches = [
        select(literal(a.id, Uuid()).label("audience_id"), changed.c.id.label("employee_id")).where(
            compiler.matches(spec_of(a))
        )
        for a in audiences
    ]
    matches = (branches[0] if len(branches) == 1 else union_all(*branches)).subquery("matches")
    rows = (
        select(
            MessageAudience.message_id,
            matches.c.employee_id,
            literal(now, UTCDateTime()),
            Message.published_at,
            due,
        )
        .distinct()
        .select_from(matches)
        .join(MessageAudience, MessageAudience.audience_id == matches.c.audience_id)
        .join(Message, Message.id == MessageAudience.message_id)
        .where(live)
    )
    await session.execute(_INSERT_RECIPIENTS[session].from_select(RECIPIENT_COLUMNS, rows))
    # The rows this statement added are the ones of these employees targeted at `now`
    # (counted rather than taken from rowcount, which SQLite leaves at -1 after `WITH … INSERT`).
    new_rows = and_(Recipient.targeted_at == now, Recipient.employee_id.in_(ids))
    added = (
        await session.execute(select(func.count()).select_from(Recipient).where(new_rows))
    ).scalar_one()
    if added:
        await plan_late_joiners(session, new_recipients=new_rows, at=now)
        await session.execute(
            update(Message)
            .where(Message.id.in_(select(Recipient.message_id).where(new_rows)))
            .values(
                recipient_count=Message.recipient_count
                + select(func.count())
                .select_from(Recipient)
                .where(Recipient.message_id == Message.id, new_rows)
                .scalar_subquery()
            )
        )
    return added
