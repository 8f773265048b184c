"""Local editions of a message, review before publishing, and the preview of what one
employee is served."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.auth.dependencies import MessagesRead, MessagesWrite
from app.core.http import PRECONDITION_FAILED, IfMatch, created, set_etag
from app.core.principal import Principal
from app.core.session import SessionDep
from app.editions import preview, service
from app.editions.schemas import ApproveIn, EditionIn, EditionOut, PreviewOut, ReviewComment
from app.messages import service as messages
from app.messages.schemas import MessageOut

router = APIRouter(prefix="/v1/messages", tags=["editions"])
# the review of a message itself is documented with the messages (one tag each: a second one
# would list the operation twice)
review_router = APIRouter(prefix="/v1/messages", tags=["messages"])

UnitPath = Annotated[
    str,
    Path(
        min_length=3,
        max_length=1000,
        description="The unit's key: `country=MX`, `country=AR,MX;division=Retail`.",
        examples=["country=MX"],
    ),
]
NOT_FOUND = {404: {"description": "No such message, or no edition for this unit."}}
FORBIDDEN = {403: {"description": "The credential lacks the scope, the unit or the role."}}
CONFLICT = {409: {"description": "The message's or edition's state does not allow this."}}


def _etag(response: Response, edition: EditionOut) -> EditionOut:
    set_etag(response, edition.etag)
    return edition


@router.get(
    "/{message_id}/editions",
    operation_id="listMessageEditions",
    summary="The local editions of a message (a scoped caller: its unit's)",
    responses=NOT_FOUND,
)
async def list_editions(
    message_id: uuid.UUID, session: SessionDep, principal: MessagesRead
) -> list[EditionOut]:
    return await service.list_editions(session, principal, message_id=message_id)


@router.get(
    "/{message_id}/editions/{unit}",
    operation_id="getMessageEdition",
    summary="A unit's edition of a message",
    responses=NOT_FOUND,
)
async def get_edition(
    message_id: uuid.UUID,
    unit: UnitPath,
    session: SessionDep,
    principal: MessagesRead,
    response: Response,
) -> EditionOut:
    edition = await service.get_edition(session, principal, message_id=message_id, path_unit=unit)
    return _etag(response, edition)


@router.put(
    "/{message_id}/editions/{unit}",
    operation_id="putMessageEdition",
    summary="Write a unit's edition: the unlocked fields in its own words (201 when new)",
    responses={
        201: {"description": "Created.", "model": EditionOut},
        **NOT_FOUND,
        **FORBIDDEN,
        **CONFLICT,
        **PRECONDITION_FAILED,
    },
)
async def put_edition(
    message_id: uuid.UUID,
    unit: UnitPath,
    data: EditionIn,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
    if_match: IfMatch = None,
) -> EditionOut:
    edition, is_new = await service.put_edition(
        session, principal, message_id=message_id, path_unit=unit, data=data, if_match=if_match
    )
    if is_new:
        created(response, f"/v1/messages/{message_id}/editions/{edition.unit}")
    return _etag(response, edition)


@router.delete(
    "/{message_id}/editions/{unit}",
    status_code=204,
    operation_id="deleteMessageEdition",
    summary="Remove an edition that was never published",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def delete_edition(
    message_id: uuid.UUID, unit: UnitPath, session: SessionDep, principal: MessagesWrite
) -> None:
    await service.delete_edition(session, principal, message_id=message_id, path_unit=unit)


@router.post(
    "/{message_id}/editions/{unit}/confirm",
    operation_id="confirmMessageEdition",
    summary="Confirm an outdated edition still fits HQ's new version",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def confirm_edition(
    message_id: uuid.UUID,
    unit: UnitPath,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
) -> EditionOut:
    edition = await service.confirm_edition(
        session, principal, message_id=message_id, path_unit=unit
    )
    return _etag(response, edition)


@router.post(
    "/{message_id}/editions/{unit}/submit",
    operation_id="submitMessageEdition",
    summary="Submit an edition for review",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def submit_edition(
    message_id: uuid.UUID,
    unit: UnitPath,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
) -> EditionOut:
    edition = await service.review_edition(
        session, principal, message_id=message_id, path_unit=unit, action="submit"
    )
    return _etag(response, edition)


@router.post(
    "/{message_id}/editions/{unit}/approve",
    operation_id="approveMessageEdition",
    summary="Approve an edition in review (an approver of the unit, never its author)",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def approve_edition(
    message_id: uuid.UUID,
    unit: UnitPath,
    session: SessionDep,
    principal: MessagesRead,
    response: Response,
    data: ApproveIn | None = None,
) -> EditionOut:
    edition = await service.review_edition(
        session,
        principal,
        message_id=message_id,
        path_unit=unit,
        action="approve",
        comment=data.comment if data else None,
    )
    return _etag(response, edition)


@router.post(
    "/{message_id}/editions/{unit}/request-changes",
    operation_id="requestMessageEditionChanges",
    summary="Send an edition in review back to its editor, with a comment",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def request_edition_changes(
    message_id: uuid.UUID,
    unit: UnitPath,
    data: ReviewComment,
    session: SessionDep,
    principal: MessagesRead,
    response: Response,
) -> EditionOut:
    edition = await service.review_edition(
        session,
        principal,
        message_id=message_id,
        path_unit=unit,
        action="request_changes",
        comment=data.comment,
    )
    return _etag(response, edition)


@router.post(
    "/{message_id}/editions/{unit}/publish",
    operation_id="publishMessageEdition",
    summary="Serve an approved edition to the unit's recipients",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def publish_edition(
    message_id: uuid.UUID,
    unit: UnitPath,
    session: SessionDep,
    principal: MessagesWrite,
    response: Response,
) -> EditionOut:
    edition = await service.publish_edition(
        session, principal, message_id=message_id, path_unit=unit
    )
    return _etag(response, edition)


# -- review of the message itself -----------------------------------------------------------


async def _reviewed(
    session: SessionDep, principal: Principal, message_id: uuid.UUID, response: Response
) -> MessageOut:
    out = await messages.get_message(session, principal, message_id=message_id)
    set_etag(response, out.etag)
    return out


@review_router.post(
    "/{message_id}/submit",
    operation_id="submitMessage",
    summary="Submit a draft for review (needed before publishing reviewed categories)",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def submit_message(
    message_id: uuid.UUID, session: SessionDep, principal: MessagesWrite, response: Response
) -> MessageOut:
    await service.review_message(session, principal, message_id=message_id, action="submit")
    return await _reviewed(session, principal, message_id, response)


@review_router.post(
    "/{message_id}/approve",
    operation_id="approveMessage",
    summary="Approve a message in review (an approver, never its author)",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def approve_message(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: MessagesRead,
    response: Response,
    data: ApproveIn | None = None,
) -> MessageOut:
    await service.review_message(
        session,
        principal,
        message_id=message_id,
        action="approve",
        comment=data.comment if data else None,
    )
    return await _reviewed(session, principal, message_id, response)


@review_router.post(
    "/{message_id}/request-changes",
    operation_id="requestMessageChanges",
    summary="Send a message in review back to its author, with a comment",
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT},
)
async def request_message_changes(
    message_id: uuid.UUID,
    data: ReviewComment,
    session: SessionDep,
    principal: MessagesRead,
    response: Response,
) -> MessageOut:
    await service.review_message(
        session, principal, message_id=message_id, action="request_changes", comment=data.comment
    )
    return await _reviewed(session, principal, message_id, response)


@router.get(
    "/{message_id}/preview",
    operation_id="previewMessageForEmployee",
    summary="Exactly what one employee would be served: edition, locale, channels (no read)",
    responses={404: {"description": "No such message, or no such employee in your unit."}},
)
async def preview_for_employee(
    message_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: MessagesRead,
    employee: Annotated[
        str, Query(min_length=1, max_length=255, description="The employee's HRIS key.")
    ],
) -> PreviewOut:
    return await preview.preview(
        session,
        principal,
        message_id=message_id,
        external_id=employee,
        contents=request.app.state.contents,
    )
