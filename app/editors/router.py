import uuid

from fastapi import APIRouter, Response

from app.auth.dependencies import TokensAdmin
from app.core.http import created
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.editors import service
from app.editors.schemas import EditorGrantCreate, EditorGrantOut

router = APIRouter(prefix="/v1/editor-grants", tags=["tokens"])


@router.post(
    "",
    status_code=201,
    operation_id="createEditorGrant",
    summary="Give an employee or an API token a role over one unit",
    responses={409: {"description": "The grantee holds a grant over another unit, or this one."}},
)
async def create_grant(
    data: EditorGrantCreate, session: SessionDep, principal: TokensAdmin, response: Response
) -> EditorGrantOut:
    grant = await service.create_grant(session, principal, data=data)
    created(response, f"/v1/editor-grants/{grant.id}")
    return grant


@router.get("", operation_id="listEditorGrants", summary="List editor grants, newest first")
async def list_grants(
    session: SessionDep, principal: TokensAdmin, page: Pagination
) -> Page[EditorGrantOut]:
    return await service.list_grants(session, principal, page=page)


@router.delete(
    "/{grant_id}",
    status_code=204,
    operation_id="deleteEditorGrant",
    summary="Withdraw an editor grant",
    responses={404: {"description": "No editor grant with this id."}},
)
async def delete_grant(grant_id: uuid.UUID, session: SessionDep, principal: TokensAdmin) -> None:
    await service.delete_grant(session, principal, grant_id=grant_id)
