import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.audiences import service
from app.audiences.schemas import (
    AudienceCreate,
    AudienceMember,
    AudienceOut,
    AudiencePreview,
    AudiencePreviewIn,
    AudienceUpdate,
)
from app.auth.dependencies import AudiencesRead, AudiencesWrite
from app.core.http import PRECONDITION_FAILED, IfMatch, created, with_etag
from app.core.idempotency import IdempotencyDep
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep

router = APIRouter(prefix="/v1/audiences", tags=["audiences"])


NOT_FOUND = {404: {"description": "No audience with this id."}}


@router.post(
    "",
    status_code=201,
    operation_id="createAudience",
    summary="Create an audience",
    responses={409: {"description": "Another audience has this `key`."}},
)
async def create_audience(
    data: AudienceCreate,
    session: SessionDep,
    principal: AudiencesWrite,
    response: Response,
    idempotency: IdempotencyDep,
) -> AudienceOut:
    if (first := await idempotency.replay_or_claim(principal, data)) is not None:
        return first
    audience = await service.create_audience(session, principal, data=data)
    created(response, f"/v1/audiences/{audience.id}")
    await idempotency.remember(response, with_etag(response, audience))
    return audience


@router.get("", operation_id="listAudiences", summary="List audiences, newest first")
async def list_audiences(
    session: SessionDep,
    principal: AudiencesRead,
    page: Pagination,
    key: Annotated[
        str | None, Query(max_length=100, description="Only the one with this key.")
    ] = None,
) -> Page[AudienceOut]:
    return await service.list_audiences(session, principal, page=page, key=key)


@router.post(
    "/preview",
    operation_id="previewAudience",
    summary="Count who a rule would reach now, with a sample",
)
async def preview_audience(
    data: AudiencePreviewIn, session: SessionDep, principal: AudiencesRead
) -> AudiencePreview:
    return await service.preview_audience(session, principal, data=data)


@router.get(
    "/{audience_id}", operation_id="getAudience", summary="Read an audience", responses=NOT_FOUND
)
async def get_audience(
    audience_id: uuid.UUID, session: SessionDep, principal: AudiencesRead, response: Response
) -> AudienceOut:
    audience = await service.get_audience(session, principal, audience_id=audience_id)
    return with_etag(response, audience)


@router.patch(
    "/{audience_id}",
    operation_id="updateAudience",
    summary="Edit an audience",
    responses={
        **NOT_FOUND,
        **PRECONDITION_FAILED,
        409: {"description": "Another audience has this `key`."},
    },
)
async def update_audience(
    audience_id: uuid.UUID,
    data: AudienceUpdate,
    session: SessionDep,
    principal: AudiencesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> AudienceOut:
    audience = await service.update_audience(
        session, principal, audience_id=audience_id, data=data, if_match=if_match
    )
    return with_etag(response, audience)


@router.delete(
    "/{audience_id}",
    status_code=204,
    operation_id="deleteAudience",
    summary="Delete an audience no scheduled or published message uses",
    responses={
        **NOT_FOUND,
        **PRECONDITION_FAILED,
        409: {"description": "A scheduled or published message goes to this audience."},
    },
)
async def delete_audience(
    audience_id: uuid.UUID,
    session: SessionDep,
    principal: AudiencesWrite,
    if_match: IfMatch = None,
) -> None:
    await service.delete_audience(session, principal, audience_id=audience_id, if_match=if_match)


@router.get(
    "/{audience_id}/members",
    operation_id="listAudienceMembers",
    summary="List the active employees in an audience, by external id",
    responses=NOT_FOUND,
)
async def list_audience_members(
    audience_id: uuid.UUID, session: SessionDep, principal: AudiencesRead, page: Pagination
) -> Page[AudienceMember]:
    return await service.list_members(session, principal, audience_id=audience_id, page=page)
