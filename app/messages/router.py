import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.auth.dependencies import MessagesRead, MessagesWrite
from app.core.config import AppSettings, review_categories
from app.core.http import PRECONDITION_FAILED, IfMatch, created, with_etag
from app.core.idempotency import IdempotencyDep
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.core.validators import LocaleTag
from app.editors.guards import OwnMessage, ReadableMessage
from app.messages import service
from app.messages.models import Category, Status
from app.messages.schemas import (
    MAX_TAG,
    MessageCreate,
    MessageOut,
    MessageUpdate,
    MessageVersionOut,
    PublishRequest,
    Translation,
)

router = APIRouter(prefix="/v1/messages", tags=["messages"])

TranslationLocale = Annotated[LocaleTag, Path(description="BCP 47 locale, e.g. `es-MX`.")]
Reacknowledge = Annotated[
    bool,
    Query(
        description=(
            "On a published message: earlier acknowledgements stop counting as current "
            "(the message must ask for acknowledgement)."
        )
    ),
]

NOT_FOUND = {404: {"description": "No message with this id."}}
CONFLICT = {409: {"description": "The message's status does not allow this."}}


@router.post("", status_code=201, operation_id="createMessage", summary="Create a draft message")
async def create_message(
    data: MessageCreate,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    idempotency: IdempotencyDep,
) -> MessageOut:
    if (first := await idempotency.replay_or_claim(principal, data)) is not None:
        return first
    message = await service.create_message(session, principal, data=data)
    created(response, f"/v1/messages/{message.id}")
    await idempotency.remember(response, with_etag(response, message))
    return message


@router.get("", operation_id="listMessages", summary="List messages, newest first")
async def list_messages(
    session: SessionDep,
    principal: MessagesRead,
    page: Pagination,
    status: Status | None = None,
    category: Category | None = None,
    tag: Annotated[
        str | None, Query(min_length=1, max_length=MAX_TAG, description="Messages with this tag.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Case-insensitive text searched in title and summary.",
        ),
    ] = None,
) -> Page[MessageOut]:
    return await service.list_messages(
        session,
        principal,
        page=page,
        status=status,
        category=category,
        tag=tag.strip() if tag else None,
        q=q,
    )


@router.get(
    "/{message_id}",
    operation_id="getMessage",
    summary="Read a message",
    responses=NOT_FOUND,
    dependencies=[ReadableMessage],
)
async def get_message(
    message_id: uuid.UUID, session: SessionDep, principal: MessagesRead, response: Response
) -> MessageOut:
    message = await service.get_message(session, principal, message_id=message_id)
    return with_etag(response, message)


@router.patch(
    "/{message_id}",
    operation_id="updateMessage",
    dependencies=[OwnMessage],
    summary="Edit a message (a content change to a published one makes a new version)",
    responses={**NOT_FOUND, **CONFLICT, **PRECONDITION_FAILED},
)
async def update_message(
    message_id: uuid.UUID,
    data: MessageUpdate,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> MessageOut:
    message = await service.update_message(
        session, principal, message_id=message_id, data=data, if_match=if_match
    )
    return with_etag(response, message)


@router.delete(
    "/{message_id}",
    status_code=204,
    operation_id="deleteMessage",
    dependencies=[OwnMessage],
    summary="Delete a draft (anything else: 409, archive it instead)",
    responses={**NOT_FOUND, **CONFLICT, **PRECONDITION_FAILED},
)
async def delete_message(
    message_id: uuid.UUID, session: SessionDep, principal: MessagesWrite, if_match: IfMatch = None
) -> None:
    await service.delete_message(session, principal, message_id=message_id, if_match=if_match)


@router.put(
    "/{message_id}/translations/{locale}",
    operation_id="putMessageTranslation",
    dependencies=[OwnMessage],
    summary="Add or replace a translation",
    responses={**NOT_FOUND, **CONFLICT, **PRECONDITION_FAILED},
)
async def put_translation(
    message_id: uuid.UUID,
    locale: TranslationLocale,
    data: Translation,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    if_match: IfMatch = None,
    require_reacknowledgement: Reacknowledge = False,
) -> MessageOut:
    message = await service.save_translation(
        session,
        principal,
        message_id=message_id,
        locale=locale,
        content=data.model_dump(),
        if_match=if_match,
        require_reacknowledgement=require_reacknowledgement,
    )
    return with_etag(response, message)


@router.delete(
    "/{message_id}/translations/{locale}",
    operation_id="deleteMessageTranslation",
    dependencies=[OwnMessage],
    summary="Remove a translation",
    responses={
        404: {"description": "No such message, or no translation into this locale."},
        **CONFLICT,
        **PRECONDITION_FAILED,
    },
)
async def delete_translation(
    message_id: uuid.UUID,
    locale: TranslationLocale,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    if_match: IfMatch = None,
    require_reacknowledgement: Reacknowledge = False,
) -> MessageOut:
    message = await service.save_translation(
        session,
        principal,
        message_id=message_id,
        locale=locale,
        content=None,
        if_match=if_match,
        require_reacknowledgement=require_reacknowledgement,
    )
    return with_etag(response, message)


@router.post(
    "/{message_id}/publish",
    operation_id="publishMessage",
    dependencies=[OwnMessage],
    summary="Publish now, or schedule for a future `publish_at`",
    responses={**NOT_FOUND, **CONFLICT, **PRECONDITION_FAILED},
)
async def publish_message(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    settings: AppSettings,
    data: PublishRequest | None = None,
    if_match: IfMatch = None,
) -> MessageOut:
    message = await service.publish_message(
        session,
        principal,
        message_id=message_id,
        publish_at=data.publish_at if data else None,
        if_match=if_match,
        review_required=review_categories(settings),
    )
    return with_etag(response, message)


@router.post(
    "/{message_id}/archive",
    operation_id="archiveMessage",
    dependencies=[OwnMessage],
    summary="Archive: stop delivering a published message (reports stay)",
    responses={**NOT_FOUND, **CONFLICT, **PRECONDITION_FAILED},
)
async def archive_message(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> MessageOut:
    message = await service.archive_message(
        session, principal, message_id=message_id, if_match=if_match
    )
    return with_etag(response, message)


@router.get(
    "/{message_id}/versions",
    operation_id="listMessageVersions",
    dependencies=[ReadableMessage],
    summary="The published versions of a message, newest first",
    responses=NOT_FOUND,
)
async def list_versions(
    message_id: uuid.UUID, session: SessionDep, principal: MessagesRead, page: Pagination
) -> Page[MessageVersionOut]:
    return await service.list_versions(session, principal, message_id=message_id, page=page)
