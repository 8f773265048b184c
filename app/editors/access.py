"""What a scoped principal (an editor grant over one unit) may see and touch: the one place.

- Messages: its unit's own (`messages.unit`), and, to read and adapt, HQ's localizable ones.
  Others answer 404 (not there for it); a localizable HQ message it may read but not change
  answers 403 on writes.
- Audiences: its unit's own; membership is ANDed with the unit (`app.audiences.rules`).
- Figures (stats, recipients, brand alignment) and the directory: only employees in its unit
  (`unit_condition`).
HQ principals (not scoped) pass every check here without a query.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.audiences.models import Audience
from app.audiences.rules import Compiler
from app.core import sql
from app.core.database import utcnow
from app.core.errors import Forbidden, NotFound
from app.core.principal import Principal
from app.editors.units import outside, parse_unit, unit_rule
from app.employees.models import Employee
from app.messages.models import Message

NO_MESSAGE = "No message with this id."


def unit_condition(principal: Principal, dialect: str, cols: Any = Employee) -> ColumnElement[bool]:
    """Employees (columns `cols`) inside the principal's unit; true for HQ."""
    if principal.unit is None:
        return true()
    compiler = Compiler(dialect=dialect, today=utcnow().date(), cols=cols)
    return compiler.rule(unit_rule(parse_unit(principal.unit)))


def visible_messages(principal: Principal) -> ColumnElement[bool]:
    """The messages a principal may list and read."""
    if principal.unit is None:
        return true()
    return or_(Message.unit == principal.unit, Message.localizable.is_(True))


async def check_message(
    session: AsyncSession, principal: Principal, message_id: uuid.UUID, *, write: bool
) -> None:
    """404 unless the principal may see the message; 403 when it may read but not change it
    (an HQ message, for a scoped principal: it writes an edition instead)."""
    if principal.unit is None:
        return
    row = (
        await session.execute(
            select(Message.unit, Message.localizable).where(Message.id == message_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(NO_MESSAGE)
    if row.unit == principal.unit:
        return
    if not row.localizable:
        raise NotFound(NO_MESSAGE)
    if write:
        raise Forbidden(
            f"This credential is scoped to the unit `{principal.unit}`; this is an HQ message: "
            f"adapt it with `PUT /v1/messages/{message_id}/editions/{principal.unit}`."
        )


async def check_audiences(
    session: AsyncSession, principal: Principal, audience_ids: Sequence[uuid.UUID]
) -> None:
    """403 naming the unit when a scoped principal names an audience of another unit (or
    HQ's); unknown ids are left to the caller's 422."""
    if principal.unit is None or not audience_ids:
        return
    units = (
        await session.execute(select(Audience.unit).where(Audience.id.in_(list(audience_ids))))
    ).scalars()
    if any(unit != principal.unit for unit in units):
        raise outside(principal.unit)


async def check_inside(
    session: AsyncSession, principal: Principal, external_ids: Sequence[str]
) -> None:
    """403 naming the unit when a listed employee is not in the principal's unit."""
    if principal.unit is None or not external_ids:
        return
    dialect = sql.dialect_of(session)
    stray = (
        await session.execute(
            select(Employee.external_id)
            .where(
                Employee.external_id.in_(list(external_ids)),
                ~unit_condition(principal, dialect),
            )
            .limit(1)
        )
    ).first()
    if stray is not None:
        raise outside(principal.unit)
