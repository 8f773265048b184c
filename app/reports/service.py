"""Reports across messages. The brand-alignment report: has each unit bought the brand?"""

from datetime import datetime, timedelta

from sqlalchemy import and_, func, literal, select, true, union_all
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
from app.reports.aggregates import (
    HQ_TEXT,
    OTHER,
    ReportGroupBy,
    add_up,
    group_label,
    partition,
    ratio,
)
from app.reports.schemas import AlignmentRow, BrandAlignmentOut, PulseSummary, ReachFigures

CATEGORIES = sorted(c.value for c in BRAND_CATEGORIES)
DEFAULT_PERIOD = timedelta(days=90)
REPORT_WORK_MEM = "64MB"

FIELDS = (
    "recipients",
    "pulse_respondents",
    "deliveries",
    "read",
    "acknowledgement_requested",
    "acknowledged",
    "due",
    "acknowledged_on_time",
    "pulse_responses",
    "pulse_sum",
)


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
):
    """One aggregate: the brand messages of the period, per unit.

    Two per-employee sums, each a hash aggregate over one table joined to the few messages:
    deliveries (recipient rows: read, acknowledged, on time) and pulse answers. They are
    stacked (`UNION ALL`) and summed per unit through the employees; every employee is in
    one unit and in each stack at most once, so "employees with deliveries" and "employees
    with answers" are exact distinct counts without `COUNT(DISTINCT …)`, and pulse answers
    are never joined row by row to the (far more numerous) recipient rows.

    `by_edition`: the unit is the text served (HQ's, or a local edition's unit key), which is
    a property of each delivery, not of the employee: both sums are then per (employee, text)
    (a pulse answer takes the text of its delivery), so the counts stay exact per text.
    """
    conditions = message_conditions(dialect, since=since, until=until, tag=tag)
    asked = Message.requires_acknowledgement == true()
    current = and_(asked, rules.acknowledged())  # of the current acknowledgement version
    due = and_(asked, Recipient.due_at.is_not(None))
    text = func.coalesce(MessageEdition.unit, HQ_TEXT)
    served = (text.label("text"),) if by_edition else ()
    deliveries = (
        select(
            Recipient.employee_id.label("employee_id"),
            *served,
            func.count().label("deliveries"),
            func.count(Recipient.read_at).label("read"),
            count_when(asked).label("acknowledgement_requested"),
            count_when(current).label("acknowledged"),
            count_when(due).label("due"),
            count_when(and_(current, due, rules.on_time())).label("acknowledged_on_time"),
            literal(0).label("pulse_responses"),
            literal(0).label("pulse_sum"),
        )
        .join(Message, Message.id == Recipient.message_id)
        .where(*conditions)
        .group_by(Recipient.employee_id)
    )
    answers = (
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
    e = per_employee.c
    if by_edition:
        unit = e.text
    sums = [func.sum(e[name]).label(name) for name in FIELDS[2:]]
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
    await sql.set_local(session, work_mem=REPORT_WORK_MEM, plan_cache_mode="force_custom_plan")
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
