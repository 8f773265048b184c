"""Reports across messages. The brand-alignment report: has each unit bought the brand?"""

from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.advocacy import figures as advocacy
from app.core import sql
from app.core.database import utcnow
from app.core.errors import ValidationFailed, field_error
from app.core.principal import Principal
from app.core.sql import count_when
from app.editions.models import MessageEdition
from app.editors.access import unit_condition
from app.employees.models import Employee
from app.feedback.models import PulseAnswer
from app.messages.models import BRAND_CATEGORIES, Message, Status
from app.receipts import rules
from app.receipts.models import Recipient
from app.reports import summary
from app.reports.aggregates import (
    HQ_TEXT,
    OTHER,
    ReportGroupBy,
    add_up,
    group_label,
    partition,
    ratio,
)
from app.reports.models import COUNTS
from app.reports.schemas import AlignmentRow, BrandAlignmentOut, PulseSummary, ReachFigures

CATEGORIES = sorted(c.value for c in BRAND_CATEGORIES)
DEFAULT_PERIOD = timedelta(days=90)
REPORT_WORK_MEM = "64MB"

# the per-unit counts of employees, then the sums the summary keeps per employee
FIELDS = ("recipients", "pulse_respondents", *COUNTS)


def message_conditions(dialect: str, *, since: datetime, until: datetime, tag: str | None):
    """The brand messages of the period: the report's one selection of messages."""
    conditions = [
        Message.category.in_(CATEGORIES),
        Message.status.in_((Status.PUBLISHED, Status.ARCHIVED)),
        Message.published_at >= since,
        Message.published_at < until,
    ]
    if tag:
        conditions.append(sql.json_array_contains(dialect, Message.tags, tag))
    return conditions


def alignment_statement(
    dialect: str,
    *,
    since: datetime,
    until: datetime,
    tag: str | None,
    unit,
    among: ColumnElement[bool] | None = None,
    by_edition: bool = False,
    summarized: bool = False,
):
    """One aggregate: the brand messages of the period, per unit.

    Two per-employee sums, each a hash aggregate over one table joined to the few messages:
    deliveries (recipient rows: read, acknowledged, on time) and pulse answers. They are
    stacked (`UNION ALL`) and summed per unit through the employees; every employee is in
    one unit and in each stack at most once, so "employees with deliveries" and "employees
    with answers" are exact distinct counts without `COUNT(DISTINCT …)`, and pulse answers
    are never joined row by row to the (far more numerous) recipient rows.

    `summarized`: the deliveries and answers of the whole weeks of the period come from the
    summary (`app.reports.summary`, a few rows per employee, both sums in each), only those
    of the partial weeks at its ends from the rows themselves; the same figures, in one
    stack. Without a tag and by a unit of the employees only (the summary keeps neither
    tags nor the text served): `brand_alignment` reads the rows for those.

    `by_edition`: the unit is the text served (HQ's, or a local edition's unit key), which is
    a property of each delivery, not of the employee: both sums are then per (employee, text)
    (a pulse answer takes the text of its delivery), so the counts stay exact per text.
    """
    conditions = message_conditions(dialect, since=since, until=until, tag=tag)
    text = func.coalesce(MessageEdition.unit, HQ_TEXT)
    served = (text.label("text"),) if by_edition else ()
    if summarized:
        assert tag is None and not by_edition, "the summary keeps neither tags nor editions"
        return _summarized_per_unit(dialect, since=since, until=until, unit=unit, among=among)
    deliveries = _deliveries(conditions, served)
    answers = _answers(conditions, served)
    if by_edition:
        deliveries = deliveries.outerjoin(
            MessageEdition, MessageEdition.id == Recipient.edition_id
        ).group_by(text)
        answers = (
            answers.outerjoin(
                Recipient,
                and_(
                    Recipient.message_id == PulseAnswer.message_id,
                    Recipient.employee_id == PulseAnswer.employee_id,
                ),
            )
            .outerjoin(MessageEdition, MessageEdition.id == Recipient.edition_id)
            .group_by(text)
        )
    per_employee = union_all(deliveries, answers).subquery("per_employee")
    return _per_unit(per_employee, per_employee.c.text if by_edition else unit, among)


def _per_unit(per_employee, unit, among: ColumnElement[bool] | None):
    """The per-employee sums added up per unit (through the employees)."""
    e = per_employee.c
    sums = [func.sum(e[name]).label(name) for name in COUNTS]
    stmt = (
        select(
            unit.label("unit"),
            count_when(e.deliveries > 0).label("recipients"),
            count_when(e.pulse_responses > 0).label("pulse_respondents"),
            *sums,
        )
        .select_from(per_employee)
        .join(Employee, Employee.id == e.employee_id)
        .group_by(unit)
    )
    # a scoped principal's unit (`app.editors.access`): only its employees are counted
    return stmt if among is None else stmt.where(among)


def _summarized_per_unit(dialect: str, *, since: datetime, until: datetime, unit, among):
    """`alignment_statement` from the summary: its rows (`_summarized`) added up per
    employee (both sums in one stack), then per unit."""
    rows = _summarized(dialect, since=since, until=until).subquery("receipts")
    per_employee = select(
        rows.c.employee_id, *(func.sum(rows.c[name]).label(name) for name in COUNTS)
    ).group_by(rows.c.employee_id)
    return _per_unit(per_employee.subquery("per_employee"), unit, among)


def _counts():
    """Each recipient row's share of the sums (the message joined): 0 or 1 per count."""
    asked = Message.requires_acknowledgement == true()
    current = and_(asked, rules.acknowledged())  # of the current acknowledgement version
    due = and_(asked, Recipient.due_at.is_not(None))
    return (
        Recipient.read_at.is_not(None),
        asked,
        current,
        due,
        and_(current, due, rules.on_time()),
    )


def _deliveries(conditions, served):
    """Per employee (and text served), the recipient rows of the selected messages."""
    read, asked, current, due, on_time = _counts()
    return (
        select(
            Recipient.employee_id.label("employee_id"),
            *served,
            func.count().label("deliveries"),
            count_when(read).label("read"),
            count_when(asked).label("acknowledgement_requested"),
            count_when(current).label("acknowledged"),
            count_when(due).label("due"),
            count_when(on_time).label("acknowledged_on_time"),
            literal(0).label("pulse_responses"),
            literal(0).label("pulse_sum"),
        )
        .join(Message, Message.id == Recipient.message_id)
        .where(*conditions)
        .group_by(Recipient.employee_id)
    )


def _answers(conditions, served):
    """Per employee (and text served), the pulse answers to the selected messages."""
    return (
        select(
            PulseAnswer.employee_id,
            *served,
            *(literal(0) for _ in range(6)),
            func.count(),
            func.sum(PulseAnswer.score),
        )
        .join(Message, Message.id == PulseAnswer.message_id)
        .where(*conditions)
        .group_by(PulseAnswer.employee_id)
    )


def _summarized(dialect: str, *, since: datetime, until: datetime):
    """Rows of an employee's deliveries and pulse answers (to add up per employee) of the
    brand messages of `[since, until)`: the summary's buckets of the whole weeks inside,
    plus the recipient rows and answers of the messages published in the partial weeks at
    both ends."""
    first, end = summary.monday_on_or_after(since), summary.last_whole_week(until)
    conditions = message_conditions(dialect, since=since, until=until, tag=None)
    if first >= end:  # no whole week: the rows themselves
        return union_all(_deliveries(conditions, ()), _answers(conditions, ()))
    edges = or_(
        and_(Message.published_at >= since, Message.published_at < summary.at_midnight(first)),
        and_(Message.published_at >= summary.at_midnight(end), Message.published_at < until),
    )
    edge_messages = select(Message.id).where(*conditions, edges)
    one, zero = literal(1), literal(0)
    edge_receipts = (
        select(
            Recipient.employee_id.label("employee_id"),
            one.label("deliveries"),
            *(
                case((flag, one), else_=zero).label(name)
                for flag, name in zip(_counts(), COUNTS[1:6], strict=True)
            ),
            zero.label("pulse_responses"),
            zero.label("pulse_sum"),
        )
        .join(Message, Message.id == Recipient.message_id)
        .where(sql.in_few(dialect, Recipient.message_id, edge_messages))
    )
    edge_answers = select(
        PulseAnswer.employee_id, *(zero for _ in range(6)), one, PulseAnswer.score
    ).where(sql.in_few(dialect, PulseAnswer.message_id, edge_messages))
    return union_all(*summary.bucket_rows(first, end), edge_receipts, edge_answers)


def _reach(row: dict[str, int]) -> ReachFigures:
    return ReachFigures(
        recipients=row["recipients"],
        deliveries=row["deliveries"],
        read=row["read"],
        read_rate=ratio(row["read"], row["deliveries"]),
        acknowledgement_requested=row["acknowledgement_requested"],
        acknowledged=row["acknowledged"],
        acknowledgement_rate=ratio(row["acknowledged"], row["acknowledgement_requested"]),
        due=row["due"],
        acknowledged_on_time=row["acknowledged_on_time"],
        on_time_acknowledgement_rate=ratio(row["acknowledged_on_time"], row["due"]),
    )


def _pulse(row: dict[str, int]) -> PulseSummary:
    return PulseSummary(
        respondents=row["pulse_respondents"],
        responses=row["pulse_responses"],
        mean=round(row["pulse_sum"] / row["pulse_responses"], 2),
    )


async def brand_alignment(
    session: AsyncSession,
    principal: Principal,
    *,
    min_group_size: int,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: ReportGroupBy = ReportGroupBy.DEPARTMENT,
    tag: str | None = None,
) -> BrandAlignmentOut:
    """Reach, acknowledgement and pulse of the brand messages published in `[since, until)`,
    per unit, with units under `min_group_size` people merged into "(other)" (see
    `app.reports.aggregates`). The period defaults to the 90 days up to now."""
    until = until or utcnow()
    since = since or until - DEFAULT_PERIOD
    if since >= until:
        raise ValidationFailed([field_error("query.since", "must be before `until`")])
    by_edition = group_by is ReportGroupBy.EDITION
    unit = None if by_edition else getattr(Employee, group_by.value)
    # Two hash aggregates of up to one row per employee: keep them in memory, not on disk.
    # And plan for this period: asyncpg prepares statements, and the generic plan PostgreSQL
    # switches to after five runs suits a 90-day period, not a week (5x slower measured).
    # The per-employee sums from the summary come out of a union, whose row count PostgreSQL
    # guesses (200): it would then look the 100,000 employees up one by one instead of
    # hashing them (0.3 to 0.6 s more, measured). No JIT: compiling the report's expressions
    # cost ~230 ms of a ~1 s run (measured, 100k set).
    await sql.set_local(
        session,
        work_mem=REPORT_WORK_MEM,
        plan_cache_mode="force_custom_plan",
        jit="off",
        enable_nestloop="off",
    )
    dialect = sql.dialect_of(session)
    among = unit_condition(principal, dialect) if principal.scoped else None
    stmt = alignment_statement(
        dialect,
        since=since,
        until=until,
        tag=tag,
        unit=unit,
        among=among,
        by_edition=by_edition,
        # the summary keeps no tags and no text served: those reports read the recipient rows
        summarized=tag is None and not by_edition,
    )
    rows: dict[str, dict[str, int]] = {}
    for row in (await session.execute(stmt)).mappings():
        label = group_label(row["unit"])
        rows[label] = add_up([rows.get(label, {}), {k: int(row[k] or 0) for k in FIELDS}])
    total = dict.fromkeys(FIELDS, 0) | add_up(rows.values())
    reach = partition(rows, size=lambda r: r["recipients"], minimum=min_group_size)
    pulse = partition(
        rows, size=lambda r: r["pulse_respondents"], minimum=min_group_size, among=reach.shown
    )
    shared: dict[str, dict[str, int]] = {}
    conditions = message_conditions(dialect, since=since, until=until, tag=tag)
    # by edition, shares have no text served: only the total counts them
    for key, figures in (
        await advocacy.per_unit(session, unit=unit, conditions=conditions, among=among)
    ).items():
        label = group_label(key)
        shared[label] = add_up([shared.get(label, {}), figures])
    sharing = partition(
        shared, size=lambda r: r["sharers"], minimum=min_group_size, among=reach.shown
    )
    units = [
        AlignmentRow(
            unit=label,
            reach=_reach(rows[label]),
            pulse=_pulse(rows[label]) if label in pulse.shown else None,
            advocacy=advocacy.figures_of(shared[label]) if label in sharing.shown else None,
        )
        for label in reach.shown
    ]
    other = AlignmentRow(
        unit=OTHER,
        reach=_reach(dict.fromkeys(FIELDS, 0) | reach.other) if reach.other_size else None,
        pulse=_pulse(pulse.other) if pulse.other_size >= min_group_size else None,
        advocacy=(
            advocacy.figures_of(sharing.other) if sharing.other_size >= min_group_size else None
        ),
    )
    if other.reach is not None or other.pulse is not None or other.advocacy is not None:
        units.append(other)
    return BrandAlignmentOut(
        since=since,
        until=until,
        categories=CATEGORIES,
        tag=tag,
        group_by=group_by,
        min_group_size=min_group_size,
        total=AlignmentRow(
            unit="(all)",
            reach=_reach(total),
            pulse=_pulse(total) if total["pulse_respondents"] >= min_group_size else None,
            advocacy=advocacy.figures_of(add_up(shared.values())),
        ),
        units=units,
    )
