"""Employee preferences: what an employee chose, resolved against the company defaults.

`resolve` is the one place a stored preference row, the directory (`employees.time_zone`,
`employees.country`) and the settings become what applies; the inbox rules
(`app.receipts.inbox`) call it for every e-mail they decide on, and the API shows it.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.advocacy import service as advocacy
from app.audit.service import record
from app.core import sql
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import NotFound, ValidationFailed, field_error
from app.core.principal import Principal
from app.core.timezones import main_zone, minutes_of_day, time_of_day
from app.employees.models import Employee
from app.messages.models import Category
from app.preferences.models import EmployeePreference
from app.preferences.schemas import DigestFrequency, PreferencesIn, PreferencesOut, QuietHours
from app.receipts.models import Channel, OptOut

# stored quiet hours with start == end mean "none" (a real range never has them equal)
NO_QUIET_HOURS = (0, 0)
# the company default of each scalar preference (NULL in the row)
DEFAULTS: dict[str, Callable[[Settings], Any]] = {
    "digest": lambda s: DigestFrequency(s.default_digest),
    "digest_hour": lambda s: s.digest_hour,
}


@dataclass(frozen=True)
class Effective:
    """The preferences that apply to one employee."""

    email_off: frozenset[str]
    unsubscribed: bool
    digest: DigestFrequency
    digest_hour: int
    quiet_hours: tuple[int, int] | None  # minutes after local midnight
    time_zone: str
    time_zone_source: str
    chosen: tuple[str, ...] = ()
    advocacy_leaderboard: bool = False


def resolve(
    settings: Settings,
    row: Any | None,
    *,
    directory_zone: str | None,
    country: str | None,
    unsubscribed: bool,
) -> Effective:
    """`row` is an `EmployeePreference` (or a row with its columns), None when the employee
    chose nothing."""
    chosen: list[str] = []
    values: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        stored = getattr(row, name, None) if row is not None else None
        if stored is not None:
            chosen.append(name)
        values[name] = stored if stored is not None else default(settings)
    email_off = frozenset(getattr(row, "email_off", None) or ()) if row is not None else frozenset()
    if email_off:
        chosen.append("email")
    quiet: tuple[int, int] | None = settings.quiet_hours_minutes
    if row is not None and row.quiet_start is not None and row.quiet_end is not None:
        chosen.append("quiet_hours")
        quiet = (
            None
            if (row.quiet_start, row.quiet_end) == NO_QUIET_HOURS
            else (
                row.quiet_start,
                row.quiet_end,
            )
        )
    own_zone = getattr(row, "time_zone", None) if row is not None else None
    if own_zone:
        chosen.append("time_zone")
        zone, source = own_zone, "preferences"
    elif directory_zone:
        zone, source = directory_zone, "directory"
    elif (country_zone := main_zone(country)) is not None:
        zone, source = country_zone, "country"
    else:
        zone, source = settings.default_time_zone, "company"
    return Effective(
        email_off=email_off,
        unsubscribed=unsubscribed,
        digest=DigestFrequency(values["digest"]),
        digest_hour=int(values["digest_hour"]),
        quiet_hours=quiet,
        time_zone=zone,
        time_zone_source=source,
        chosen=tuple(sorted(chosen)),
    )


def out(effective: Effective) -> PreferencesOut:
    off = effective.email_off
    quiet = effective.quiet_hours
    return PreferencesOut(
        email={c: (c.value not in off and not effective.unsubscribed) for c in Category},
        unsubscribed=effective.unsubscribed,
        digest=effective.digest,
        digest_hour=effective.digest_hour,
        quiet_hours=QuietHours(start=time_of_day(quiet[0]), end=time_of_day(quiet[1]))
        if quiet
        else None,
        time_zone=effective.time_zone,
        time_zone_source=effective.time_zone_source,
        chosen=list(effective.chosen),
        advocacy_leaderboard=effective.advocacy_leaderboard,
    )


async def _employee(
    session: AsyncSession, *, employee_id: uuid.UUID | None = None, external_id: str | None = None
) -> Employee:
    stmt = select(Employee)
    stmt = (
        stmt.where(Employee.id == employee_id)
        if employee_id is not None
        else stmt.where(Employee.external_id == external_id)
    )
    employee = (await session.execute(stmt)).scalar_one_or_none()
    if employee is None:
        raise NotFound("No employee with this external_id.")
    return employee


async def _effective(session: AsyncSession, settings: Settings, employee: Employee) -> Effective:
    row = await session.get(EmployeePreference, employee.id, populate_existing=True)
    unsubscribed = (
        await session.scalar(
            select(OptOut.employee_id).where(
                OptOut.employee_id == employee.id, OptOut.channel == Channel.EMAIL.value
            )
        )
        is not None
    )
    effective = resolve(
        settings,
        row,
        directory_zone=employee.time_zone,
        country=employee.country,
        unsubscribed=unsubscribed,
    )
    opted_in = await advocacy.get_leaderboard_opt_in(session, employee_id=employee.id)
    return replace(effective, advocacy_leaderboard=opted_in)


async def get_preferences(
    session: AsyncSession,
    _principal: Principal,
    *,
    settings: Settings,
    employee_id: uuid.UUID | None = None,
    external_id: str | None = None,
) -> PreferencesOut:
    employee = await _employee(session, employee_id=employee_id, external_id=external_id)
    return out(await _effective(session, settings, employee))


def _row_values(data: PreferencesIn) -> dict[str, Any]:
    quiet: tuple[int | None, int | None] = (None, None)
    if "quiet_hours" in data.model_fields_set:
        quiet = (
            (minutes_of_day(data.quiet_hours.start), minutes_of_day(data.quiet_hours.end))
            if data.quiet_hours is not None
            else NO_QUIET_HOURS
        )
    return {
        "email_off": sorted(c.value for c, on in data.email.items() if not on),
        "digest": data.digest.value if data.digest is not None else None,
        "digest_hour": data.digest_hour,
        "quiet_start": quiet[0],
        "quiet_end": quiet[1],
        "time_zone": data.time_zone,
    }


async def _set_leaderboard(
    session: AsyncSession, principal: Principal, employee: Employee, opt_in: bool
) -> None:
    """Only the employee opts in: nobody is put on a leaderboard by someone else."""
    if opt_in and principal.employee_id != employee.id:
        if not await advocacy.get_leaderboard_opt_in(session, employee_id=employee.id):
            raise ValidationFailed(
                [field_error("body.advocacy_leaderboard", "only the employee can opt in")]
            )
        return
    await advocacy.set_leaderboard_opt_in(
        session, principal, employee_id=employee.id, opt_in=opt_in
    )


async def put_preferences(
    session: AsyncSession,
    principal: Principal,
    *,
    settings: Settings,
    data: PreferencesIn,
    employee_id: uuid.UUID | None = None,
    external_id: str | None = None,
) -> PreferencesOut:
    """Replace the employee's preferences. Saving them also ends a one-click unsubscribe:
    `email` now says what the employee wants."""
    employee = await _employee(session, employee_id=employee_id, external_id=external_id)
    await _set_leaderboard(session, principal, employee, data.advocacy_leaderboard)
    values = {**_row_values(data), "updated_at": utcnow()}
    await session.execute(
        sql.upsert(
            session,
            EmployeePreference.__table__,
            {"employee_id": employee.id, **values},
            index_elements=["employee_id"],
            set_=values,
        )
    )
    await session.execute(
        delete(OptOut).where(
            OptOut.employee_id == employee.id, OptOut.channel == Channel.EMAIL.value
        )
    )
    await record(
        session,
        principal,
        action="employee.preferences_updated",
        entity_type="employee",
        entity_id=employee.id,
        details={k: v for k, v in _row_values(data).items() if v not in (None, [])},
    )
    return out(await _effective(session, settings, employee))
