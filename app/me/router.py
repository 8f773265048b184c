import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Response

from app.auth.dependencies import EmployeeCaller, SignedIn
from app.core.http import created
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.me import service
from app.me.schemas import FeedItem, FeedState, MeOut
from app.messages.locales import preferences
from app.messages.models import Category
from app.receipts import acknowledgements
from app.receipts.schemas import AcknowledgementCreate, AcknowledgementOut

router = APIRouter(prefix="/v1/me", tags=["me"])

AcceptLanguage = Annotated[
    str | None,
    Header(
        description="Preferred locales with q-values, e.g. `es-MX, es;q=0.9, en;q=0.5`; "
        "then the caller's own locale, then the message's, are used.",
    ),
]

NOT_YOURS = {404: {"description": "No message with this id was sent to you."}}
CLOSED = {409: {"description": "The message asks for no acknowledgement, or is closed."}}


def _prefs(caller: SignedIn, accept_language: str | None) -> tuple[str, ...]:
    # the employee's locale was loaded at sign-in: no query here
    return preferences(accept_language, caller.employee.record["locale"])


@router.get("", operation_id="getMe", summary="The calling employee's record")
async def get_me(session: SessionDep, caller: SignedIn) -> MeOut:
    return await service.get_me(session, caller.principal, signed_in=caller.employee)


@router.get(
    "/messages",
    operation_id="listMyMessages",
    summary="The caller's feed: live messages sent to them, newest first, localized",
)
async def list_my_messages(
    session: SessionDep,
    caller: SignedIn,
    page: Pagination,
    response: Response,
    state: FeedState | None = None,
    category: Category | None = None,
    accept_language: AcceptLanguage = None,
) -> Page[FeedItem]:
    response.headers["Vary"] = "Accept-Language"
    return await service.list_feed(
        session,
        caller.principal,
        page=page,
        prefs=_prefs(caller, accept_language),
        state=state,
        category=category,
    )


@router.get(
    "/messages/{message_id}",
    operation_id="getMyMessage",
    summary="One message of the caller's feed, localized",
    responses=NOT_YOURS,
)
async def get_my_message(
    message_id: uuid.UUID,
    session: SessionDep,
    caller: SignedIn,
    response: Response,
    accept_language: AcceptLanguage = None,
) -> FeedItem:
    response.headers["Vary"] = "Accept-Language"
    item = await service.get_feed_item(
        session, caller.principal, message_id=message_id, prefs=_prefs(caller, accept_language)
    )
    response.headers["Content-Language"] = item.locale
    return item


@router.post(
    "/messages/{message_id}/read",
    status_code=204,
    operation_id="markMyMessageRead",
    summary="Record that the caller read a message (the first read time is kept)",
    responses=NOT_YOURS,
)
async def mark_read(message_id: uuid.UUID, session: SessionDep, principal: EmployeeCaller) -> None:
    await acknowledgements.mark_read(session, principal, message_id=message_id)


@router.post(
    "/messages/{message_id}/acknowledgement",
    status_code=200,
    operation_id="acknowledgeMyMessage",
    summary="Acknowledge the current version of a message (201 the first time, 200 after)",
    responses={
        201: {"description": "Acknowledged now.", "model": AcknowledgementOut},
        200: {"description": "Already acknowledged: the original record."},
        **NOT_YOURS,
        **CLOSED,
    },
)
async def acknowledge(
    message_id: uuid.UUID,
    session: SessionDep,
    caller: SignedIn,
    response: Response,
    data: Annotated[AcknowledgementCreate | None, Body()] = None,
    accept_language: AcceptLanguage = None,
) -> AcknowledgementOut:
    prefs = _prefs(caller, accept_language)
    if data is not None and data.locale:
        prefs = (data.locale.lower(), *prefs)
    ack, is_new = await acknowledgements.acknowledge(
        session, caller.principal, message_id=message_id, prefs=prefs
    )
    if is_new:
        created(response, f"/v1/me/messages/{message_id}/acknowledgement")
    return ack


@router.get(
    "/messages/{message_id}/acknowledgement",
    operation_id="getMyAcknowledgement",
    summary="The caller's acknowledgement of the message's current version",
    responses={
        404: {"description": "Not sent to you, or not acknowledged in its current version."}
    },
)
async def get_acknowledgement(
    message_id: uuid.UUID, session: SessionDep, principal: EmployeeCaller
) -> AcknowledgementOut:
    return await acknowledgements.get_acknowledgement(session, principal, message_id=message_id)
