import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import AwareDatetime

from app.auth.dependencies import MessagesWrite, PublicRateLimit, ReceiptsRead, WebhooksAdmin
from app.core.config import AppSettings
from app.core.http import created
from app.core.pages import NO_STORE, page, page_responses
from app.core.pagination import Page, Pagination
from app.core.request_checks import BROWSER_PAGE
from app.core.session import SessionDep, WriteSessionDep
from app.editors.guards import CompanyWide, OwnMessage, ReadableMessage
from app.receipts import chat_targets, deliveries, fatigue, links, preview, reminders, reports
from app.receipts.models import Channel
from app.receipts.schemas import (
    ChatTargetCreate,
    ChatTargetOut,
    DeliveryOut,
    DeliveryPreview,
    DeliveryStateFilter,
    FatigueOut,
    MessageStats,
    RecipientOut,
    RecipientState,
    ReminderSent,
)
from app.reports.aggregates import GroupBy, MinGroupSize, ReportGroupBy

router = APIRouter(prefix="/v1/messages", tags=["receipts"])
# what acts on a message's recipients is documented with the messages
messages_router = APIRouter(prefix="/v1/messages", tags=["messages"])

# team channels messages are posted to: administered with the webhooks
chat_router = APIRouter(prefix="/v1/chat-targets", tags=["webhooks"])
CHAT_NOT_FOUND = {404: {"description": "No chat target with this id."}}
# the channels that have delivery rows (the feed's are the recipient rows)
SentChannel = Annotated[
    Literal["email", "chat"] | None,
    Query(description="`email` or `chat` (the feed's deliveries are the recipients)."),
]
# the tracked links of e-mails: public, answered with pages, never with JSON
links_router = APIRouter(tags=["receipts"])
# an employee's e-mails, and why any of them waits
employees_router = APIRouter(prefix="/v1/employees", tags=["receipts"])
reports_router = APIRouter(prefix="/v1/reports", tags=["reports"])

DELIVERY_REPORT = """
Over `[since, until)` (default: the 7 days before now): e-mails per employee (p50, p90, max;
message e-mails, retargeting e-mails and digests sent), the share of message e-mails the inbox
rules held back (by the weekly cap, by quiet hours, for a digest), the digest open rate (a
link in the digest followed) and the read rate by channel (`feed`, `email`) of the messages
published in the period.

With `group_by`, the same sums per unit of the employees' current attributes; units with
fewer than `BRANDCAST_MIN_GROUP_SIZE` employees are summed into `"(other)"` (the
minimum-group rule of every report). Percentiles are for the total only.
"""


@reports_router.get(
    "/delivery",
    operation_id="getDeliveryReport",
    summary="Inbox fatigue: e-mails per employee, what the rules held back, digest opens",
    description=DELIVERY_REPORT,
    dependencies=[CompanyWide],
)
async def delivery_report(
    session: SessionDep,
    principal: ReceiptsRead,
    min_group_size: MinGroupSize,
    since: Annotated[
        AwareDatetime | None, Query(description="From (inclusive); default `until` - 7 days.")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="To (exclusive); default now.")
    ] = None,
    group_by: Annotated[GroupBy | None, Query(description="The unit to report on.")] = None,
) -> FatigueOut:
    return await fatigue.delivery_report(
        session,
        principal,
        since=since,
        until=until,
        group_by=group_by,
        min_group_size=min_group_size,
    )


NOT_FOUND = {404: {"description": "No message with this id."}}
CSV_MEDIA_TYPE = "text/csv"


def _wants_csv(accept: str | None) -> bool:
    return accept is not None and CSV_MEDIA_TYPE in accept.lower()


@router.get(
    "/{message_id}/stats",
    operation_id="getMessageStats",
    dependencies=[ReadableMessage],
    summary="How a message landed: reads and acknowledgements, optionally per group",
    responses=NOT_FOUND,
)
async def get_stats(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: ReceiptsRead,
    settings: AppSettings,
    group_by: Annotated[
        ReportGroupBy | None,
        Query(description="An employee attribute, or `edition`: HQ's text against each edition."),
    ] = None,
) -> MessageStats:
    return await reports.message_stats(
        session,
        principal,
        message_id=message_id,
        group_by=group_by,
        min_group_size=settings.min_group_size,
    )


@router.get(
    "/{message_id}/recipients",
    operation_id="listMessageRecipients",
    dependencies=[ReadableMessage],
    summary="A message's recipients and where each stands (`Accept: text/csv` exports all)",
    responses={
        200: {
            "description": "A page of recipients; with `Accept: text/csv`, a CSV of every "
            "matching recipient (`limit` and `cursor` do not apply).",
            "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **NOT_FOUND,
    },
)
async def list_recipients(
    message_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: ReceiptsRead,
    page: Pagination,
    state: RecipientState | None = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Page[RecipientOut]:
    if not _wants_csv(accept):
        return await reports.list_recipients(
            session, principal, message_id=message_id, page=page, state=state
        )
    # resolved before streaming starts, so an unknown message is still a 404
    facts = await reports.message_facts(session, principal, message_id=message_id)
    suffix = f"-{state.value}" if state else ""
    return StreamingResponse(
        reports.recipients_csv(request.app.state.db, principal, facts=facts, state=state),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="recipients-{message_id}{suffix}.csv"'
        },
    )


@router.get(
    "/{message_id}/deliveries",
    operation_id="listMessageDeliveries",
    dependencies=[OwnMessage],
    summary="A message's e-mails and chat posts and where each stands",
    description="The feed has no delivery rows: its deliveries are the message's recipients "
    "(`GET /v1/messages/{message_id}/recipients`, with their read and acknowledgement state).",
    responses=NOT_FOUND,
)
async def list_deliveries(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: ReceiptsRead,
    page: Pagination,
    channel: SentChannel = None,
    state: DeliveryStateFilter | None = None,
) -> Page[DeliveryOut]:
    return await deliveries.list_deliveries(
        session,
        principal,
        message_id=message_id,
        page=page,
        channel=Channel(channel) if channel else None,
        state=state,
    )


@router.get(
    "/{message_id}/delivery-preview",
    operation_id="previewMessageDelivery",
    summary="Before publishing: how many would get it now, in a digest, held, by channel",
    responses=NOT_FOUND,
    dependencies=[OwnMessage],
)
async def delivery_preview(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: ReceiptsRead,
    settings: AppSettings,
    at: Annotated[
        AwareDatetime | None, Query(description="Preview as of this time; default now.")
    ] = None,
) -> DeliveryPreview:
    return await preview.delivery_preview(
        session, principal, settings=settings, message_id=message_id, at=at
    )


@employees_router.get(
    "/{external_id}/deliveries",
    operation_id="listEmployeeDeliveries",
    summary="An employee's e-mails, newest first, with why each is held, released or cancelled",
    responses={404: {"description": "No employee with this external_id."}},
    dependencies=[CompanyWide],
)
async def list_employee_deliveries(
    external_id: str,
    session: SessionDep,
    principal: ReceiptsRead,
    page: Pagination,
    state: DeliveryStateFilter | None = None,
) -> Page[DeliveryOut]:
    return await deliveries.list_employee_deliveries(
        session, principal, external_id=external_id, page=page, state=state
    )


@messages_router.post(
    "/{message_id}/reminders",
    status_code=202,
    operation_id="remindMessageRecipients",
    dependencies=[OwnMessage],
    summary="Nudge the pending recipients now (one event; at most once an hour)",
    responses={
        409: {
            "description": "Nobody to remind: the message is not published, asks for no "
            "acknowledgement, has expired, or everyone has acknowledged."
        },
        429: {"description": "A reminder was sent less than an hour ago."},
    },
)
async def remind(
    message_id: uuid.UUID, session: SessionDep, principal: MessagesWrite, settings: AppSettings
) -> ReminderSent:
    return await reminders.send_reminder(
        session, principal, message_id=message_id, settings=settings
    )


DEAD_LINK = page(
    "Link not valid",
    "This link is not valid or has expired. The message is still in your intranet feed.",
)
UNSUBSCRIBE_FORM = page(
    "Unsubscribe",
    '<form method="post"><button type="submit" name="List-Unsubscribe" '
    'value="One-Click">Send me no more e-mails like this</button></form>',
)
UNSUBSCRIBED = page(
    "Unsubscribed",
    "You will get no more of these e-mails. Messages you must acknowledge still arrive.",
)


def _dead_link() -> HTMLResponse:
    return HTMLResponse(DEAD_LINK, status_code=404, headers=NO_STORE)


_LINK_RESPONSES = page_responses(
    (303, "To the intranet page of the message, and nowhere else."),
    not_found="A bad, forged or expired link: a plain page.",
)
_PAGE_RESPONSES = {k: v for k, v in _LINK_RESPONSES.items() if k != 303}


@links_router.get(
    "/r/{token}",
    operation_id="followTrackedLink",
    openapi_extra=BROWSER_PAGE,
    summary="An e-mail's link: marks its recipient read, then redirects to the intranet",
    response_class=RedirectResponse,
    status_code=303,
    responses=_LINK_RESPONSES,
    dependencies=[PublicRateLimit],
)
async def follow_link(token: str, session: WriteSessionDep, settings: AppSettings) -> Response:
    target = await links.follow(session, token=token, settings=settings, count_read=True)
    return _dead_link() if target is None else RedirectResponse(target, 303, headers=NO_STORE)


@links_router.head(
    "/r/{token}",
    operation_id="checkTrackedLink",
    openapi_extra=BROWSER_PAGE,
    summary="What mail scanners prefetch: the same redirect, counting no read",
    response_class=RedirectResponse,
    status_code=303,
    responses=_LINK_RESPONSES,
    dependencies=[PublicRateLimit],
)
async def check_link(token: str, session: SessionDep, settings: AppSettings) -> Response:
    target = await links.follow(session, token=token, settings=settings, count_read=False)
    return _dead_link() if target is None else RedirectResponse(target, 303, headers=NO_STORE)


@links_router.get(
    "/r/{token}/unsubscribe",
    operation_id="showUnsubscribe",
    openapi_extra=BROWSER_PAGE,
    summary="The unsubscribe page of an e-mail (a button that posts the one-click request)",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
    dependencies=[PublicRateLimit],
)
async def unsubscribe_page(token: str, session: SessionDep, settings: AppSettings) -> Response:
    if await links.follow(session, token=token, settings=settings, count_read=False) is None:
        return _dead_link()
    return HTMLResponse(UNSUBSCRIBE_FORM, headers=NO_STORE)


@links_router.post(
    "/r/{token}/unsubscribe",
    operation_id="unsubscribe",
    openapi_extra=BROWSER_PAGE,
    summary="RFC 8058 one-click unsubscribe from e-mails that ask for no acknowledgement",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
    dependencies=[PublicRateLimit],
)
async def unsubscribe(token: str, session: SessionDep, settings: AppSettings) -> Response:
    if not await links.unsubscribe(session, token=token, settings=settings):
        return _dead_link()
    return HTMLResponse(UNSUBSCRIBED, headers=NO_STORE)


@chat_router.post(
    "",
    status_code=201,
    operation_id="createChatTarget",
    summary="Add a team channel (Teams workflow or Slack incoming webhook) to post messages to",
    responses={422: {"description": "Invalid, or a URL the SSRF guard refuses."}},
)
async def create_chat_target(
    data: ChatTargetCreate,
    session: SessionDep,
    principal: WebhooksAdmin,
    settings: AppSettings,
    response: Response,
) -> ChatTargetOut:
    target = await chat_targets.create_chat_target(session, principal, data=data, settings=settings)
    created(response, f"/v1/chat-targets/{target.id}")
    return target


@chat_router.get("", operation_id="listChatTargets", summary="List chat targets")
async def list_chat_targets(
    session: SessionDep, principal: WebhooksAdmin, page: Pagination
) -> Page[ChatTargetOut]:
    return await chat_targets.list_chat_targets(session, principal, page=page)


@chat_router.get(
    "/{target_id}",
    operation_id="getChatTarget",
    summary="Read a chat target",
    responses=CHAT_NOT_FOUND,
)
async def get_chat_target(
    target_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin
) -> ChatTargetOut:
    return await chat_targets.get_chat_target(session, principal, target_id=target_id)


@chat_router.delete(
    "/{target_id}",
    status_code=204,
    operation_id="deleteChatTarget",
    summary="Remove a chat target (its posts not sent yet go with it)",
    responses=CHAT_NOT_FOUND,
)
async def delete_chat_target(
    target_id: uuid.UUID, session: SessionDep, principal: WebhooksAdmin
) -> Response:
    await chat_targets.delete_chat_target(session, principal, target_id=target_id)
    return Response(status_code=204)
