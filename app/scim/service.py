"""SCIM 2.0 Users over the employee directory, and the discovery documents.

Every write goes through `app.employees.service` (uniqueness, audit rows, late joiners);
this module parses SCIM payloads with scim2-models, maps them (see `mapping`) and renders
the results. A SCIM write is read-modify-write: the stored employee is the base, so what
SCIM does not carry is kept; the employee's ETag guards the write against a concurrent
change, which is retried unless the client sent its own `If-Match`.

DELETE deactivates the employee, who stays in the directory and the reports, and deletes
the SCIM resource: from then on it answers 404 and is in no list (RFC 7644 §3.6). A later
POST with the same externalId or userName provisions that employee again (same id,
reactivated unless the POST says `active: false`).
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    Context,
    ListResponse,
    Meta,
    PatchOp,
    ResponseParameters,
    SearchRequest,
    UniquenessException,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.database import utcnow
from app.core.errors import NotFound, PreconditionFailed
from app.core.http import check_if_match
from app.core.principal import Principal
from app.employees.models import Employee
from app.employees.schemas import EmployeeFilters, EmployeeIn
from app.employees.service import (
    create_employee,
    deactivate_employee,
    employee_etag,
    employee_input,
    filtered,
    get_employee,
    replace_employee,
)
from app.scim.filters import parse_filter, user_name_is
from app.scim.http import from_validation_error
from app.scim.mapping import (
    ManagerRef,
    kept_attributes,
    manager_value,
    to_employee,
    to_scim,
    user_location,
)
from app.scim.schemas import (
    DEFAULT_COUNT,
    ENTERPRISE_SCHEMA,
    LIST_SCHEMA,
    MAX_COUNT,
    PROVIDER,
    SERVICE_PROVIDER_CONFIG,
    ScimUser,
)

# A write that loses a race with another change of the same employee starts over this often.
WRITE_ATTEMPTS = 3
_RESPONSE = Context.RESOURCE_QUERY_RESPONSE
_MANAGER_KEYS = {f"{ENTERPRISE_SCHEMA}:manager".lower(), "manager"}


@dataclass(frozen=True)
class ScimUserResult:
    """A rendered User and the headers that go with it."""

    body: dict[str, Any]
    etag: str
    location: str


# --- parsing ----------------------------------------------------------------------------------


def _validate(model: Any, payload: Any, context: Context) -> Any:
    try:
        return model.model_validate(payload, scim_ctx=context, scim_provider=PROVIDER)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def _manager_object(key: str, value: Any) -> Any:
    # Entra ID sends the manager as a bare id; the schema wants {"value": id}.
    if key.lower() in _MANAGER_KEYS and isinstance(value, str):
        return {"value": value}
    return value


def _with_manager_objects(attributes: Any) -> Any:
    """The same attributes, with every bare-string manager turned into {"value": ...}."""
    if not isinstance(attributes, dict):
        return attributes
    out = {}
    for key, value in attributes.items():
        if key.lower() == ENTERPRISE_SCHEMA.lower() and isinstance(value, dict):
            value = {k: _manager_object(k, v) for k, v in value.items()}
        out[key] = _manager_object(key, value)
    return out


def _with_manager_operation(operation: Any) -> Any:
    if not isinstance(operation, dict):
        return operation
    path = next((v for k, v in operation.items() if k.lower() == "path"), None)

    def fixed(value: Any) -> Any:
        if isinstance(path, str):
            return _manager_object(path, value)
        return _with_manager_objects(value) if path is None else value

    return {k: fixed(v) if k.lower() == "value" else v for k, v in operation.items()}


def _with_manager_operations(payload: Any) -> Any:
    if not isinstance(payload, dict):
        return payload
    return {
        k: [_with_manager_operation(op) for op in v]
        if k.lower() == "operations" and isinstance(v, list)
        else v
        for k, v in payload.items()
    }


def parse_user(payload: Any, *, replacing: bool) -> ScimUser:
    """A POST or PUT body as a User; `SCIMException` (400) when it is not one."""
    context = (
        Context.RESOURCE_REPLACEMENT_REQUEST if replacing else Context.RESOURCE_CREATION_REQUEST
    )
    return _validate(ScimUser, _with_manager_objects(payload), context)


def parse_patch(payload: Any) -> PatchOp[ScimUser]:
    """A PATCH body; `SCIMException` (400) for an unknown op, a bad path or value."""
    return _validate(
        PatchOp[ScimUser], _with_manager_operations(payload), Context.RESOURCE_PATCH_REQUEST
    )


def response_parameters(
    attributes: str | None, excluded_attributes: str | None
) -> ResponseParameters[ScimUser] | None:
    """The `attributes` / `excludedAttributes` query parameters (RFC 7644 §3.9)."""
    if not attributes and not excluded_attributes:
        return None
    return _validate(
        ResponseParameters[ScimUser],
        {"attributes": attributes, "excludedAttributes": excluded_attributes},
        Context.RESOURCE_QUERY_REQUEST,
    )


# --- reading ----------------------------------------------------------------------------------


def _employee_id(user_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(user_id)
    except ValueError:
        raise NotFound("No user with this id.") from None


def _provisioned(stmt: Any) -> Any:
    """`stmt` narrowed to employees with a SCIM resource: not erased, not deleted by SCIM."""
    return stmt.where(Employee.erased_at.is_(None), Employee.scim_deleted_at.is_(None))


async def _load(session: AsyncSession, user_id: str) -> Employee:
    """The employee behind a SCIM id; erased employees and deleted Users no longer exist."""
    try:
        employee = await get_employee(session, employee_id=_employee_id(user_id))
    except NotFound:
        raise NotFound("No user with this id.") from None
    if employee.erased_at is not None or employee.scim_deleted_at is not None:
        raise NotFound("No user with this id.")
    return employee


async def _managers(session: AsyncSession, employees: list[Employee]) -> dict[str, ManagerRef]:
    """The managers of these employees that are employees here, by external_id (one query)."""
    wanted = {e.manager_external_id for e in employees if e.manager_external_id}
    if not wanted:
        return {}
    stmt = _provisioned(
        filtered(EmployeeFilters())
        .with_only_columns(Employee.id, Employee.external_id, Employee.display_name)
        .where(Employee.external_id.in_(wanted))
    )
    rows = (await session.execute(stmt)).all()
    return {row.external_id: ManagerRef(row.id, row.external_id, row.display_name) for row in rows}


async def _render(
    session: AsyncSession,
    employee: Employee,
    base_url: str,
    params: ResponseParameters[ScimUser] | None = None,
) -> ScimUserResult:
    managers = await _managers(session, [employee])
    user = to_scim(
        employee, base_url=base_url, manager=managers.get(employee.manager_external_id or "")
    )
    return ScimUserResult(
        body=user.model_dump(scim_ctx=_RESPONSE, response_parameters=params),
        etag=employee_etag(employee),
        location=user_location(base_url, employee.id),
    )


async def get_user(
    session: AsyncSession,
    _principal: Principal,
    *,
    user_id: str,
    base_url: str,
    params: ResponseParameters[ScimUser] | None = None,
) -> ScimUserResult:
    """One User by its SCIM id (the employee's UUID); inactive employees are returned too."""
    employee = await _load(session, user_id)
    return await _render(session, employee, base_url, params)


async def list_users(
    session: AsyncSession,
    _principal: Principal,
    *,
    base_url: str,
    scim_filter: str | None = None,
    start_index: int = 1,
    count: int = DEFAULT_COUNT,
    params: ResponseParameters[ScimUser] | None = None,
) -> dict[str, Any]:
    """A ListResponse page: index pagination (1-based), at most `MAX_COUNT` per page.

    Per RFC 7644 §3.4.2.4 a `startIndex` below 1 reads as 1 and a negative `count` as 0.
    """
    stmt = _provisioned(filtered(EmployeeFilters()))
    if scim_filter:
        stmt = stmt.where(parse_filter(scim_filter))
    start_index = max(start_index, 1)
    count = min(max(count, 0), MAX_COUNT)
    total = (
        await session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ).scalar_one()
    rows: list[Employee] = []
    if count and total >= start_index:
        page = stmt.order_by(Employee.external_id).offset(start_index - 1).limit(count)
        rows = list((await session.execute(page)).scalars().all())
    managers = await _managers(session, rows)
    users = [
        to_scim(e, base_url=base_url, manager=managers.get(e.manager_external_id or ""))
        for e in rows
    ]
    body = ListResponse[ScimUser](
        total_results=total, start_index=start_index, items_per_page=len(users), resources=users
    ).model_dump(scim_ctx=_RESPONSE, response_parameters=params)
    body.setdefault("Resources", [])
    return body


def parse_search(payload: Any) -> SearchRequest[ScimUser]:
    """A POST /.search body (RFC 7644 §3.4.3); `SCIMException` (400) when it is not one."""
    return _validate(SearchRequest[ScimUser], payload, Context.SEARCH_REQUEST)


async def search_users(
    session: AsyncSession, principal: Principal, *, payload: Any, base_url: str
) -> dict[str, Any]:
    """POST /.search: the listing of `list_users`, its parameters in the body. Users are the
    only resource type, so a search at the root is a search of the Users. Sorting is not
    supported (the configuration says so): `sortBy` is ignored, as for a GET."""
    request = parse_search(payload)
    params = None
    if request.attributes or request.excluded_attributes:
        params = ResponseParameters[ScimUser](
            attributes=request.attributes, excluded_attributes=request.excluded_attributes
        )
    return await list_users(
        session,
        principal,
        base_url=base_url,
        scim_filter=str(request.filter) if request.filter is not None else None,
        start_index=request.start_index if request.start_index is not None else 1,
        count=request.count if request.count is not None else DEFAULT_COUNT,
        params=params,
    )


# --- writing ----------------------------------------------------------------------------------


async def _ensure_user_name_free(
    session: AsyncSession, user_name: str | None, *, except_id: uuid.UUID | None
) -> None:
    """409 uniqueness when another employee answers to this userName (stored or derived)."""
    if not user_name:
        return
    stmt = (
        filtered(EmployeeFilters())
        .with_only_columns(Employee.id)
        .where(user_name_is(user_name), Employee.erased_at.is_(None))
    )
    if except_id is not None:
        stmt = stmt.where(Employee.id != except_id)
    if (await session.execute(stmt.limit(1))).first() is not None:
        raise UniquenessException(detail="Another user already has this userName.")


async def _manager_external_id(session: AsyncSession, value: str | None) -> str | None:
    """A manager reference as the manager's external_id: a SCIM id of ours is resolved."""
    if value is None:
        return None
    try:
        manager_id = uuid.UUID(value)
    except ValueError:
        return value
    try:
        manager = await get_employee(session, employee_id=manager_id)
    except NotFound:
        return value  # an external_id that happens to look like a UUID
    return manager.external_id


async def _deleted_match(session: AsyncSession, user: ScimUser) -> Employee | None:
    """The employee whose SCIM resource was deleted and whom this POST provisions again: the
    one with its externalId, else the one answering to its userName."""
    keys = []
    if user.external_id:
        keys.append(Employee.external_id == user.external_id)
    if user.user_name:
        keys.append(user_name_is(user.user_name))
    for key in keys:
        stmt = select(Employee).where(
            key, Employee.scim_deleted_at.is_not(None), Employee.erased_at.is_(None)
        )
        employee = (await session.execute(stmt.limit(1))).scalar_one_or_none()
        if employee is not None:
            return employee
    return None


def _scim_columns(user: ScimUser, data: EmployeeIn, *, external_id: str) -> dict[str, Any]:
    return {"scim_attributes": kept_attributes(user, data, external_id=external_id)}


async def create_user(
    session: AsyncSession, principal: Principal, *, payload: Any, base_url: str
) -> ScimUserResult:
    """Create the employee a User describes; 409 uniqueness when userName, externalId or
    e-mail belong to another employee. Without `externalId`, the userName is the HRIS key;
    without `active`, the user is active. The User of a deleted resource with this
    externalId or userName is provisioned again (the same employee and id)."""
    user = parse_user(payload, replacing=False)
    if user.active is None:
        user.active = True
    deleted = await _deleted_match(session, user)
    if user.external_id is None:
        if deleted is not None:
            user.external_id = deleted.external_id
        elif user.user_name:
            user.external_id = user.user_name.strip().lower()
    await _ensure_user_name_free(
        session, user.user_name, except_id=deleted.id if deleted is not None else None
    )
    manager = await _manager_external_id(session, manager_value(user))
    if deleted is not None:
        data = to_employee(user, current=employee_input(deleted), manager_external_id=manager)
        columns = _scim_columns(user, data, external_id=data.external_id or deleted.external_id)
        employee, _changed = await replace_employee(
            session,
            principal,
            employee_id=deleted.id,
            data=data,
            scim={**columns, "scim_deleted_at": None},
        )
    else:
        data = to_employee(user, current=None, manager_external_id=manager)
        columns = _scim_columns(user, data, external_id=data.external_id or "")
        employee = await create_employee(session, principal, data=data, scim=columns)
    return await _render(session, employee, base_url)


Build = Callable[[Employee], Awaitable[tuple[EmployeeIn, ScimUser] | None]]


async def _rewrite(
    session: AsyncSession,
    principal: Principal,
    *,
    user_id: str,
    if_match: str | None,
    base_url: str,
    build: Build,
) -> ScimUserResult:
    """Read the employee, `build` its new state and the User it stores (None: unchanged)
    and replace it."""
    for attempt in range(WRITE_ATTEMPTS):
        employee = await _load(session, user_id)
        check_if_match(if_match, employee_etag(employee))
        built = await build(employee)
        if built is None:
            return await _render(session, employee, base_url)
        data, user = built
        columns = _scim_columns(user, data, external_id=data.external_id or employee.external_id)
        try:
            employee, _changed = await replace_employee(
                session,
                principal,
                employee_id=employee.id,
                data=data,
                if_match=employee_etag(employee),
                scim=columns,
            )
        except PreconditionFailed:
            # changed since we read it: the client's If-Match answers for itself
            if if_match is not None or attempt == WRITE_ATTEMPTS - 1:
                raise
            continue
        return await _render(session, employee, base_url)
    raise AssertionError("unreachable")  # pragma: no cover


async def replace_user(
    session: AsyncSession,
    principal: Principal,
    *,
    user_id: str,
    payload: Any,
    if_match: str | None = None,
    base_url: str,
) -> ScimUserResult:
    """PUT: the User's attributes replace the employee's (omitted `active` and
    `externalId` are kept, as is everything SCIM does not carry)."""
    sent = parse_user(payload, replacing=True)
    manager = await _manager_external_id(session, manager_value(sent))

    async def build(employee: Employee) -> tuple[EmployeeIn, ScimUser]:
        await _ensure_user_name_free(session, sent.user_name, except_id=employee.id)
        user = sent.model_copy(deep=True)
        current = to_scim(employee, base_url=base_url, manager=None)
        if user.external_id is None:
            user.external_id = current.external_id
        if user.active is None:
            user.active = current.active
        data = to_employee(user, current=employee_input(employee), manager_external_id=manager)
        return data, user

    return await _rewrite(
        session, principal, user_id=user_id, if_match=if_match, base_url=base_url, build=build
    )


async def patch_user(
    session: AsyncSession,
    principal: Principal,
    *,
    user_id: str,
    payload: Any,
    if_match: str | None = None,
    base_url: str,
) -> ScimUserResult:
    """PATCH: apply the operations to the User the employee reads as, then store the result.

    scim2-models applies them (paths with filters, no-path values keyed by attribute paths
    or URNs, case-insensitive ops, "True"/"False" strings for booleans).
    """
    patch = parse_patch(payload)

    async def build(employee: Employee) -> tuple[EmployeeIn, ScimUser] | None:
        # the manager as stored, so that an untouched manager round-trips as is
        user = to_scim(employee, base_url=base_url, manager=None)
        derived_user_name = user.user_name
        if not patch.patch(user, scim_policy=PROVIDER.policy):
            return None
        if user.user_name != derived_user_name:
            await _ensure_user_name_free(session, user.user_name, except_id=employee.id)
        data = to_employee(
            user,
            current=employee_input(employee),
            manager_external_id=await _manager_external_id(session, manager_value(user)),
        )
        if employee.user_name is None and user.user_name == derived_user_name:
            # the userName was derived from the e-mail or key, not given: keep none stored
            data = data.model_copy(update={"user_name": None})
        return data, user

    return await _rewrite(
        session, principal, user_id=user_id, if_match=if_match, base_url=base_url, build=build
    )


async def delete_user(
    session: AsyncSession, principal: Principal, *, user_id: str, if_match: str | None = None
) -> None:
    """DELETE: the employee becomes inactive (never deleted) and the User is gone: 404 from
    then on, until a POST provisions it again."""
    employee = await _load(session, user_id)
    employee = await deactivate_employee(
        session, principal, employee_id=employee.id, if_match=if_match
    )
    employee.scim_deleted_at = utcnow()
    await session.flush()
    await record(
        session,
        principal,
        action="employee.scim_deleted",
        entity_type="employee",
        entity_id=employee.id,
    )


# --- discovery --------------------------------------------------------------------------------


def list_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Discovery resources as a ListResponse (all of them: there are few)."""
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def service_provider_config(*, base_url: str) -> dict[str, Any]:
    """What this service supports (RFC 7643 §5)."""
    config = SERVICE_PROVIDER_CONFIG.model_copy(
        update={
            "meta": Meta(
                resource_type="ServiceProviderConfig",
                location=f"{base_url}/ServiceProviderConfig",
            )
        }
    )
    return config.model_dump(scim_ctx=_RESPONSE)


def resource_types(*, base_url: str) -> list[dict[str, Any]]:
    """The resource types served (RFC 7643 §6): User, with the enterprise extension."""
    return [
        resource_type.model_copy(
            update={
                "meta": Meta(
                    resource_type="ResourceType",
                    location=f"{base_url}/ResourceTypes/{resource_type.id}",
                )
            }
        ).model_dump(scim_ctx=_RESPONSE)
        for resource_type in PROVIDER.resource_types
    ]


def schemas(*, base_url: str) -> list[dict[str, Any]]:
    """The schemas (RFC 7643 §7): only the attributes an employee stores."""
    return [
        schema.model_copy(
            update={
                "meta": Meta(resource_type="Schema", location=f"{base_url}/Schemas/{schema.id}")
            }
        ).model_dump(scim_ctx=_RESPONSE)
        for schema in PROVIDER.schemas
    ]


def one_of(resources: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The discovery resource with this id (case-insensitive); 404 when there is none."""
    for resource in resources:
        if str(resource.get("id", "")).lower() == key.lower():
            return resource
    raise NotFound(f"No such resource: '{key}'.")
