from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response

from app.auth.dependencies import EmployeesWrite
from app.core.http import created, set_etag
from app.core.session import SessionDep
from app.scim import service
from app.scim.http import ScimJSONResponse
from app.scim.schemas import (
    DEFAULT_COUNT,
    MAX_COUNT,
    PATCH_EXAMPLES,
    SCIM_MEDIA_TYPE,
    SCIM_PREFIX,
    SEARCH_EXAMPLE,
    USER_EXAMPLE,
    ScimBody,
    ScimError,
)

# Every error is a SCIM error body; "4XX" also keeps FastAPI from announcing a 422 that
# SCIM routes never send (invalid requests are 400 with a `scimType`).
_COMMON: dict[int | str, str] = {
    400: "Invalid request (`scimType` says why).",
    401: "No or bad credential.",
    403: "The token lacks the `employees:write` scope.",
    "4XX": "Any other client error.",
}
_NOT_FOUND = {404: "No such user."}
_CONFLICT = {409: "`uniqueness`: the userName, e-mail or externalId belongs to another user."}
_PRECONDITION = {412: "If-Match does not match the current ETag (`meta.version`)."}


def _errors(*descriptions: dict[int | str, str]) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ScimError, "description": text}
        for group in descriptions
        for status, text in group.items()
    }


def _errors_without_body_route(*descriptions: dict[int | str, str]) -> dict[int | str, Any]:
    # `model` would be documented under the route's media type, which a 204 route lacks
    schema = {"$ref": "#/components/schemas/ScimError"}
    return {
        status: {"description": text, "content": {SCIM_MEDIA_TYPE: {"schema": schema}}}
        for group in (_COMMON, *descriptions)
        for status, text in group.items()
    }


def _ignored(name: str) -> Any:
    return Query(alias=name, include_in_schema=False)


async def _rfc7644_query_parameters(
    _filter: Annotated[str | None, _ignored("filter")] = None,
    _sort_by: Annotated[str | None, _ignored("sortBy")] = None,
    _sort_order: Annotated[str | None, _ignored("sortOrder")] = None,
    _start_index: Annotated[str | None, _ignored("startIndex")] = None,
    _count: Annotated[str | None, _ignored("count")] = None,
    _attributes: Annotated[str | None, _ignored("attributes")] = None,
    _excluded_attributes: Annotated[str | None, _ignored("excludedAttributes")] = None,
) -> None:
    """The query parameters of RFC 7644 §3.4.2, which SCIM clients may send to any endpoint:
    one that has no use for a parameter ignores it (§4 says the discovery endpoints SHALL),
    as `GET /Users` ignores `sortBy` (sorting is not supported). Declared here, undocumented,
    so that only other names are refused as unknown (400 `invalidValue`)."""


router = APIRouter(
    prefix=SCIM_PREFIX,
    tags=["scim"],
    default_response_class=ScimJSONResponse,
    responses=_errors(_COMMON),
    dependencies=[Depends(_rfc7644_query_parameters)],
)

UserId = Annotated[str, Path(description="The user's SCIM `id` (the employee's UUID).")]
UserBody = Annotated[
    ScimBody,
    Body(
        media_type=SCIM_MEDIA_TYPE,
        description="A SCIM User (`application/scim+json` or `application/json`).",
        openapi_examples={"user": {"summary": "A User", "value": USER_EXAMPLE}},
    ),
]
PatchBody = Annotated[
    ScimBody,
    Body(
        media_type=SCIM_MEDIA_TYPE,
        description="A SCIM PatchOp message.",
        openapi_examples=PATCH_EXAMPLES,
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag (`meta.version`) you last read; 412 when it changed since.",
    ),
]
Attributes = Annotated[
    str | None,
    Query(description="Comma-separated attributes to return (RFC 7644 §3.9)."),
]
ExcludedAttributes = Annotated[
    str | None,
    Query(alias="excludedAttributes", description="Comma-separated attributes to leave out."),
]


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + SCIM_PREFIX


@router.get(
    "/Users",
    operation_id="listScimUsers",
    summary="List or find SCIM users",
    description=(
        "`filter` supports `eq`, `ne`, `co`, `sw`, `ew`, `pr`, `and`, `or`, `not` and "
        '`emails[type eq "work" and value eq "…"]` over userName, externalId, id, emails, '
        "name, displayName, title, userType, locale, active and the enterprise "
        "employeeNumber, department and division; anything else is 400 `invalidFilter`. "
        f"Index pagination: `startIndex` (1-based), `count` (at most {MAX_COUNT})."
    ),
)
async def list_users(
    request: Request,
    session: SessionDep,
    principal: EmployeesWrite,
    scim_filter: Annotated[
        str | None, Query(alias="filter", description='e.g. `userName eq "ana@example.com"`')
    ] = None,
    start_index: Annotated[
        int, Query(alias="startIndex", description="1-based index of the first result.")
    ] = 1,
    count: Annotated[
        int, Query(description=f"Page size; more than {MAX_COUNT} gives {MAX_COUNT}.")
    ] = DEFAULT_COUNT,
    attributes: Attributes = None,
    excluded_attributes: ExcludedAttributes = None,
) -> ScimBody:
    return await service.list_users(
        session,
        principal,
        base_url=_base_url(request),
        scim_filter=scim_filter,
        start_index=start_index,
        count=count,
        params=service.response_parameters(attributes, excluded_attributes),
    )


SearchBody = Annotated[
    ScimBody,
    Body(
        media_type=SCIM_MEDIA_TYPE,
        description="A SCIM SearchRequest: `filter`, `startIndex`, `count`, `attributes`, "
        "`excludedAttributes` as for `GET /Users` (`sortBy` is ignored).",
        openapi_examples={"search": {"summary": "A search", "value": SEARCH_EXAMPLE}},
    ),
]


@router.post(
    "/Users/.search",
    operation_id="searchScimUsers",
    summary="Search SCIM users, the query in the body",
    description="The listing of `GET /Users` with its parameters in a SearchRequest body "
    "(RFC 7644 §3.4.3), so that filters stay out of URLs and logs.",
)
async def search_users(
    request: Request, body: SearchBody, session: SessionDep, principal: EmployeesWrite
) -> ScimBody:
    return await service.search_users(session, principal, payload=body, base_url=_base_url(request))


@router.post(
    "/.search",
    operation_id="searchScim",
    summary="Search every resource type (here: the users)",
    description="RFC 7644 §3.4.3 at the service root. Users are the only resource type, so "
    "this answers as `POST /Users/.search`.",
)
async def search_all(
    request: Request, body: SearchBody, session: SessionDep, principal: EmployeesWrite
) -> ScimBody:
    return await service.search_users(session, principal, payload=body, base_url=_base_url(request))


@router.post(
    "/Users",
    status_code=201,
    operation_id="createScimUser",
    summary="Provision a user (creates an employee)",
    responses=_errors(_CONFLICT),
)
async def create_user(
    request: Request,
    body: UserBody,
    session: SessionDep,
    principal: EmployeesWrite,
    response: Response,
) -> ScimBody:
    result = await service.create_user(
        session, principal, payload=body, base_url=_base_url(request)
    )
    created(response, result.location)
    set_etag(response, result.etag)
    return result.body


@router.get(
    "/Users/{user_id}",
    operation_id="getScimUser",
    summary="Read one user (inactive users too)",
    responses=_errors(_NOT_FOUND),
)
async def get_user(
    user_id: UserId,
    request: Request,
    session: SessionDep,
    principal: EmployeesWrite,
    response: Response,
    attributes: Attributes = None,
    excluded_attributes: ExcludedAttributes = None,
) -> ScimBody:
    result = await service.get_user(
        session,
        principal,
        user_id=user_id,
        base_url=_base_url(request),
        params=service.response_parameters(attributes, excluded_attributes),
    )
    set_etag(response, result.etag)
    return result.body


@router.put(
    "/Users/{user_id}",
    operation_id="replaceScimUser",
    summary="Replace a user's attributes",
    responses=_errors(_NOT_FOUND, _CONFLICT, _PRECONDITION),
)
async def replace_user(
    user_id: UserId,
    request: Request,
    body: UserBody,
    session: SessionDep,
    principal: EmployeesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> ScimBody:
    result = await service.replace_user(
        session,
        principal,
        user_id=user_id,
        payload=body,
        if_match=if_match,
        base_url=_base_url(request),
    )
    set_etag(response, result.etag)
    return result.body


@router.patch(
    "/Users/{user_id}",
    operation_id="patchScimUser",
    summary="Change some of a user's attributes (add / replace / remove)",
    responses=_errors(_NOT_FOUND, _CONFLICT, _PRECONDITION),
)
async def patch_user(
    user_id: UserId,
    request: Request,
    body: PatchBody,
    session: SessionDep,
    principal: EmployeesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> ScimBody:
    result = await service.patch_user(
        session,
        principal,
        user_id=user_id,
        payload=body,
        if_match=if_match,
        base_url=_base_url(request),
    )
    set_etag(response, result.etag)
    return result.body


@router.delete(
    "/Users/{user_id}",
    status_code=204,
    response_class=Response,
    operation_id="deleteScimUser",
    summary="Delete a user: 404 from then on; the employee is deactivated, never deleted",
    description=(
        "RFC 7644 §3.6: the User is gone (GET, PUT, PATCH and DELETE answer 404, lists leave "
        "it out). The employee stays in the directory and the reports, inactive. A later "
        "`POST /Users` with the same externalId or userName provisions it again."
    ),
    responses=_errors_without_body_route(_NOT_FOUND, _PRECONDITION),
)
async def delete_user(
    user_id: UserId, session: SessionDep, principal: EmployeesWrite, if_match: IfMatch = None
) -> None:
    await service.delete_user(session, principal, user_id=user_id, if_match=if_match)


@router.get(
    "/ServiceProviderConfig",
    operation_id="getScimServiceProviderConfig",
    summary="What this SCIM service supports",
)
async def service_provider_config(request: Request, _principal: EmployeesWrite) -> ScimBody:
    return service.service_provider_config(base_url=_base_url(request))


@router.get("/ResourceTypes", operation_id="listScimResourceTypes", summary="SCIM resource types")
async def list_resource_types(request: Request, _principal: EmployeesWrite) -> ScimBody:
    return service.list_of(service.resource_types(base_url=_base_url(request)))


@router.get(
    "/ResourceTypes/{name}",
    operation_id="getScimResourceType",
    summary="One SCIM resource type",
    responses=_errors(_NOT_FOUND),
)
async def get_resource_type(name: str, request: Request, _principal: EmployeesWrite) -> ScimBody:
    return service.one_of(service.resource_types(base_url=_base_url(request)), name)


@router.get("/Schemas", operation_id="listScimSchemas", summary="SCIM schemas served")
async def list_schemas(request: Request, _principal: EmployeesWrite) -> ScimBody:
    return service.list_of(service.schemas(base_url=_base_url(request)))


@router.get(
    "/Schemas/{schema_id}",
    operation_id="getScimSchema",
    summary="One SCIM schema, by its URN",
    responses=_errors(_NOT_FOUND),
)
async def get_schema(schema_id: str, request: Request, _principal: EmployeesWrite) -> ScimBody:
    return service.one_of(service.schemas(base_url=_base_url(request)), schema_id)
