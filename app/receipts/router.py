import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from app.auth.dependencies import MessagesWrite, ReceiptsRead
from app.core.config import AppSettings
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.receipts import reminders, reports
from app.receipts.schemas import (
    MessageStats,
    RecipientOut,
    RecipientState,
    ReminderSent,
)
from app.reports.aggregates import GroupBy

router = APIRouter(prefix="/v1/messages", tags=["receipts"])
# what acts on a message's recipients is documented with the messages
messages_router = APIRouter(prefix="/v1/messages", tags=["messages"])

NOT_FOUND = {404: {"description": "No message with this id."}}
CSV_MEDIA_TYPE = "text/csv"


def _wants_csv(accept: str | None) -> bool:
    return accept is not None and CSV_MEDIA_TYPE in accept.lower()


@router.get(
    "/{message_id}/stats",
    operation_id="getMessageStats",
    summary="How a message landed: reads and acknowledgements, optionally per group",
    responses=NOT_FOUND,
)
async def get_stats(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: ReceiptsRead,
    settings: AppSettings,
    group_by: GroupBy | None = None,
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


@messages_router.post(
    "/{message_id}/reminders",
    status_code=202,
    operation_id="remindMessageRecipients",
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
