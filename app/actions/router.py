import uuid

from fastapi import APIRouter, Response

from app.actions import service
from app.actions.models import ActionStatus
from app.actions.schemas import (
    ActionCreate,
    ActionOut,
    ActionPatch,
    ActionSummary,
    ActionUpdateIn,
    LinksIn,
    MyActionOut,
    MyActionsLookup,
)
from app.auth.dependencies import EmployeeCaller, MessagesWrite, ReceiptsRead
from app.core.http import PRECONDITION_FAILED, IfMatch, created, with_etag
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.editors.guards import CompanyWide

# HQ acts on what the company heard: a credential scoped to one unit gets 403 here
router = APIRouter(prefix="/v1/actions", tags=["actions"], dependencies=[CompanyWide])
me_router = APIRouter(prefix="/v1/me", tags=["me"])

NOT_FOUND = {404: {"description": "No action (or link) with this id."}}


@router.post(
    "",
    status_code=201,
    operation_id="createAction",
    summary='Commit to an action about feedback ("you said, we did"), linked to what prompted it',
    description="Starts `planned`. Links: comments or questions (`comment_id`), a message's "
    "pulse result (`message_id`), a unit of the brand-alignment report (`unit`). The "
    "employees concerned see it in `GET /v1/me/actions`.",
)
async def create_action(
    data: ActionCreate, session: SessionDep, principal: MessagesWrite, response: Response
) -> ActionOut:
    action = await service.create_action(session, principal, data=data)
    created(response, f"/v1/actions/{action.id}")
    return with_etag(response, action)


@router.get("", operation_id="listActions", summary="List actions, newest first")
async def list_actions(
    session: SessionDep,
    principal: ReceiptsRead,
    page: Pagination,
    status: ActionStatus | None = None,
    message_id: uuid.UUID | None = None,
) -> Page[ActionOut]:
    return await service.list_actions(
        session, principal, page=page, status=status, message_id=message_id
    )


@router.get("/{action_id}", operation_id="getAction", summary="One action", responses=NOT_FOUND)
async def get_action(
    action_id: uuid.UUID, session: SessionDep, principal: ReceiptsRead, response: Response
) -> ActionOut:
    return with_etag(response, await service.get_action(session, principal, action_id=action_id))


@router.patch(
    "/{action_id}",
    operation_id="updateAction",
    summary="Edit an action's title, description or owner unit",
    responses={**NOT_FOUND, **PRECONDITION_FAILED},
)
async def update_action(
    action_id: uuid.UUID,
    data: ActionPatch,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> ActionOut:
    action = await service.update_action(
        session, principal, action_id=action_id, data=data, if_match=if_match
    )
    return with_etag(response, action)


@router.post(
    "/{action_id}/updates",
    operation_id="postActionUpdate",
    summary="A step of an action: a status change (planned → in_progress → done | declined), "
    "an update text, or both",
    responses={
        **NOT_FOUND,
        **PRECONDITION_FAILED,
        409: {"description": "The status cannot move that way."},
    },
)
async def post_update(
    action_id: uuid.UUID,
    data: ActionUpdateIn,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> ActionOut:
    action = await service.add_update(
        session, principal, action_id=action_id, data=data, if_match=if_match
    )
    return with_etag(response, action)


@router.post(
    "/{action_id}/links",
    operation_id="linkAction",
    summary="Link an action to more of what prompted it (links it has already are kept once)",
    responses=NOT_FOUND,
)
async def add_links(
    action_id: uuid.UUID,
    data: LinksIn,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
) -> ActionOut:
    action = await service.add_links(session, principal, action_id=action_id, links=data.links)
    return with_etag(response, action)


@router.delete(
    "/{action_id}/links/{link_id}",
    status_code=204,
    operation_id="unlinkAction",
    summary="Remove one link of an action",
    responses=NOT_FOUND,
)
async def remove_link(
    action_id: uuid.UUID, link_id: uuid.UUID, session: SessionDep, principal: MessagesWrite
) -> None:
    await service.remove_link(session, principal, action_id=action_id, link_id=link_id)


@me_router.get(
    "/actions",
    operation_id="listMyActions",
    summary="What was done about what the caller said: actions linked to their comments, "
    "pulse answers and unit",
    description="Anonymous comments are not linked to anyone: their author's client finds "
    "their actions with `POST /v1/me/actions/lookup` and the secret it kept.",
)
async def list_my_actions(
    session: SessionDep, principal: EmployeeCaller, page: Pagination
) -> Page[MyActionOut]:
    return await service.list_mine(session, principal, page=page)


@me_router.post(
    "/actions/lookup",
    operation_id="lookUpMyAnonymousActions",
    summary="The actions linked to the caller's anonymous comments, found by the secrets "
    "their client kept",
    description="Send the `author_secret`s the client chose when it posted anonymous "
    "comments. Only their SHA-256 is stored with the comments, and this request stores "
    "nothing: no row anywhere pairs the caller with a comment.",
)
async def look_up_my_actions(
    data: MyActionsLookup, session: SessionDep, principal: EmployeeCaller
) -> list[MyActionOut]:
    return await service.lookup_mine(session, principal, secrets=data.author_secrets)


@me_router.get(
    "/messages/{message_id}/actions",
    operation_id="listMyMessageActions",
    summary="The actions about a message that are linked to what the caller said on it",
    responses={404: {"description": "No message with this id was sent to you."}},
)
async def list_my_message_actions(
    message_id: uuid.UUID, session: SessionDep, principal: EmployeeCaller
) -> list[ActionSummary]:
    return await service.about_message(session, principal, message_id=message_id)
