"""The employee directory: upserts, bulk sync as set operations, deactivation and erasure.

Every create, update or reactivation ends in `receipts.service.enroll_late_joiners` with the
ids of the employees that changed, so published messages reach people who start matching them.
"""

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, any_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.audit.service import record
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
    MAX_BULK_RECORDS,
    BulkSyncOut,
    EmployeeFilters,
    EmployeeIn,
    EmployeeOut,
    EmployeeRecord,
    SyncMode,
)
from app.feedback.service import forget_author
from app.receipts import service as receipts_service

# Everything a record sets; `external_id` is the key, the rest is bookkeeping.
SYNCED_FIELDS: tuple[str, ...] = tuple(f for f in EmployeeIn.model_fields if f != "external_id")
UNIQUE_FIELDS = ("email", "user_name")
_LABELS = {"email": "e-mail", "user_name": "user name", "external_id": "external_id"}

# PostgreSQL accepts at most 32,767 bind parameters per statement; stay clear of it.
_MAX_BIND_PARAMETERS = 30_000
_COLUMNS_PER_ROW = len(SYNCED_FIELDS) + 6  # + id, external_id, revision, 3 timestamps
ROWS_PER_STATEMENT = _MAX_BIND_PARAMETERS // _COLUMNS_PER_ROW

EMPLOYEES = Employee.__table__


# --- errors ---------------------------------------------------------------------------------


class AlreadyTaken(Conflict):
    """409: a unique value (external_id, e-mail, user name) belongs to another employee."""

    def __init__(self, field: str, holder: str) -> None:
        label = _LABELS[field]
        super().__init__(
            f"Another employee (external_id '{holder}') already has this {label}.",
            errors=[
                field_error(
                    f"body.{field}", f"already used by another employee (external_id '{holder}')"
                )
            ],
        )
        self.field = field


@dataclass(frozen=True)
class RecordProblem:
    """Why record `index` of a batch cannot be applied; `other` is its duplicate, if any."""

    index: int
    field: str
    msg: str
    other: int | None = None

    def describe(self, ref: Callable[[int], str]) -> str:
        return self.msg.format(other=ref(self.other)) if self.other is not None else self.msg


class InvalidRecords(ValidationFailed):
    """422 listing every bad record by index and field; nothing of the batch was applied."""

    def __init__(self, problems: Sequence[RecordProblem]) -> None:
        self.problems = list(problems)
        errors = [
            field_error(
                f"body.employees[{p.index}].{p.field}", p.describe(lambda i: f"employees[{i}]")
            )
            for p in self.problems
        ]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            errors,
            detail=f"{errors[0]['loc']}: {errors[0]['msg']}{more}; nothing was applied.",
        )


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


def _values(data: EmployeeIn) -> dict[str, Any]:
    return {f: getattr(data, f) for f in SYNCED_FIELDS}


async def _enroll(session: AsyncSession, employee_ids: Sequence[uuid.UUID]) -> None:
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


async def _insert(
    session: AsyncSession, principal: Principal, *, external_id: str, data: EmployeeIn
) -> Employee | None:
    """Create the employee; None when one with this external_id exists (perhaps just now)."""
    values = {"external_id": external_id, **_values(data)}
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
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING waits for a concurrent creator instead of failing the request
    stmt = (
        insert(EMPLOYEES)
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
    await _enroll(session, [employee_id])
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
    await _enroll(session, [employee.id])
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
    await _update(session, principal, employee, _values(data))
    return employee, False


async def create_employee(
    session: AsyncSession, principal: Principal, *, data: EmployeeIn
) -> Employee:
    """Create an employee; 409 (`AlreadyTaken`) when its external_id, e-mail or user name exist."""
    if data.external_id is None:
        raise ValidationFailed([field_error("body.external_id", "Field required", "missing")])
    existing = await _find(session, external_id=data.external_id, employee_id=None)
    employee = None
    if existing is None:
        employee = await _insert(session, principal, external_id=data.external_id, data=data)
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
) -> tuple[Employee, bool]:
    """Replace every field of the employee with this `id`; True when something changed.

    A given `data.external_id` renames the employee (409 when it is taken); none keeps it.
    """
    employee = await _locate(session, external_id=None, employee_id=employee_id, lock=True)
    check_if_match(if_match, employee_etag(employee))
    _refuse_erased(employee)
    values = _values(data)
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
    date, locale and custom attributes. The HRIS key `external_id` is replaced by
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
    await record(
        session, principal, action="employee.erased", entity_type="employee", entity_id=employee.id
    )


# --- bulk sync ------------------------------------------------------------------------------


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name


def _in_set(column: Any, values: Sequence[str], dialect: str) -> ColumnElement[bool]:
    """`column` is one of `values`, bound as one parameter (no bind-parameter limit)."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
    each = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued("value")
    return column.in_(select(each.c.value))


def _not_in_set(column: Any, values: Sequence[str], dialect: str) -> ColumnElement[bool]:
    """`column` is none of `values`, bound as one parameter."""
    if dialect == "postgresql":
        # NOT EXISTS plans as a hash anti-join; NOT IN over a large set would not.
        seen = (
            func.unnest(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
            .table_valued("value")
            .render_derived()
        )
        return ~exists().where(seen.c.value == column)
    # SQLite materializes an IN-subquery once, into a temporary index.
    each = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued("value")
    return column.not_in(select(each.c.value))


def find_duplicates(records: Sequence[EmployeeRecord]) -> list[RecordProblem]:
    """Records that repeat an earlier record's external_id, e-mail or user name."""
    problems = []
    for field in ("external_id", *UNIQUE_FIELDS):
        first: dict[str, int] = {}
        for index, rec in enumerate(records):
            value = getattr(rec, field)
            if value is None:
                continue
            if value in first:
                problems.append(
                    RecordProblem(
                        index,
                        field,
                        f"duplicate {_LABELS[field]} '{value}': also given by {{other}}",
                        other=first[value],
                    )
                )
            else:
                first[value] = index
    return problems


async def _conflicts(
    session: AsyncSession,
    records: Sequence[EmployeeRecord],
    *,
    in_batch: set[str],
    full_sync: bool,
) -> tuple[list[RecordProblem], dict[str, list[str]]]:
    """Values held by employees outside the batch, and values to release first.

    An e-mail (or user name) may move between two employees of the same batch; the holder
    gives it up before the upsert, since a unique index is checked row by row. In a full sync
    the batch is the whole directory: an employee absent from it has left (this sync
    deactivates them if no earlier one did), so an address of theirs that the batch gives to
    someone else, a new hire's say, moves to that record instead of failing the batch.
    """
    dialect = _dialect(session)
    problems: list[RecordProblem] = []
    release: dict[str, list[str]] = {}
    erased = await session.execute(
        select(Employee.external_id).where(
            Employee.erased_at.is_not(None),
            _in_set(Employee.external_id, list(in_batch), dialect),
        )
    )
    erased_ids = set(erased.scalars())
    for index, rec in enumerate(records):
        if rec.external_id in erased_ids:
            problems.append(RecordProblem(index, "external_id", "belongs to an erased employee"))
    for field in UNIQUE_FIELDS:
        column = getattr(Employee, field)
        wanted: dict[str, int] = {}
        for index, rec in enumerate(records):
            value = getattr(rec, field)
            if value is not None:
                wanted.setdefault(value, index)
        if not wanted:
            continue
        holders = await session.execute(
            select(Employee.external_id, column, Employee.active).where(
                _in_set(column, list(wanted), dialect)
            )
        )
        for holder_id, value, holder_active in holders:
            index = wanted[value]
            if holder_id == records[index].external_id:
                continue
            if full_sync or holder_id in in_batch:
                release.setdefault(field, []).append(holder_id)
            else:
                state = "" if holder_active else ", inactive: a full sync without them frees it"
                problems.append(
                    RecordProblem(
                        index,
                        field,
                        f"already used by another employee (external_id '{holder_id}'{state})",
                    )
                )
    return problems, release


async def _release(
    session: AsyncSession,
    release: dict[str, list[str]],
    *,
    in_batch: set[str],
    now: datetime,
) -> None:
    """Clear the e-mails and user names that move to another record of the batch. A holder
    inside the batch gets its new values from the upsert that follows; one outside it (a
    leaver in a full sync) changes here, so its revision moves too."""
    dialect = _dialect(session)
    for field, holders in release.items():
        staying = [h for h in holders if h in in_batch]
        leaving = [h for h in holders if h not in in_batch]
        if staying:
            await session.execute(
                update(Employee)
                .where(_in_set(Employee.external_id, staying, dialect))
                .values({field: None})
                .execution_options(synchronize_session=False)
            )
        if leaving:
            await session.execute(
                update(Employee)
                .where(_in_set(Employee.external_id, leaving, dialect))
                .values({field: None, "revision": Employee.revision + 1, "updated_at": now})
                .execution_options(synchronize_session=False)
            )


def _upsert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(EMPLOYEES)
    new, old = stmt.excluded, EMPLOYEES.c
    return stmt.on_conflict_do_update(
        index_elements=[old.external_id],
        set_={
            **{f: new[f] for f in SYNCED_FIELDS},
            "revision": old.revision + 1,
            "updated_at": new.updated_at,
            "deactivated_at": case(
                (new.active, None), (old.active, new.updated_at), else_=old.deactivated_at
            ),
        },
        # an identical record is left alone: no new revision, `updated_at` kept
        where=old.erased_at.is_(None)
        & or_(*(old[f].is_distinct_from(new[f]) for f in SYNCED_FIELDS)),
    ).returning(old.id)


async def _upsert_batch(
    session: AsyncSession, records: Sequence[EmployeeRecord], now: datetime
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Upsert records; returns the ids it created and the ids it updated.

    One compiled statement, executed for many rows: SQLAlchemy's "insertmanyvalues" sends
    them as multi-row `INSERT … VALUES (…), (…) ON CONFLICT … RETURNING` pages.
    """
    rows = [
        {
            "id": uuid.uuid4(),
            "external_id": rec.external_id,
            **_values(rec),
            "revision": 1,
            "created_at": now,
            "updated_at": now,
            "deactivated_at": None if rec.active else now,
        }
        for rec in records
    ]
    proposed = {row["id"] for row in rows}
    result = await session.execute(
        _upsert_statement(_dialect(session)),
        rows,
        execution_options={"insertmanyvalues_page_size": ROWS_PER_STATEMENT},
    )
    created, updated = [], []
    for employee_id in result.scalars():
        # a row keeps its id on conflict, so the id we proposed tells an insert apart
        (created if employee_id in proposed else updated).append(employee_id)
    return created, updated


async def _deactivate_absent(
    session: AsyncSession, external_ids: Sequence[str], now: datetime
) -> int:
    result = await session.execute(
        update(Employee)
        .where(
            Employee.active.is_(True),
            _not_in_set(Employee.external_id, external_ids, _dialect(session)),
        )
        .values(active=False, deactivated_at=now, updated_at=now, revision=Employee.revision + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


async def sync_employees(
    session: AsyncSession,
    principal: Principal,
    *,
    records: Sequence[EmployeeRecord],
    mode: SyncMode = SyncMode.UPSERT,
    batch_size: int = MAX_BULK_RECORDS,
    on_progress: Callable[[int], None] | None = None,
) -> BulkSyncOut:
    """Apply a batch of employee records at once, all or nothing.

    Checks the whole batch first: duplicates inside it, and e-mails or user names held by
    employees outside it (in `upsert` mode; a full sync takes them from the leavers) raise
    `InvalidRecords` (422) before anything is written. Then upserts in
    batches of `batch_size` records (calling `on_progress` with each batch's size), each sent
    as multi-row statements; `full_sync` then deactivates active employees absent from the batch.
    One audit event per call; the created and updated ids go to `enroll_late_joiners`.
    """
    in_batch = {rec.external_id for rec in records}
    problems = find_duplicates(records)
    conflicts, release = await _conflicts(
        session, records, in_batch=in_batch, full_sync=mode == SyncMode.FULL_SYNC
    )
    problems += conflicts
    if problems:
        raise InvalidRecords(sorted(problems, key=lambda p: (p.index, p.field)))
    now = utcnow()
    await _release(session, release, in_batch=in_batch, now=now)

    created: list[uuid.UUID] = []
    updated: list[uuid.UUID] = []
    step = max(1, batch_size)
    for start in range(0, len(records), step):
        batch = records[start : start + step]
        new, changed = await _upsert_batch(session, batch, now)
        created += new
        updated += changed
        if on_progress is not None:
            on_progress(len(batch))

    deactivated = 0
    if mode == SyncMode.FULL_SYNC:
        deactivated = await _deactivate_absent(session, list(in_batch), now)
    counts = BulkSyncOut(
        created=len(created),
        updated=len(updated),
        unchanged=len(records) - len(created) - len(updated),
        deactivated=deactivated,
    )
    await record(
        session,
        principal,
        action="employees.synced",
        entity_type="employee_sync",
        entity_id=uuid.uuid4(),
        details={"mode": mode.value, "records": len(records), **counts.model_dump()},
    )
    await _enroll(session, created + updated)
    return counts
