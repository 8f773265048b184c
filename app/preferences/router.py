from fastapi import APIRouter

from app.auth.dependencies import EMPLOYEE_SECURITY, EmployeeCaller, EmployeesWrite
from app.core.config import AppSettings
from app.core.session import SessionDep
from app.preferences import service
from app.preferences.schemas import PreferencesIn, PreferencesOut

router = APIRouter(tags=["preferences"])
NOT_FOUND = {404: {"description": "No employee with this external_id."}}


@router.get(
    "/v1/me/preferences",
    operation_id="getMyPreferences",
    summary="The caller's e-mail preferences: categories, digest, quiet hours, time zone",
    openapi_extra=EMPLOYEE_SECURITY,
)
async def get_my_preferences(
    session: SessionDep, principal: EmployeeCaller, settings: AppSettings
) -> PreferencesOut:
    return await service.get_preferences(
        session, principal, settings=settings, employee_id=principal.employee_id
    )


@router.put(
    "/v1/me/preferences",
    operation_id="putMyPreferences",
    summary="Replace the caller's e-mail preferences (fields left out take the defaults)",
    openapi_extra=EMPLOYEE_SECURITY,
)
async def put_my_preferences(
    data: PreferencesIn, session: SessionDep, principal: EmployeeCaller, settings: AppSettings
) -> PreferencesOut:
    return await service.put_preferences(
        session, principal, settings=settings, data=data, employee_id=principal.employee_id
    )


@router.get(
    "/v1/employees/{external_id}/preferences",
    operation_id="getEmployeePreferences",
    summary="An employee's e-mail preferences, as they apply now",
    responses=NOT_FOUND,
)
async def get_employee_preferences(
    external_id: str, session: SessionDep, principal: EmployeesWrite, settings: AppSettings
) -> PreferencesOut:
    return await service.get_preferences(
        session, principal, settings=settings, external_id=external_id
    )


@router.put(
    "/v1/employees/{external_id}/preferences",
    operation_id="putEmployeePreferences",
    summary="Replace an employee's e-mail preferences",
    responses=NOT_FOUND,
)
async def put_employee_preferences(
    external_id: str,
    data: PreferencesIn,
    session: SessionDep,
    principal: EmployeesWrite,
    settings: AppSettings,
) -> PreferencesOut:
    return await service.put_preferences(
        session, principal, settings=settings, data=data, external_id=external_id
    )
