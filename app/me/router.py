import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic_core import to_json

from app.auth.dependencies import EMPLOYEE_SECURITY, EmployeeCaller, HotEmployee, SignedIn
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.me import service
from app.me.schemas import FeedItem, FeedState, MeOut
from app.messages.content import ContentCache
from app.messages.locales import preferences
from app.messages.models import Category
from app.receipts import acknowledgements
from app.receipts.schemas import AcknowledgementCreate, AcknowledgementOut

router = APIRouter(prefix="/v1/me", tags=["me"])

AcceptLanguage = Annotated[
    str | None,
    Header(
        alias="Accept-Language",
        description="Preferred locales with q-values, e.g. `es-MX, es;q=0.9, en;q=0.5`; "
        "then the caller's own locale, then the message's, are used.",
    ),
]
Include = Annotated[
    list[Literal["body"]] | None,
    Query(description="`body` to carry each message's body in the list too."),
]

NOT_YOURS = {404: {"description": "No message with this id was sent to you."}}
CLOSED = {409: {"description": "The message asks for no acknowledgement, or is closed."}}
JSON = "application/json"


def _prefs(employee_locale: str | None, accept_language: str | None) -> tuple[str, ...]:
    # the employee's locale was loaded at sign-in: no query here
    return preferences(accept_language, employee_locale)


def _contents(request: Request) -> ContentCache:
    cache: ContentCache = request.app.state.contents
    return cache


def _json(body: object, headers: dict[str, str]) -> Response:
    # The hot routes answer plain values serialized once (pydantic's own JSON writer, so the
    # formats are the ones of the response models the document describes), not validated again.
    return Response(to_json(body), media_type=JSON, headers=headers)


@router.get("", operation_id="getMe", summary="The calling employee's record")
async def get_me(session: SessionDep, caller: SignedIn) -> MeOut:
    return await service.get_me(session, caller.principal, signed_in=caller.employee)


@router.get(
    "/messages",
    operation_id="listMyMessages",
    summary="The caller's feed: live messages sent to them, newest first, localized",
    description="Each item carries the message's title and summary in the caller's best "
    "locale, where they stand (read, acknowledged, due) and the feedback figures; `body` is "
    "null unless `include=body` (the single-message view always carries it).",
    response_model=Page[FeedItem],
    openapi_extra=EMPLOYEE_SECURITY,
)
async def list_my_messages(
    request: Request,
    me: HotEmployee,
    page: Pagination,
    state: FeedState | None = None,
    category: Category | None = None,
    include: Include = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    feed = await service.list_feed(
        me.conn,
        me.principal,
        page=page,
        cache=_contents(request),
        prefs=_prefs(me.employee.record["locale"], accept_language),
        state=state,
        category=category,
        body=bool(include),
    )
    return _json(feed, {"Vary": "Accept-Language"})


@router.get(
    "/messages/{message_id}",
    operation_id="getMyMessage",
    summary="One message of the caller's feed, localized",
    response_model=FeedItem,
    responses=NOT_YOURS,
    openapi_extra=EMPLOYEE_SECURITY,
)
async def get_my_message(
    message_id: uuid.UUID,
    request: Request,
    me: HotEmployee,
    accept_language: AcceptLanguage = None,
) -> Response:
    item = await service.get_feed_item(
        me.conn,
        me.principal,
        message_id=message_id,
        cache=_contents(request),
        prefs=_prefs(me.employee.record["locale"], accept_language),
    )
    return _json(item, {"Vary": "Accept-Language", "Content-Language": item["locale"]})


@router.post(
    "/messages/{message_id}/read",
    status_code=204,
    operation_id="markMyMessageRead",
    summary="Record that the caller read a message (the first read time is kept)",
    responses=NOT_YOURS,
    openapi_extra=EMPLOYEE_SECURITY,
)
async def mark_read(message_id: uuid.UUID, me: HotEmployee) -> None:
    await acknowledgements.mark_read(me.conn, me.principal, message_id=message_id)


@router.post(
    "/messages/{message_id}/acknowledgement",
    status_code=200,
    operation_id="acknowledgeMyMessage",
    summary="Acknowledge the current version of a message (201 the first time, 200 after)",
    response_model=AcknowledgementOut,
    responses={
        201: {"description": "Acknowledged now.", "model": AcknowledgementOut},
        200: {"description": "Already acknowledged: the original record."},
        **NOT_YOURS,
        **CLOSED,
    },
    openapi_extra=EMPLOYEE_SECURITY,
)
async def acknowledge(
    message_id: uuid.UUID,
    request: Request,
    me: HotEmployee,
    data: Annotated[AcknowledgementCreate | None, Body()] = None,
    accept_language: AcceptLanguage = None,
) -> Response:
    prefs = _prefs(me.employee.record["locale"], accept_language)
    if data is not None and data.locale:
        prefs = (data.locale.lower(), *prefs)
    ack, is_new = await acknowledgements.acknowledge(
        me.conn,
        me.principal,
        message_id=message_id,
        cache=_contents(request),
        prefs=prefs,
        batches=request.app.state.acknowledgement_batches,
    )
    if not is_new:
        return _json(ack, {})
    location = {"Location": f"/v1/me/messages/{message_id}/acknowledgement"}
    return Response(to_json(ack), status_code=201, media_type=JSON, headers=location)


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
