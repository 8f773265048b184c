from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response

from app.auth.dependencies import EmployeesRead, EmployeesWrite
from app.core.config import AppSettings
from app.core.http import IfMatch, created, set_etag
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.employees import service, sync
from app.employees.schemas import (
    BulkSyncIn,
    BulkSyncOut,
    EmployeeFilters,
    EmployeeIn,
    EmployeeOut,
)

router = APIRouter(prefix="/v1/employees", tags=["employees"])

ExternalIdPath = Annotated[
    str, Path(min_length=1, max_length=255, description="The employee's HRIS key.")
]


@router.get("", operation_id="listEmployees", summary="List employees, filtered by attribute")
async def list_employees(
    session: SessionDep,
    principal: EmployeesRead,
    page: Pagination,
    filters: Annotated[EmployeeFilters, Query()],
) -> Page[EmployeeOut]:
    return await service.list_employees(session, principal, page=page, filters=filters)


@router.post(
    "/bulk",
    operation_id="syncEmployees",
    summary="Create, update (and with full_sync deactivate) up to 10,000 employees at once",
    description=(
        "All or nothing: any invalid record, a duplicate inside the batch (same `external_id`, "
        "e-mail or user name) or an e-mail held by another employee gives 422 listing every "
        "bad record as `body.employees[i].field`, and nothing is applied. Identical records "
        "are not rewritten. `full_sync` deactivates active employees absent from the batch; "
        "if they are more than BRANDCAST_SYNC_MAX_DEACTIVATION_SHARE of the active employees "
        "(default 10%), the sync is refused with 409 `mass-deactivation` unless "
        '`"allow_mass_deactivation": true`. `"dry_run": true` answers the same counts and who '
        "would be deactivated, and changes nothing."
    ),
    responses={
        409: {"description": "A full sync would deactivate too many; nothing was applied."},
        413: {"description": "The body exceeds 10 MiB."},
    },
)
async def sync_employees(
    data: BulkSyncIn, session: SessionDep, principal: EmployeesWrite, settings: AppSettings
) -> BulkSyncOut:
    limit = None if data.allow_mass_deactivation else settings.sync_max_deactivation_share
    return await sync.sync_employees(
        session,
        principal,
        records=data.employees,
        mode=data.mode,
        dry_run=data.dry_run,
        max_deactivation_share=limit,
    )


@router.get(
    "/{external_id}",
    operation_id="getEmployee",
    summary="Read one employee by its HRIS key",
    responses={404: {"description": "No such employee."}},
)
async def get_employee(
    external_id: ExternalIdPath, session: SessionDep, _principal: EmployeesRead, response: Response
) -> EmployeeOut:
    employee = await service.get_employee(session, external_id=external_id)
    set_etag(response, service.employee_etag(employee))
    return service.to_out(employee)


@router.put(
    "/{external_id}",
    operation_id="upsertEmployee",
    summary="Create (201) or replace (200) one employee",
    responses={
        201: {"description": "Created."},
        409: {"description": "The e-mail or user name belongs to another employee."},
        412: {"description": "If-Match does not match the current ETag."},
    },
)
async def upsert_employee(
    external_id: ExternalIdPath,
    data: EmployeeIn,
    session: SessionDep,
    principal: EmployeesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> EmployeeOut:
    employee, was_created = await service.upsert_employee(
        session, principal, external_id=external_id, data=data, if_match=if_match
    )
    if was_created:
        created(response, f"/v1/employees/{quote(employee.external_id, safe='')}")
    set_etag(response, service.employee_etag(employee))
    return service.to_out(employee)


@router.delete(
    "/{external_id}",
    status_code=204,
    operation_id="deleteEmployee",
    summary="Deactivate an employee, or with erase=true erase their personal data",
    description=(
        "Without `erase`, the employee becomes inactive (never deleted). With `erase=true`, "
        "names, e-mail, user name, employee number, job title and level, manager, hire date, "
        "locale and custom attributes are removed for good and the `external_id` is replaced "
        "by `erased-<id>`; department, division, location and country stay, so the anonymous "
        "receipts still count in aggregate reports. Irreversible."
    ),
    responses={404: {"description": "No such employee."}},
)
async def delete_employee(
    external_id: ExternalIdPath,
    session: SessionDep,
    principal: EmployeesWrite,
    erase: Annotated[
        bool, Query(description="Erase personal data instead of only deactivating.")
    ] = False,
    if_match: IfMatch = None,
) -> None:
    if erase:
        await service.erase_employee(session, principal, external_id=external_id, if_match=if_match)
    else:
        await service.deactivate_employee(
            session, principal, external_id=external_id, if_match=if_match
        )
