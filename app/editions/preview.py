"""`GET /v1/messages/{id}/preview?employee=…`: what one employee would be served, through the
same `served_content` as the feed and the e-mail, without recording anything."""

import uuid

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import sql
from app.core.direct import on_session
from app.core.errors import NotFound
from app.core.principal import Principal
from app.editions.models import EditionStatus, MessageEdition
from app.editions.schemas import PreviewOut
from app.editions.serve import (
    EDITION_COLUMNS,
    EDITION_TEXTS,
    EDITIONS_TABLE,
    served_content,
    served_edition_on,
)
from app.editions.service import unit_members
from app.editors.access import check_message, unit_condition
from app.employees.models import Employee
from app.messages.content import ContentCache
from app.messages.locales import preferences
from app.messages.models import Message
from app.receipts.models import Channel, Delivery, Recipient


async def _would_be_edition(
    session: AsyncSession, message_id: uuid.UUID, employee_id: uuid.UUID
) -> tuple[uuid.UUID | None, int | None]:
    """For someone not (yet) a recipient: the first published, current edition whose unit
    holds them."""
    editions = (
        await session.execute(
            select(MessageEdition.id, MessageEdition.revision, MessageEdition.unit)
            .where(
                MessageEdition.message_id == message_id,
                MessageEdition.status == EditionStatus.PUBLISHED,
                MessageEdition.outdated.is_(False),
            )
            .order_by(MessageEdition.published_at)
        )
    ).all()
    if not editions:
        return None, None
    row = (
        await session.execute(
            select(*(unit_members(session, e.unit) for e in editions)).where(
                Employee.id == employee_id
            )
        )
    ).one()
    for edition, inside in zip(editions, row, strict=True):
        if inside:
            return edition.id, edition.revision
    return None, None


async def preview(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    external_id: str,
    contents: ContentCache,
) -> PreviewOut:
    await check_message(session, principal, message_id, write=False)
    employee = (
        await session.execute(
            select(Employee.id, Employee.locale).where(
                Employee.external_id == external_id,
                unit_condition(principal, sql.dialect_of(session)),
            )
        )
    ).one_or_none()
    if employee is None:
        raise NotFound("No employee with this HRIS key in your unit.")
    conn = on_session(session)
    content = await contents.load(conn, message_id)
    if content is None:
        raise NotFound("No message with this id.")
    recipient = (
        await session.execute(
            select(Recipient.employee_id, *EDITION_COLUMNS)
            .outerjoin(EDITIONS_TABLE, served_edition_on(Recipient.edition_id))
            .where(Recipient.message_id == message_id, Recipient.employee_id == employee.id)
        )
    ).one_or_none()
    channels = (
        await session.execute(select(Message.channels).where(Message.id == message_id))
    ).scalar_one()
    if recipient is not None:
        edition_key = (recipient.edition_id, recipient.edition_revision)
        planned = (
            (
                await session.execute(
                    select(Delivery.channel).where(
                        Delivery.message_id == message_id,
                        and_(Delivery.employee_id == employee.id),
                    )
                )
            )
            .scalars()
            .all()
        )
        channels = [Channel.FEED.value, *planned] + (
            [Channel.CHAT.value] if Channel.CHAT.value in channels else []
        )
    else:
        edition_key = await _would_be_edition(session, message_id, employee.id)
    edition = None
    if edition_key[0] is not None:
        edition = (await EDITION_TEXTS.texts(conn, [edition_key])).get(edition_key[0])
    served = served_content(
        preferences(None, employee.locale),
        locale=content.locale,
        title=content.title,
        summary=content.summary,
        body=content.body,
        translations=content.translations,
        acknowledgement_text=content.acknowledgement_text,
        locked=content.locked,
        edition=edition,
    )
    return PreviewOut(
        message_id=message_id,
        employee_external_id=external_id,
        recipient=recipient is not None,
        edition=served.edition,
        edition_id=served.edition_id,
        locale=served.locale,
        title=served.title,
        summary=served.summary,
        body=served.body,
        acknowledgement_text=served.acknowledgement_text,
        local_note=served.local_note,
        channels=list(dict.fromkeys(channels)),
    )
