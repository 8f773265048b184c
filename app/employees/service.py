"""The employee directory: reading, upserts one by one, deactivation and erasure. Bulk sync,
the same writes as set operations, is `app.employees.sync`.

Every create, update or reactivation ends in `receipts.service.enroll_late_joiners` with the
ids of the employees that changed, so published messages reach people who start matching them.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.advocacy.service import forget_sharer
from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    field_error,
)
from app.core.http import check_if_match, etag_for
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal
from app.employees.models import Employee
from app.employees.schemas import (
    EmployeeFilters,
    EmployeeIn,
    EmployeeOut,
)
from app.feedback.service import forget_author
from app.preferences.models import EmployeePreference
from app.receipts import service as receipts_service

# Everything a record sets; `external_id` is the key, the rest is bookkeeping.
SYNCED_FIELDS: tuple[str, ...] = tuple(f for f in EmployeeIn.model_fields if f != "external_id")
UNIQUE_FIELDS = ("email", "user_name")
# SCIM's own columns, which only SCIM writes, with the record (see `Employee`).
SCIM_FIELDS = frozenset({"scim_attributes", "scim_deleted_at"})
LABELS = {"email": "e-mail", "user_name": "user name", "external_id": "external_id"}

EMPLOYEES = Employee.__table__


# --- errors ---------------------------------------------------------------------------------


class AlreadyTaken(Conflict):
    """409: a unique value (external_id, e-mail, user name) belongs to another employee."""

    def __init__(self, field: str, holder: str) -> None:
        label = LABELS[field]
        super().__init__(
            f"Another employee (external_id '{holder}') already has this {label}.",
            errors=[
                field_error(
                    f"body.{field}", f"already used by another employee (external_id '{holder}')"
                )
            ],
        )
        self.field = field


# --- reading --------------------------------------------------------------------------------


def employee_etag(employee: Employee) -> str:
    return etag_for(employee.id, employee.revision)


def to_out(employee: Employee) -> EmployeeOut:
    return EmployeeOut.model_validate(employee, from_attributes=True)


def employee_input(employee: Employee) -> EmployeeIn:
    """The stored employee as an input, e.g. to apply a SCIM PATCH and write it back."""
    return EmployeeIn.model_validate({f: getattr(employee, f) for f in EmployeeIn.model_fields})


async def _find(
    session: AsyncSession,
    *,
    external_id: str | None,
    employee_id: uuid.UUID | None,
    lock: bool = False,
) -> Employee | None:
    if (external_id is None) == (employee_id is None):
        raise TypeError("give exactly one of external_id and employee_id")
    where = Employee.id == employee_id if employee_id else Employee.external_id == external_id
    stmt = select(Employee).where(where)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _locate(
    session: AsyncSession,
    *,
    external_id: str | None,
    employee_id: uuid.UUID | None,
    lock: bool = False,
) -> Employee:
    employee = await _find(session, external_id=external_id, employee_id=employee_id, lock=lock)
    if employee is None:
        raise NotFound(
            "No employee with this id." if employee_id else "No employee with this external_id."
        )
    return employee


async def get_employee(
    session: AsyncSession,
    *,
    external_id: str | None = None,
    employee_id: uuid.UUID | None = None,
) -> Employee:
    """One employee by `external_id` or by `id` (exactly one); 404 when there is none."""
    return await _locate(session, external_id=external_id, employee_id=employee_id)


def filtered(filters: EmployeeFilters) -> Select[tuple[Employee]]:
    """`select(Employee)` narrowed by the list filters (for other areas' listings too)."""
    stmt = select(Employee)
    exact = filters.model_dump(
        exclude_none=True, exclude={"q", "hired_from", "hired_until", "active"}
    )
    for name, value in exact.items():
        stmt = stmt.where(getattr(Employee, name) == value)
    if filters.active is not None:
        stmt = stmt.where(Employee.active.is_(filters.active))
    if filters.hired_from is not None:
        stmt = stmt.where(Employee.hire_date >= filters.hired_from)
    if filters.hired_until is not None:
        stmt = stmt.where(Employee.hire_date <= filters.hired_until)
    if filters.q:
        stmt = stmt.where(
            or_(
                *(
                    column.icontains(filters.q, autoescape=True)
                    for column in (
                        Employee.display_name,
                        Employee.given_name,
                        Employee.family_name,
                        Employee.email,
                    )
                )
            )
        )
    return stmt


async def list_employees(
    session: AsyncSession, _principal: Principal, *, page: PageParams, filters: EmployeeFilters
) -> Page[EmployeeOut]:
    """Employees matching every filter, ordered by `external_id`."""
    stmt = keyset(filtered(filters), page, [Employee.external_id], descending=False)
    rows = (await session.execute(stmt)).scalars().all()
    return make_page(rows, page, lambda e: (e.external_id,), to_out)


# --- single writes --------------------------------------------------------------------------


def field_values(data: EmployeeIn) -> dict[str, Any]:
    return {f: getattr(data, f) for f in SYNCED_FIELDS}


async def enroll(session: AsyncSession, employee_ids: Sequence[uuid.UUID]) -> None:
    """Make changed employees recipients of the published messages they now match."""
    if employee_ids:
        await receipts_service.enroll_late_joiners(session, employee_ids=list(employee_ids))


def _refuse_erased(employee: Employee) -> None:
    if employee.erased_at is not None:
        raise Conflict("This employee's personal data was erased; the record cannot be changed.")


async def _check_unique(
    session: AsyncSession, values: dict[str, Any], *, except_id: uuid.UUID | None
) -> None:
    """409 when another employee holds the external_id, e-mail or user name."""
    wanted = {f: values[f] for f in ("external_id", *UNIQUE_FIELDS) if values.get(f) is not None}
    if not wanted:
        return
    stmt = select(Employee.external_id, Employee.email, Employee.user_name).where(
        or_(*(getattr(Employee, f) == v for f, v in wanted.items()))
    )
    if except_id is not None:
        stmt = stmt.where(Employee.id != except_id)
    holder = (await session.execute(stmt.limit(1))).one_or_none()
    if holder is not None:
        field = next(f for f, v in wanted.items() if getattr(holder, f) == v)
        raise AlreadyTaken(field, holder.external_id)


def _scim_values(scim: dict[str, Any] | None) -> dict[str, Any]:
    unknown = set(scim or {}) - SCIM_FIELDS
    if unknown:
        raise TypeError(f"not SCIM columns: {sorted(unknown)}")
    return dict(scim or {})


async def _insert(
    session: AsyncSession,
    principal: Principal,
    *,
    external_id: str,
    data: EmployeeIn,
    scim: dict[str, Any] | None = None,
) -> Employee | None:
    """Create the employee; None when one with this external_id exists (perhaps just now)."""
    values = {"external_id": external_id, **field_values(data), **_scim_values(scim)}
    await _check_unique(session, {f: values[f] for f in UNIQUE_FIELDS}, except_id=None)
    now = utcnow()
    row = {
        "id": uuid.uuid4(),
        **values,
        "revision": 1,
        "created_at": now,
        "updated_at": now,
        "deactivated_at": None if data.active else now,
    }
    # ON CONFLICT DO NOTHING waits for a concurrent creator instead of failing the request
    stmt = (
        sql.insert(session, EMPLOYEES)
        .values(row)
        .on_conflict_do_nothing(index_elements=[EMPLOYEES.c.external_id])
        .returning(EMPLOYEES.c.id)
    )
    try:
        employee_id = (await session.execute(stmt)).scalar_one_or_none()
    except IntegrityError as exc:  # the e-mail or user name was taken since our check
        raise Conflict("The employee conflicts with a concurrent change; retry.") from exc
    if employee_id is None:
        return None
    await record(
        session, principal, action="employee.created", entity_type="employee", entity_id=employee_id
    )
    await enroll(session, [employee_id])
    return await session.get_one(Employee, employee_id)


async def _update(
    session: AsyncSession, principal: Principal, employee: Employee, values: dict[str, Any]
) -> bool:
    """Write only what differs; an identical record keeps its revision and `updated_at`."""
    changes = {f: v for f, v in values.items() if getattr(employee, f) != v}
    if not changes:
        return False
    await _check_unique(session, values, except_id=employee.id)
    now = utcnow()
    if "active" in changes:
        employee.deactivated_at = None if changes["active"] else now
    for name, value in changes.items():
        setattr(employee, name, value)
    employee.revision += 1
    employee.updated_at = now
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("The employee was changed concurrently; retry.") from exc
    await record(
        session,
        principal,
        action="employee.updated",
        entity_type="employee",
        entity_id=employee.id,
        details={"fields": sorted(changes)},  # names only: no personal data in the audit trail
    )
    await enroll(session, [employee.id])
    return True


async def upsert_employee(
    session: AsyncSession,
    principal: Principal,
    *,
    external_id: str,
    data: EmployeeIn,
    if_match: str | None = None,
) -> tuple[Employee, bool]:
    """Create or fully replace the employee with this `external_id`; True when created.

    The body's `external_id`, if given, must equal `external_id`. An identical record is
    not rewritten. 409 (`AlreadyTaken`) when the e-mail or user name belongs to someone else.
    """
    if data.external_id is not None and data.external_id != external_id:
        raise ValidationFailed(
            [field_error("body.external_id", "must equal the external_id in the path")]
        )
    employee = await _find(session, external_id=external_id, employee_id=None, lock=True)
    if employee is None:
        if if_match is not None:
            raise PreconditionFailed(
                "No employee with this external_id exists; send no If-Match to create it."
            )
        created = await _insert(session, principal, external_id=external_id, data=data)
        if created is not None:
            return created, True
        # created concurrently since we looked: replace what the other request wrote
        employee = await _locate(session, external_id=external_id, employee_id=None, lock=True)
    check_if_match(if_match, employee_etag(employee))
    _refuse_erased(employee)
    await _update(session, principal, employee, field_values(data))
    return employee, False


async def create_employee(
    session: AsyncSession,
    principal: Principal,
    *,
    data: EmployeeIn,
    scim: dict[str, Any] | None = None,
) -> Employee:
    """Create an employee; 409 (`AlreadyTaken`) when its external_id, e-mail or user name exist.

    `scim`: values of SCIM's own columns (`SCIM_FIELDS`), written with the record.
    """
    if data.external_id is None:
        raise ValidationFailed([field_error("body.external_id", "Field required", "missing")])
    existing = await _find(session, external_id=data.external_id, employee_id=None)
    employee = None
    if existing is None:
        employee = await _insert(
            session, principal, external_id=data.external_id, data=data, scim=scim
        )
    if employee is None:
        raise AlreadyTaken("external_id", data.external_id)
    return employee


async def replace_employee(
    session: AsyncSession,
    principal: Principal,
    *,
    employee_id: uuid.UUID,
    data: EmployeeIn,
    if_match: str | None = None,
    scim: dict[str, Any] | None = None,
) -> tuple[Employee, bool]:
    """Replace every field of the employee with this `id`; True when something changed.

    A given `data.external_id` renames the employee (409 when it is taken); none keeps it.
    `scim`: values of SCIM's own columns (`SCIM_FIELDS`), written with the record.
    """
    employee = await _locate(session, external_id=None, employee_id=employee_id, lock=True)
    check_if_match(if_match, employee_etag(employee))
    _refuse_erased(employee)
    values = {**field_values(data), **_scim_values(scim)}
    if data.external_id is not None:
        values["external_id"] = data.external_id
    changed = await _update(session, principal, employee, values)
    return employee, changed


async def deactivate_employee(
    session: AsyncSession,
    principal: Principal,
    *,
    external_id: str | None = None,
    employee_id: uuid.UUID | None = None,
    if_match: str | None = None,
) -> Employee:
    """Mark the employee inactive (never deleted); a no-op when it already is."""
    employee = await _locate(session, external_id=external_id, employee_id=employee_id, lock=True)
    check_if_match(if_match, employee_etag(employee))
    if employee.active:
        now = utcnow()
        employee.active = False
        employee.deactivated_at = now
        employee.updated_at = now
        employee.revision += 1
        await session.flush()
        await record(
            session,
            principal,
            action="employee.deactivated",
            entity_type="employee",
            entity_id=employee.id,
        )
    return employee


# Erasure keeps the organisational units that aggregate reports group by, plus the coarse
# categories `employment_type` and `customer_facing`; everything about the person goes.
ERASED_FIELDS = (
    "email",
    "user_name",
    "employee_number",
    "display_name",
    "given_name",
    "family_name",
    "job_title",
    "job_level",
    "manager_external_id",
    "hire_date",
    "locale",
    "time_zone",
)


async def erase_employee(
    session: AsyncSession,
    principal: Principal,
    *,
    external_id: str | None = None,
    employee_id: uuid.UUID | None = None,
    if_match: str | None = None,
) -> None:
    """Erase the employee's personal data for good, keeping an anonymous row.

    Gone: names, e-mail, user name, employee number, job title and level, manager link, hire
    date, locale, time zone, e-mail preferences, custom attributes and what an identity
    provider sent for SCIM's view (`scim_attributes`: e-mail addresses among them). The HRIS key `external_id` is replaced by
    `erased-<id>`, so nothing links the row back to the person and a later sync or SCIM call
    with the old key creates a new, unrelated employee instead of re-identifying this one.
    Kept: `department`, `division`, `location`, `country` (plus `employment_type` and
    `customer_facing`), so read receipts and acknowledgements still count in anonymous
    aggregates by unit. The employee is inactive from then on; writes to it answer 409.
    """
    employee = await _locate(session, external_id=external_id, employee_id=employee_id, lock=True)
    check_if_match(if_match, employee_etag(employee))
    if employee.erased_at is not None:
        return
    now = utcnow()
    for name in ERASED_FIELDS:
        setattr(employee, name, None)
    employee.attributes = {}
    employee.scim_attributes = None
    employee.external_id = f"erased-{employee.id}"
    if employee.active:
        employee.active = False
        employee.deactivated_at = now
    employee.erased_at = now
    employee.updated_at = now
    employee.revision += 1
    await session.flush()
    # their comments stay (and count), without an author; reactions and pulse answers stay
    # with the anonymized row, so the figures by unit do not change
    await forget_author(session, employee_id=employee.id)
    await session.execute(
        delete(EmployeePreference).where(EmployeePreference.employee_id == employee.id)
    )
    await forget_sharer(session, employee_id=employee.id)
    await record(
        session, principal, action="employee.erased", entity_type="employee", entity_id=employee.id
    )
