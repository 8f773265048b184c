"""Receipt reports: how a message landed, overall and per group, and who is where.

Every figure is computed by the database in one statement: `count(*) FILTER (WHERE …)` over
the message's recipient rows (joined to the employees and with `GROUP BY` for groups). Groups
are the employees' attributes now, not when they were targeted. Acknowledged means of the
current round (`messages.acknowledgement_version`) or later; pending means required, not
acknowledged, and the employee still active; overdue means pending past the due date.
"""

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.core.database import Database, utcnow
from app.core.errors import NotFound
from app.core.pagination import Page, PageParams, encode_cursor, keyset
from app.core.principal import Principal
from app.employees.models import Employee
from app.messages.models import Message
from app.receipts.access import acknowledged, not_acknowledged
from app.receipts.models import Recipient
from app.receipts.schemas import (
    OTHER_GROUP,
    GroupBy,
    GroupStats,
    MessageStats,
    RecipientOut,
    RecipientState,
)

CSV_BATCH = 2_000
COUNTS = ("recipients", "read", "acknowledged", "pending", "overdue")


@dataclass(frozen=True)
class MessageFacts:
    """What the reports need to know of a message, read once."""

    id: uuid.UUID
    requires_acknowledgement: bool
    version: int
    acknowledgement_version: int


async def message_facts(
    session: AsyncSession, _principal: Principal, *, message_id: uuid.UUID
) -> MessageFacts:
    """The message a report is about; 404 when there is none."""
    row = (
        await session.execute(
            select(
                Message.id,
                Message.requires_acknowledgement,
                Message.version,
                Message.acknowledgement_version,
            ).where(Message.id == message_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No message with this id.")
    return MessageFacts(*row)


def state_conditions(facts: MessageFacts, now: datetime) -> dict[RecipientState, Any]:
    """Each state as a condition over `recipients` joined to `employees`.

    The message's acknowledgement version is a bound value, so no join to `messages` is needed.
    Deactivated employees are never pending (nor overdue): they have left.
    """
    version = facts.acknowledgement_version
    pending = (
        and_(not_acknowledged(version), Employee.active.is_(True))
        if facts.requires_acknowledgement
        else false()
    )
    return {
        RecipientState.UNREAD: Recipient.read_at.is_(None),
        RecipientState.READ: Recipient.read_at.is_not(None),
        RecipientState.ACKNOWLEDGED: acknowledged(version),
        RecipientState.PENDING: pending,
        RecipientState.OVERDUE: and_(pending, Recipient.due_at < now),
    }


def _of_message(facts: MessageFacts, *columns: Any) -> Select:
    return (
        select(*columns)
        .select_from(Recipient)
        .join(Employee, Employee.id == Recipient.employee_id)
        .where(Recipient.message_id == facts.id)
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _with_rates(counts: dict[str, int], facts: MessageFacts) -> dict[str, Any]:
    return {
        **counts,
        "read_rate": _rate(counts["read"], counts["recipients"]),
        "acknowledgement_rate": (
            _rate(counts["acknowledged"], counts["recipients"])
            if facts.requires_acknowledgement
            else None
        ),
    }


def merge_small_groups(
    groups: list[tuple[str | None, dict[str, int]]], minimum: int
) -> list[tuple[str | None, dict[str, int]]]:
    """Groups of at least `minimum` recipients, largest first, then one `(other)` group.

    `(other)` holds every smaller group; when it is itself below `minimum` (one group of two,
    say, which its label would not hide), the smallest shown groups join it until it reaches
    the minimum or nothing else is left. So no shown figure covers fewer than `minimum`
    people, unless the whole message has fewer recipients — and then the only group is
    `(other)`, equal to the totals shown anyway.
    """
    ordered = sorted(groups, key=lambda g: (-g[1]["recipients"], g[0] is None, g[0] or ""))
    shown = [g for g in ordered if g[1]["recipients"] >= minimum]
    small = [g for g in ordered if g[1]["recipients"] < minimum]
    if not small:
        return shown
    other = dict.fromkeys(COUNTS, 0)

    def absorb(counts: dict[str, int]) -> None:
        for name in COUNTS:
            other[name] += counts[name]

    for _, counts in small:
        absorb(counts)
    while other["recipients"] < minimum and shown:
        absorb(shown.pop()[1])
    return [*shown, (OTHER_GROUP, other)]


def stats_statement(facts: MessageFacts, now: datetime, group_by: GroupBy | None = None) -> Select:
    """The one aggregate behind `message_stats`: a row of counts (per group with `group_by`)."""
    version = facts.acknowledgement_version
    read = Recipient.read_at.is_not(None)
    open_ = not_acknowledged(version) if facts.requires_acknowledgement else false()
    late = and_(open_, Recipient.due_at < now)
    if group_by is not None:
        key: ColumnElement = getattr(Employee, group_by.value)
        active = Employee.active.is_(True)
        return _of_message(
            facts,
            key.label("key"),
            func.count().label("recipients"),
            func.count().filter(read).label("read"),
            func.count().filter(acknowledged(version)).label("acknowledged"),
            func.count().filter(and_(open_, active)).label("pending"),
            func.count().filter(and_(late, active)).label("overdue"),
        ).group_by(key)
    # Without groups no employee column is needed but `active`: count the message's recipient
    # rows alone, then take away the open ones of deactivated employees (few, found through
    # the index on `active`). Joining every recipient to its employee costs several times more.
    everyone = (
        select(
            func.count().label("recipients"),
            func.count().filter(read).label("read"),
            func.count().filter(acknowledged(version)).label("acknowledged"),
            func.count().filter(open_).label("open"),
            func.count().filter(late).label("late"),
        )
        .where(Recipient.message_id == facts.id)
        .subquery("everyone")
    )
    gone = (
        _of_message(
            facts,
            func.count().filter(open_).label("open"),
            func.count().filter(late).label("late"),
        )
        .where(Employee.active == false())
        .subquery("gone")
    )
    return select(
        everyone.c.recipients,
        everyone.c.read,
        everyone.c.acknowledged,
        (everyone.c.open - gone.c.open).label("pending"),
        (everyone.c.late - gone.c.late).label("overdue"),
    ).select_from(everyone.join(gone, true()))


async def message_stats(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    group_by: GroupBy | None = None,
    min_group_size: int = 5,
) -> MessageStats:
    """Recipients, reads, current acknowledgements, pending and overdue, with rates; with
    `group_by`, per value of that employee attribute, small groups merged."""
    facts = await message_facts(session, principal, message_id=message_id)
    now = utcnow()
    about = {
        "message_id": facts.id,
        "requires_acknowledgement": facts.requires_acknowledgement,
        "version": facts.version,
        "acknowledgement_version": facts.acknowledgement_version,
        "as_of": now,
    }
    rows = (await session.execute(stats_statement(facts, now, group_by))).all()
    if group_by is None:
        return MessageStats(**about, **_with_rates(dict(rows[0]._mapping), facts))
    groups = [(row.key, {name: getattr(row, name) for name in COUNTS}) for row in rows]
    totals = {name: sum(g[1][name] for g in groups) for name in COUNTS}
    merged = merge_small_groups(groups, min_group_size)
    return MessageStats(
        **about,
        **_with_rates(totals, facts),
        group_by=group_by,
        min_group_size=min_group_size,
        groups=[GroupStats(key=k, **_with_rates(c, facts)) for k, c in merged],
    )


RECIPIENT_COLUMNS = (
    Employee.external_id,
    Employee.display_name,
    Employee.email,
    Employee.department,
    Employee.division,
    Employee.location,
    Employee.country,
    Employee.active,
    Recipient.targeted_at,
    Recipient.due_at,
    Recipient.read_at,
    Recipient.acknowledged_at,
    Recipient.acknowledged_version,
    Recipient.employee_id,
)
CSV_FIELDS = tuple(RecipientOut.model_fields)


def _recipients(facts: MessageFacts, state: RecipientState | None, now: datetime) -> Select:
    stmt = _of_message(facts, *RECIPIENT_COLUMNS)
    if state is not None:
        stmt = stmt.where(state_conditions(facts, now)[state])
    return stmt


def _recipient_values(row: Any, facts: MessageFacts) -> dict[str, Any]:
    current = row.acknowledged_version is not None and (
        row.acknowledged_version >= facts.acknowledgement_version
    )
    values = {name: getattr(row, name) for name in CSV_FIELDS}
    values["acknowledged_at"] = row.acknowledged_at if current else None
    return values


async def list_recipients(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    page: PageParams,
    state: RecipientState | None = None,
) -> Page[RecipientOut]:
    """A message's recipients in a stable order (the primary key's), filtered by state."""
    facts = await message_facts(session, principal, message_id=message_id)
    stmt = keyset(
        _recipients(facts, state, utcnow()), page, [Recipient.employee_id], descending=False
    )
    rows = (await session.execute(stmt)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return Page[RecipientOut](
        items=[RecipientOut.model_construct(**_recipient_values(r, facts)) for r in rows],
        next_cursor=encode_cursor((rows[-1].employee_id,)) if more else None,
    )


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    # a cell starting like a formula is text, not a formula, for spreadsheet programs
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def recipients_csv(
    database: Database,
    principal: Principal,
    *,
    facts: MessageFacts,
    state: RecipientState | None = None,
    batch: int | None = None,
) -> AsyncIterator[str]:
    """Every matching recipient as CSV text, header first, in keyset batches of `batch` rows
    (by default `CSV_BATCH`).

    Each batch is read in its own short transaction, so a slow download holds no connection
    and no snapshot; memory stays at one batch whatever the message's size. `facts` comes from
    `message_facts`, called before the response starts so that a 404 is still possible.
    """
    batch = batch or CSV_BATCH
    now = utcnow()
    base = _recipients(facts, state, now).order_by(Recipient.employee_id).limit(batch)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    after: uuid.UUID | None = None
    while True:
        stmt = base if after is None else base.where(Recipient.employee_id > after)
        async with database.session_scope(write=False) as session:
            rows = (await session.execute(stmt)).all()
        for row in rows:
            values = _recipient_values(row, facts)
            writer.writerow([_csv_cell(values[name]) for name in CSV_FIELDS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < batch:
            return
        after = rows[-1].employee_id
