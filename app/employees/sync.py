"""Bulk sync: a whole batch of HRIS records applied at once, all or nothing, as set
operations (a few statements per 10,000 records, never one per employee).
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import Conflict, ValidationFailed, field_error
from app.core.principal import Principal
from app.employees.models import Employee
from app.employees.schemas import (
    MAX_BULK_RECORDS,
    MAX_LISTED_DEACTIVATIONS,
    BulkSyncOut,
    EmployeeRecord,
    SyncMode,
)
from app.employees.service import (
    EMPLOYEES,
    LABELS,
    SYNCED_FIELDS,
    UNIQUE_FIELDS,
    enroll,
    field_values,
)

# PostgreSQL accepts at most 32,767 bind parameters per statement; stay clear of it.
_MAX_BIND_PARAMETERS = 30_000
_COLUMNS_PER_ROW = len(SYNCED_FIELDS) + 6  # + id, external_id, revision, 3 timestamps
ROWS_PER_STATEMENT = _MAX_BIND_PARAMETERS // _COLUMNS_PER_ROW


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


class MassDeactivation(Conflict):
    """409: a full sync would deactivate more of the active directory than allowed; nothing
    was applied. An HRIS export cut short must not wipe the company."""

    slug, title = "mass-deactivation", "Mass deactivation refused"

    def __init__(self, *, deactivated: list[str], active: int, max_share: float) -> None:
        self.count, self.active, self.max_share = len(deactivated), active, max_share
        self.sample = sorted(deactivated)[:MAX_LISTED_DEACTIVATIONS]
        super().__init__(
            f"This full sync would deactivate {self.count:,} of {active:,} active employees "
            f"({self.count / max(active, self.count):.0%}), more than BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE "
            f"({max_share:.0%}) allows; nothing was applied. Check that the batch is the whole "
            'directory, preview with "dry_run": true, and send "allow_mass_deactivation": true '
            "to go ahead.",
            would_deactivate=self.count,
            active=active,
            max_share=max_share,
            deactivated_external_ids=self.sample,
        )


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
                        f"duplicate {LABELS[field]} '{value}': also given by {{other}}",
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
    dialect = sql.dialect_of(session)
    problems: list[RecordProblem] = []
    release: dict[str, list[str]] = {}
    erased = await session.execute(
        select(Employee.external_id).where(
            Employee.erased_at.is_not(None),
            sql.in_values(dialect, Employee.external_id, list(in_batch)),
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
                sql.in_values(dialect, column, list(wanted))
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
    dialect = sql.dialect_of(session)
    for field, holders in release.items():
        staying = [h for h in holders if h in in_batch]
        leaving = [h for h in holders if h not in in_batch]
        if staying:
            await session.execute(
                update(Employee)
                .where(sql.in_values(dialect, Employee.external_id, staying))
                .values({field: None})
                .execution_options(synchronize_session=False)
            )
        if leaving:
            await session.execute(
                update(Employee)
                .where(sql.in_values(dialect, Employee.external_id, leaving))
                .values({field: None, "revision": Employee.revision + 1, "updated_at": now})
                .execution_options(synchronize_session=False)
            )


def _upsert_statement(dialect: str) -> Any:
    stmt = sql.insert(dialect, EMPLOYEES)
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


_UPSERT = sql.PerDialect(_upsert_statement)


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
            **field_values(rec),
            "revision": 1,
            "created_at": now,
            "updated_at": now,
            "deactivated_at": None if rec.active else now,
        }
        for rec in records
    ]
    proposed = {row["id"] for row in rows}
    result = await session.execute(
        _UPSERT[session],
        rows,
        execution_options={"insertmanyvalues_page_size": ROWS_PER_STATEMENT},
    )
    created, updated = [], []
    for employee_id in result.scalars():
        # a row keeps its id on conflict, so the id we proposed tells an insert apart
        (created if employee_id in proposed else updated).append(employee_id)
    return created, updated


async def _count_active(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Employee).where(Employee.active.is_(True))
    return int((await session.execute(stmt)).scalar_one())


async def _deactivate_absent(
    session: AsyncSession, external_ids: Sequence[str], now: datetime
) -> list[str]:
    """Deactivate the active employees absent from `external_ids`; their external ids."""
    result = await session.execute(
        update(Employee)
        .where(
            Employee.active.is_(True),
            sql.not_in_values(sql.dialect_of(session), Employee.external_id, external_ids),
        )
        .values(active=False, deactivated_at=now, updated_at=now, revision=Employee.revision + 1)
        .returning(Employee.external_id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())


async def sync_employees(
    session: AsyncSession,
    principal: Principal,
    *,
    records: Sequence[EmployeeRecord],
    mode: SyncMode = SyncMode.UPSERT,
    batch_size: int = MAX_BULK_RECORDS,
    on_progress: Callable[[int], None] | None = None,
    dry_run: bool = False,
    max_deactivation_share: float | None = None,
) -> BulkSyncOut:
    """Apply a batch of employee records at once, all or nothing.

    Checks the whole batch first: duplicates inside it, and e-mails or user names held by
    employees outside it (in `upsert` mode; a full sync takes them from the leavers) raise
    `InvalidRecords` (422) before anything is written. Then upserts in
    batches of `batch_size` records (calling `on_progress` with each batch's size), each sent
    as multi-row statements; `full_sync` then deactivates active employees absent from the batch,
    and raises `MassDeactivation` (409, nothing applied) when they are more than
    `max_deactivation_share` of the active directory (None: no limit).
    One audit event per call; the created and updated ids go to `enroll_late_joiners`.

    `dry_run` does all of it, then rolls it back: the same checks and counts, nothing changed,
    and no limit on deactivations (the answer shows how many there would be).
    """
    if not dry_run:
        return await _sync(
            session, principal, records, mode, batch_size, on_progress, max_deactivation_share
        )
    savepoint = await session.begin_nested()
    try:
        counts = await _sync(session, principal, records, mode, batch_size, on_progress, None)
    finally:
        await savepoint.rollback()
    return counts.model_copy(update={"dry_run": True})


async def _sync(
    session: AsyncSession,
    principal: Principal,
    records: Sequence[EmployeeRecord],
    mode: SyncMode,
    batch_size: int,
    on_progress: Callable[[int], None] | None,
    max_deactivation_share: float | None,
) -> BulkSyncOut:
    in_batch = {rec.external_id for rec in records}
    problems = find_duplicates(records)
    conflicts, release = await _conflicts(
        session, records, in_batch=in_batch, full_sync=mode == SyncMode.FULL_SYNC
    )
    problems += conflicts
    if problems:
        raise InvalidRecords(sorted(problems, key=lambda p: (p.index, p.field)))
    active_before = await _count_active(session) if mode == SyncMode.FULL_SYNC else 0
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

    deactivated: list[str] = []
    if mode == SyncMode.FULL_SYNC:
        deactivated = await _deactivate_absent(session, list(in_batch), now)
        if max_deactivation_share is not None and (
            len(deactivated) > max_deactivation_share * active_before
        ):
            raise MassDeactivation(
                deactivated=deactivated, active=active_before, max_share=max_deactivation_share
            )
    counts = BulkSyncOut(
        created=len(created),
        updated=len(updated),
        unchanged=len(records) - len(created) - len(updated),
        deactivated=len(deactivated),
        deactivated_external_ids=sorted(deactivated)[:MAX_LISTED_DEACTIVATIONS],
    )
    await record(
        session,
        principal,
        action="employees.synced",
        entity_type="employee_sync",
        entity_id=uuid.uuid4(),
        details={
            "mode": mode.value,
            "records": len(records),
            **counts.model_dump(include={"created", "updated", "unchanged", "deactivated"}),
        },
    )
    await enroll(session, created + updated)
    return counts
