"""Reads and acknowledgements: what an employee does with a message delivered to them.

Both run on every intranet page view. Each answers from Core statements built once on the
tables, selecting only the columns it returns; visibility comes from `app.receipts.access`.
A read keeps the first read time; an acknowledgement is exactly once per round, also under
concurrency (the unique constraint on message, employee and round), with its evidence.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.audit.service import record
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound
from app.core.hashing import canonical_sha256
from app.core.principal import Principal
from app.core.sql import insert_ignore
from app.messages.locales import localized
from app.messages.models import Message
from app.receipts.access import delivery_for, delivery_of, delivery_select, delivery_statement
from app.receipts.models import Acknowledgement, Recipient
from app.receipts.schemas import AcknowledgementOut
from app.webhooks.outbox import emit


def _recipient_row(principal: Principal, message_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(Recipient.message_id == message_id, Recipient.employee_id == principal.employee_id)


async def mark_read(session: AsyncSession, principal: Principal, *, message_id: uuid.UUID) -> None:
    """Record the caller's first read; later reads change nothing."""
    now = utcnow()
    await delivery_for(session, principal, message_id=message_id, now=now)
    result = await session.execute(
        update(Recipient)
        .where(_recipient_row(principal, message_id), Recipient.read_at.is_(None))
        .values(read_at=now)
    )
    if result.rowcount:
        await record(
            session,
            principal,
            action="message.read",
            entity_type="receipt",
            entity_id=message_id,
        )


def content_sha256(*, title: str, body: str, locale: str) -> str:
    """The evidence hash of content shown: SHA-256 of its canonical JSON (sorted keys, no
    whitespace, UTF-8), recomputable by anyone from the text of the version and locale."""
    return canonical_sha256({"body": body, "locale": locale, "title": title})


_ACKS, _MESSAGES, _RECIPIENTS = (
    Acknowledgement.__table__.c,
    Message.__table__.c,
    Recipient.__table__.c,
)
_ACK_RECORD = (
    _ACKS.id.label("ack_id"),
    _ACKS.version.label("ack_version"),
    _ACKS.statement.label("ack_statement"),
    _ACKS.locale.label("ack_locale"),
    _ACKS.content_sha256.label("ack_sha256"),
    _ACKS.acknowledged_at.label("ack_at"),
)
_ACK_CONTENT = (
    _MESSAGES.title,
    _MESSAGES.summary,
    _MESSAGES.body,
    _MESSAGES.locale,
    _MESSAGES.translations,
    _MESSAGES.acknowledgement_text,
)
# the acknowledgement of the message's current round, if the caller gave one
_CURRENT_ACK = and_(
    _ACKS.message_id == _RECIPIENTS.message_id,
    _ACKS.employee_id == _RECIPIENTS.employee_id,
    _ACKS.acknowledgement_version == _MESSAGES.acknowledgement_version,
)


def _ack_out(message_id: uuid.UUID, row: Any) -> AcknowledgementOut:
    return AcknowledgementOut.model_construct(
        id=row.ack_id,
        message_id=message_id,
        version=row.ack_version,
        statement=row.ack_statement,
        locale=row.ack_locale,
        content_sha256=row.ack_sha256,
        acknowledged_at=row.ack_at,
    )


# The acknowledgement's statements are built once, with bound parameters and on the tables:
# building them per request and the ORM's bulk-DML bookkeeping cost more than the database
# work (bench/RESULTS.md).
_ACK_DELIVERY = delivery_statement(
    bindparam("employee_id"), bindparam("message_id"), (*_ACK_CONTENT, *_ACK_RECORD)
).outerjoin(Acknowledgement.__table__, _CURRENT_ACK)
_INSERT_ACK = insert_ignore(
    Acknowledgement.__table__,
    ["message_id", "employee_id", "acknowledgement_version"],
    returning=[_ACKS.id],
)
_RECORD_ACK = (
    update(Recipient.__table__)
    .where(
        _RECIPIENTS.message_id == bindparam("b_message_id"),
        _RECIPIENTS.employee_id == bindparam("b_employee_id"),
    )
    .values(
        acknowledged_at=bindparam("b_at"),
        acknowledged_version=bindparam("b_version"),
        read_at=func.coalesce(_RECIPIENTS.read_at, bindparam("b_at")),
    )
)


async def acknowledge(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    prefs: Sequence[str] = (),
) -> tuple[AcknowledgementOut, bool]:
    """Acknowledge the current version; returns the record and whether it was created now.

    Idempotent, also under concurrency: the unique constraint on (message, employee, round)
    lets one `INSERT … ON CONFLICT DO NOTHING` win; the others read the winner's row (on
    PostgreSQL their insert waits for the winner's commit). The first time this is four
    statements (delivery with content, insert, recipient update, audit); after that, one.
    """
    now = utcnow()
    ids = {"employee_id": principal.employee_id, "message_id": message_id}
    row = (await session.execute(_ACK_DELIVERY, ids)).one_or_none()
    delivery = delivery_of(row)
    if not delivery.requires_acknowledgement:
        raise Conflict("This message asks for no acknowledgement.")
    if row.ack_id is not None:
        return _ack_out(message_id, row), False
    delivery_of(row, open_at=now)  # 409 once archived or expired
    locale, title, _summary, body = localized(row, prefs)
    values = {
        "id": uuid.uuid4(),
        "message_id": message_id,
        "employee_id": principal.employee_id,
        "acknowledgement_version": delivery.acknowledgement_version,
        "version": delivery.version,
        "statement": row.acknowledgement_text or "",
        "locale": locale,
        "content_sha256": content_sha256(title=title, body=body, locale=locale),
        "acknowledged_at": now,
    }
    inserted = (await session.execute(_INSERT_ACK[session], values)).scalar_one_or_none()
    if inserted is None:  # a concurrent request of the same caller won
        winner = (
            await session.execute(
                select(*_ACK_RECORD).where(
                    Acknowledgement.message_id == message_id,
                    Acknowledgement.employee_id == principal.employee_id,
                    Acknowledgement.acknowledgement_version == delivery.acknowledgement_version,
                )
            )
        ).one()
        return _ack_out(message_id, winner), False
    await session.execute(
        _RECORD_ACK,
        {
            "b_message_id": message_id,
            "b_employee_id": principal.employee_id,
            "b_at": now,
            "b_version": delivery.version,
        },
    )
    await record(
        session,
        principal,
        action="acknowledgement.created",
        entity_type="acknowledgement",
        entity_id=values["id"],
        details={
            "message_id": str(message_id),
            "version": delivery.version,
            "acknowledgement_version": delivery.acknowledgement_version,
            "locale": locale,
        },
    )
    await emit(
        session,
        type="acknowledgement.created",
        message_id=message_id,
        data={
            **{k: values[k] for k in AcknowledgementOut.model_fields},
            "employee_external_id": principal.external_id,
        },
    )
    return AcknowledgementOut.model_construct(
        **{k: values[k] for k in AcknowledgementOut.model_fields}
    ), True


async def get_acknowledgement(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID
) -> AcknowledgementOut:
    """The caller's acknowledgement of the message's current version (404 when none)."""
    stmt = delivery_select(principal, message_id=message_id, columns=_ACK_RECORD).outerjoin(
        Acknowledgement.__table__, _CURRENT_ACK
    )
    row = (await session.execute(stmt)).one_or_none()
    delivery_of(row)
    if row.ack_id is None:
        raise NotFound("You have not acknowledged the current version of this message.")
    return _ack_out(message_id, row)
