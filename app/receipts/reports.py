"""Receipt reports: how a message landed, overall and per group, and who is where.

Every figure is computed by the database: `count(*) FILTER (WHERE …)` over the message's
recipient rows, in one statement (joined to the employees and with `GROUP BY` for groups; the
groups' e-mails in a second one, over the deliveries, when the message has any). Groups
are the employees' attributes now, not when they were targeted. Acknowledged, pending and
overdue are the rules of `app.receipts.rules`; small groups are merged by the one
minimum-group rule of `app.reports.aggregates`.
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

from app.advocacy import figures as advocacy
from app.core import sql
from app.core.database import Database, utcnow
from app.core.errors import NotFound
from app.core.pagination import Page, PageParams, encode_cursor, keyset
from app.core.principal import Principal
from app.core.sql import count_when
from app.editions.models import MessageEdition
from app.editors.access import unit_condition
from app.employees.models import Employee
from app.messages.models import Message
from app.receipts import rules
from app.receipts.deliveries import channel_counts, counts_of
from app.receipts.models import Channel, Delivery, Recipient
from app.receipts.schemas import (
    ChannelCounts,
    GroupStats,
    MessageStats,
    ReadVia,
    RecipientOut,
    RecipientState,
)
from app.reports.aggregates import HQ_TEXT, OTHER, ReportGroupBy, partition, ratio

CSV_BATCH = 2_000
COUNTS = ("recipients", "read", "acknowledged", "pending", "overdue")
CHANNEL_COUNTS = tuple(ChannelCounts.model_fields)
EMAIL_COUNTS = tuple(f"email_{k}" for k in CHANNEL_COUNTS)


@dataclass(frozen=True)
class MessageFacts:
    """What the reports need to know of a message, read once."""

    id: uuid.UUID
    requires_acknowledgement: bool
    version: int
    acknowledgement_version: int
    channels: tuple[str, ...] = (Channel.FEED.value,)
    # the recipients a report may show (a scoped principal's unit: `app.editors.access`)
    among: ColumnElement[bool] | None = None


async def message_facts(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID
) -> MessageFacts:
    """The message a report is about; 404 when there is none."""
    row = (
        await session.execute(
            select(
                Message.id,
                Message.requires_acknowledgement,
                Message.version,
                Message.acknowledgement_version,
                Message.channels,
            ).where(Message.id == message_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No message with this id.")
    scoped = principal is not None and principal.scoped
    among = unit_condition(principal, sql.dialect_of(session)) if scoped else None
    return MessageFacts(*row[:4], channels=tuple(row.channels or ()), among=among)


def state_conditions(facts: MessageFacts, now: datetime) -> dict[RecipientState, Any]:
    """Each state as a condition over `recipients` joined to `employees`.

    The message's facts are bound values, so no join to `messages` is needed.
    """
    required, version = facts.requires_acknowledgement, facts.acknowledgement_version
    return {
        RecipientState.UNREAD: Recipient.read_at.is_(None),
        RecipientState.READ: Recipient.read_at.is_not(None),
        RecipientState.ACKNOWLEDGED: rules.acknowledged(version),
        RecipientState.PENDING: rules.pending(required, version),
        RecipientState.OVERDUE: rules.overdue(now, required, version),
    }


def _of_message(facts: MessageFacts, *columns: Any) -> Select:
    stmt = (
        select(*columns)
        .select_from(Recipient)
        .join(Employee, Employee.id == Recipient.employee_id)
        .where(Recipient.message_id == facts.id)
    )
    return stmt if facts.among is None else stmt.where(facts.among)


def _with_rates(counts: dict[str, int], facts: MessageFacts) -> dict[str, Any]:
    """The figures of `ReceiptCounts` (and of a group's e-mails and reads, when counted)."""
    extra: dict[str, Any] = {}
    if "read_email" in counts:
        extra["read_via"] = ReadVia(
            feed=counts["read"] - counts["read_email"], email=counts["read_email"]
        )
    if "email_planned" in counts:
        extra["email"] = ChannelCounts(**{k: counts[f"email_{k}"] for k in CHANNEL_COUNTS})
    return {
        **{k: counts[k] for k in COUNTS},
        **extra,
        "read_rate": ratio(counts["read"], counts["recipients"]),
        "acknowledgement_rate": (
            ratio(counts["acknowledged"], counts["recipients"])
            if facts.requires_acknowledgement
            else None
        ),
    }


def _group_key(group_by: ReportGroupBy) -> ColumnElement:
    """What `group_by` names, over `recipients` joined to `employees` (and, for editions, to
    the edition each recipient was served: `_served`)."""
    if group_by is ReportGroupBy.EDITION:
        return func.coalesce(MessageEdition.unit, HQ_TEXT)
    return getattr(Employee, group_by.value)


def _served(stmt: Select, group_by: ReportGroupBy) -> Select:
    if group_by is not ReportGroupBy.EDITION:
        return stmt
    # the edition each recipient was served (None: HQ's text)
    return stmt.outerjoin(MessageEdition, MessageEdition.id == Recipient.edition_id)


def stats_statement(
    facts: MessageFacts, now: datetime, group_by: ReportGroupBy | None = None
) -> Select:
    """The one aggregate behind `message_stats`: a row of counts (per group with `group_by`)."""
    required, version = facts.requires_acknowledgement, facts.acknowledgement_version
    read = Recipient.read_at.is_not(None)
    read_email = count_when(Recipient.read_channel == Channel.EMAIL.value).label("read_email")
    if group_by is not None:
        key = _group_key(group_by)
        stmt = _of_message(
            facts,
            key.label("key"),
            func.count().label("recipients"),
            count_when(read).label("read"),
            count_when(rules.acknowledged(version)).label("acknowledged"),
            count_when(rules.pending(required, version)).label("pending"),
            count_when(rules.overdue(now, required, version)).label("overdue"),
            read_email,
        )
        return _served(stmt, group_by).group_by(key)
    # Without groups no employee column is needed but `active`: count the message's recipient
    # rows alone (awaiting, and awaiting past due), then take away those of deactivated
    # employees, who are never pending (few, found through the index on `active`). Joining
    # every recipient to its employee costs several times more.
    awaiting = rules.awaiting(required, version)
    late = and_(awaiting, rules.past_due(now))
    everyone = select(
        func.count().label("recipients"),
        count_when(read).label("read"),
        count_when(rules.acknowledged(version)).label("acknowledged"),
        count_when(awaiting).label("awaiting"),
        count_when(late).label("late"),
        read_email,
    ).where(Recipient.message_id == facts.id)
    if facts.among is not None:
        everyone = everyone.where(Recipient.employee_id.in_(select(Employee.id).where(facts.among)))
    everyone = everyone.subquery("everyone")
    gone = (
        _of_message(facts, count_when(awaiting).label("awaiting"), count_when(late).label("late"))
        .where(Employee.active == false())
        .subquery("gone")
    )
    return select(
        everyone.c.recipients,
        everyone.c.read,
        everyone.c.acknowledged,
        (everyone.c.awaiting - gone.c.awaiting).label("pending"),
        (everyone.c.late - gone.c.late).label("overdue"),
        everyone.c.read_email,
    ).select_from(everyone.join(gone, true()))


def group_email_statement(facts: MessageFacts, group_by: ReportGroupBy) -> Select:
    """Each group's e-mails, every round's (as the message's `channels` figures count them):
    an aggregate of its own, since a recipient may have several (retargeting)."""
    key = _group_key(group_by)
    stmt = _of_message(
        facts,
        key.label("key"),
        *(figure.label(f"email_{name}") for name, figure in counts_of(Delivery.state).items()),
    ).join(
        Delivery,
        and_(
            Delivery.message_id == Recipient.message_id,
            Delivery.channel == Channel.EMAIL.value,
            Delivery.employee_id == Recipient.employee_id,
        ),
    )
    return _served(stmt, group_by).group_by(key)


def _figures(row: Any) -> dict[str, int]:
    """A group's counts, without its key."""
    return {name: value for name, value in row._mapping.items() if name != "key"}


async def message_stats(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    group_by: ReportGroupBy | None = None,
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
        "channels": await channel_counts(
            session, message_id=facts.id, channels=facts.channels, among=facts.among
        ),
    }
    about["advocacy"] = await advocacy.message_advocacy(
        session, message_id=facts.id, among=facts.among
    )
    rows = (await session.execute(stats_statement(facts, now, group_by))).all()
    if group_by is None:
        return MessageStats(**about, **_with_rates(dict(rows[0]._mapping), facts))
    groups = {row.key: {**_figures(row), **dict.fromkeys(EMAIL_COUNTS, 0)} for row in rows}
    if Channel.EMAIL in facts.channels:
        for row in (await session.execute(group_email_statement(facts, group_by))).all():
            if row.key in groups:  # (unless its only employee moved between the statements)
                groups[row.key].update(_figures(row))
    totals = {name: sum(g[name] for g in groups.values()) for name in COUNTS}
    totals["read_email"] = sum(g["read_email"] for g in groups.values())
    folded = partition(groups, size=lambda g: g["recipients"], minimum=min_group_size)
    # shares by unit: a unit shown for its reach shows them only with enough sharers
    # (by edition, shares have no text served: the message's total counts them)
    unit = None if group_by is ReportGroupBy.EDITION else getattr(Employee, group_by.value)
    shared = await advocacy.per_unit(
        session, unit=unit, conditions=[Message.id == facts.id], among=facts.among
    )
    sharing = partition(
        shared, size=lambda g: g["sharers"], minimum=min_group_size, among=folded.shown
    )
    shown = [
        GroupStats(
            key=key,
            **_with_rates(groups[key], facts),
            advocacy=advocacy.figures_of(shared[key]) if key in sharing.shown else None,
        )
        for key in folded.shown
    ]
    if folded.other_size:
        other_advocacy = (
            advocacy.figures_of(sharing.other) if sharing.other_size >= min_group_size else None
        )
        shown.append(
            GroupStats(key=OTHER, **_with_rates(folded.other, facts), advocacy=other_advocacy)
        )
    return MessageStats(
        **about,
        **_with_rates(totals, facts),
        group_by=group_by,
        min_group_size=min_group_size,
        groups=shown,
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
    current = rules.is_acknowledged(row.acknowledged_version, facts.acknowledgement_version)
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
