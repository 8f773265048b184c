"""Shares and clicks as figures: per message and network, and per unit of the company.

Each figure is one aggregate in the database, over the shares alone (each carries its clicks). Per unit, the people behind a figure are the
employees who shared (`sharers`); which units may be shown is decided by the one minimum-group
rule (`app.reports.aggregates`), by the reports that call these.
"""

import uuid
from typing import Any

from sqlalchemy import func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.advocacy.models import Network, Share
from app.advocacy.schemas import AdvocacyFigures, MessageAdvocacy, NetworkFigures
from app.employees.models import Employee
from app.messages.models import Message

FIGURES = ("sharers", "shares", "clicks")


async def message_advocacy(
    session: AsyncSession, *, message_id: uuid.UUID, among: ColumnElement[bool] | None = None
) -> MessageAdvocacy:
    """A message's sharers, shares and clicks, overall and per network (`among`: only the
    shares of these employees, a scoped editor's unit)."""
    of_message = [Share.message_id == message_id]
    if among is not None:
        of_message.append(Share.employee_id.in_(select(Employee.id).where(among)))
    per_network = (
        await session.execute(
            select(
                Share.network,
                func.count().label("shares"),
                func.coalesce(func.sum(Share.clicks), 0).label("clicks"),
            )
            .where(*of_message)
            .group_by(Share.network)
        )
    ).all()
    sharers = await session.scalar(
        select(func.count(Share.employee_id.distinct())).where(*of_message)
    )
    networks = {
        Network(r.network): NetworkFigures(shares=r.shares, clicks=int(r.clicks or 0))
        for r in per_network
    }
    return MessageAdvocacy(
        sharers=sharers or 0,
        shares=sum(n.shares for n in networks.values()),
        clicks=sum(n.clicks for n in networks.values()),
        networks=dict(sorted(networks.items())),
    )


async def per_unit(
    session: AsyncSession,
    *,
    unit: Any,
    conditions: list[Any],
    among: ColumnElement[bool] | None = None,
) -> dict[Any, dict[str, int]]:
    """`{unit value: {"sharers", "shares", "clicks"}}` over the shares of the messages meeting
    `conditions` (on `Message`), by the sharers' current `unit` (an `Employee` column; None:
    one row for all, keyed None), of the employees `among` (all when None)."""
    of_messages = Share.message_id.in_(select(Message.id).where(*conditions))
    key = unit if unit is not None else literal(None)
    stmt = (
        select(
            key.label("unit"),
            func.count(Share.employee_id.distinct()).label("sharers"),
            func.count().label("shares"),
            func.coalesce(func.sum(Share.clicks), 0).label("clicks"),
        )
        .select_from(Share)
        .join(Employee, Employee.id == Share.employee_id)
        .where(of_messages, among if among is not None else true())
    )
    if unit is not None:
        stmt = stmt.group_by(unit)
    return {
        row.unit: {name: int(getattr(row, name) or 0) for name in FIGURES}
        for row in await session.execute(stmt)
        if row.shares
    }


def figures_of(row: dict[str, int]) -> AdvocacyFigures:
    return AdvocacyFigures(**{name: row.get(name, 0) for name in FIGURES})
