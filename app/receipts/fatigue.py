"""The fatigue report: how many e-mails employees got in a period, how much the inbox rules
held back, how digests are opened and where messages are read — per unit, under the
minimum-group rule (`app.reports.aggregates`).

Every figure is a sum per group from one grouped statement (employees joined for the unit);
the percentiles come from a histogram (e-mails → how many employees got that many), one row
per distinct count, never one per employee.
"""

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, exists, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import sql
from app.core.database import utcnow
from app.core.errors import ValidationFailed, field_error
from app.core.principal import Principal
from app.employees.models import Employee
from app.receipts.models import Channel, Delivery, DeliveryState, Digest, Recipient
from app.receipts.schemas import EmailsPerEmployee, FatigueFigures, FatigueOut, FatigueRow
from app.reports.aggregates import OTHER, GroupBy, group_label, partition, ratio

MAX_DAYS = 366
_SUMS = (
    "employees",
    "emails",
    "planned",
    "held",
    "held_by_cap",
    "held_by_quiet_hours",
    "held_for_digest",
    "digests",
    "digests_opened",
    "recipients",
    "read_in_feed",
    "read_by_email",
)


def check_moment(field: str, value: datetime | None) -> None:
    """422 for a time this service cannot compute a week around (year 1, year 9999)."""
    if value is not None and not 1970 <= value.year <= 9000:
        raise ValidationFailed([field_error(field, "must be between the years 1970 and 9000")])


def _figures(row: Mapping[str, int]) -> dict[str, Any]:
    n = {k: int(row.get(k) or 0) for k in _SUMS}
    return {
        **n,
        "emails_per_employee": round(n["emails"] / n["employees"], 4) if n["employees"] else None,
        "held_share": ratio(n["held"], n["planned"]),
        "digest_open_rate": ratio(n["digests_opened"], n["digests"]),
        "read_rate_feed": ratio(n["read_in_feed"], n["recipients"]),
        "read_rate_email": ratio(n["read_by_email"], n["recipients"]),
    }


def percentile(histogram: list[tuple[int, int]], q: float) -> float | None:
    """The nearest-rank percentile `q` of values given as sorted (value, how many) pairs."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, n in histogram:
        seen += n
        if seen >= rank:
            return float(value)
    return float(histogram[-1][0])


async def delivery_report(
    session: AsyncSession,
    _principal: Principal,
    *,
    since: datetime | None,
    until: datetime | None,
    group_by: GroupBy | None,
    min_group_size: int,
) -> FatigueOut:
    check_moment("query.since", since)
    check_moment("query.until", until)
    until = until or utcnow()
    since = since or until - timedelta(days=7)
    if since >= until:
        raise ValidationFailed([field_error("query.since", "must be before `until`")])
    if until - since > timedelta(days=MAX_DAYS):
        raise ValidationFailed(
            [field_error("query.since", f"at most {MAX_DAYS} days before `until`")]
        )

    emails = Channel.EMAIL.value
    sent = DeliveryState.SENT.value
    # one row per e-mail sent (1) or planned (0) in the period, by employee
    per_mail = union_all(
        select(Delivery.employee_id.label("employee_id"), literal(1, Integer()).label("n")).where(
            Delivery.channel == emails,
            Delivery.state == sent,
            Delivery.sent_at >= since,
            Delivery.sent_at < until,
        ),
        select(Digest.employee_id, literal(1, Integer())).where(
            Digest.state == sent, Digest.sent_at >= since, Digest.sent_at < until
        ),
        select(Delivery.employee_id, literal(0, Integer())).where(
            Delivery.channel == emails, Delivery.planned_at >= since, Delivery.planned_at < until
        ),
    ).subquery("per_mail")
    per_employee = (
        select(per_mail.c.employee_id, func.sum(per_mail.c.n).label("emails"))
        .group_by(per_mail.c.employee_id)
        .subquery("per_employee")
    )
    histogram = [
        (int(v), int(n))
        for v, n in (
            await session.execute(
                select(per_employee.c.emails, func.count())
                .group_by(per_employee.c.emails)
                .order_by(per_employee.c.emails)
            )
        ).all()
    ]

    unit = getattr(Employee, group_by.value) if group_by else literal(None)
    rows: dict[Any, dict[str, int]] = {}

    async def add(stmt: Any, employee_id: Any) -> None:
        grouped = stmt.add_columns(unit.label("unit")).join(Employee, Employee.id == employee_id)
        for r in (await session.execute(grouped.group_by(unit))).mappings():
            target = rows.setdefault(r["unit"], {})
            for key, value in r.items():
                if key != "unit":
                    target[key] = target.get(key, 0) + int(value or 0)

    await add(
        select(
            func.count().label("employees"),
            func.coalesce(func.sum(per_employee.c.emails), 0).label("emails"),
        ).select_from(per_employee),
        per_employee.c.employee_id,
    )
    reason = func.coalesce(Delivery.reason, "")
    await add(
        select(
            func.count().label("planned"),
            sql.count_when(Delivery.held_at.is_not(None)).label("held"),
            sql.count_when(and_(Delivery.held_at.is_not(None), reason.like("%weekly cap%"))).label(
                "held_by_cap"
            ),
            sql.count_when(and_(Delivery.held_at.is_not(None), reason.like("%quiet hours%"))).label(
                "held_by_quiet_hours"
            ),
            sql.count_when(
                and_(
                    Delivery.held_at.is_not(None),
                    Delivery.digest_period.is_not(None) | Delivery.digest_id.is_not(None),
                )
            ).label("held_for_digest"),
        )
        .select_from(Delivery)
        .where(
            Delivery.channel == emails,
            Delivery.round == 0,
            Delivery.planned_at >= since,
            Delivery.planned_at < until,
        ),
        Delivery.employee_id,
    )
    recipients = Recipient.__table__.c
    opened = exists().where(
        Delivery.digest_id == Digest.id,
        recipients.message_id == Delivery.message_id,
        recipients.employee_id == Delivery.employee_id,
        recipients.read_channel == emails,
    )
    await add(
        select(func.count().label("digests"), sql.count_when(opened).label("digests_opened"))
        .select_from(Digest)
        .where(Digest.state == sent, Digest.sent_at >= since, Digest.sent_at < until),
        Digest.employee_id,
    )
    await add(
        select(
            func.count().label("recipients"),
            sql.count_when(recipients.read_channel == Channel.FEED.value).label("read_in_feed"),
            sql.count_when(recipients.read_channel == emails).label("read_by_email"),
        )
        .select_from(Recipient.__table__)
        .where(recipients.published_at >= since, recipients.published_at < until),
        recipients.employee_id,
    )

    total = {k: sum(r.get(k, 0) for r in rows.values()) for k in _SUMS}
    groups: list[FatigueRow] = []
    if group_by is not None:
        split = partition(
            rows,
            size=lambda r: r.get("employees", 0),
            minimum=min_group_size,
        )
        groups = [FatigueRow(group=group_label(g), **_figures(rows[g])) for g in split.shown]
        if split.other_size:
            groups.append(FatigueRow(group=OTHER, **_figures(split.other)))
    return FatigueOut(
        since=since,
        until=until,
        group_by=group_by.value if group_by else None,
        total=FatigueFigures(**_figures(total)),
        emails_per_employee=EmailsPerEmployee(
            p50=percentile(histogram, 0.5),
            p90=percentile(histogram, 0.9),
            max=histogram[-1][0] if histogram else None,
        ),
        groups=groups,
    )
