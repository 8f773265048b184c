"""Local editions of HQ messages: write, confirm, review, publish, and who is served which.

An edition belongs to one message and one unit (`app.editors.units`). Its editor is a
`local_editor` of that unit or HQ. HQ's `locked` fields are refused on it (422 naming the
field). It is served to the message's recipients inside the unit once published, through
`recipients.edition_id` (set here, in one `UPDATE` per edition); `app.editions.serve` says
what they then see. Every edit makes it a draft again (HQ's text is served meanwhile) that
goes through review (`app.editions.review`) before it is published again.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audiences.rules import Compiler
from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from app.core.http import check_if_match, etag_for
from app.core.principal import Principal
from app.editions import review
from app.editions.models import EDITABLE_FIELDS, EditionStatus, MessageEdition
from app.editions.schemas import EditionIn, EditionOut
from app.editors.access import check_message
from app.editors.models import GrantRole
from app.editors.units import parse_unit, unit_key, unit_rule
from app.employees.models import Employee
from app.messages.models import Message, Status
from app.receipts.models import Recipient

NO_EDITION = "This message has no edition for this unit."


def edition_out(edition: MessageEdition) -> EditionOut:
    return EditionOut.model_validate(
        {
            **{name: getattr(edition, name) for name in EditionOut.model_fields if name != "etag"},
            "etag": etag_for(edition.id, edition.revision),
        }
    )


def _unit_of(path_unit: str) -> str:
    return unit_key(parse_unit(path_unit))


def check_unit_editor(principal: Principal, unit: str) -> None:
    """403 unless the principal edits this unit's texts: HQ, or its `local_editor`."""
    if principal.unit is None:
        return
    if principal.unit != unit:
        raise Forbidden(
            f"This credential is scoped to the unit `{principal.unit}`; it cannot touch the "
            f"edition of `{unit}`."
        )
    if GrantRole.LOCAL_EDITOR not in principal.roles:
        raise Forbidden(f"Only a local editor of `{unit}` can change its edition.")


async def _message(
    session: AsyncSession, principal: Principal, message_id: uuid.UUID, *, lock: bool = False
) -> Message:
    await check_message(session, principal, message_id, write=False)
    stmt = select(Message).where(Message.id == message_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    message = (await session.execute(stmt)).scalar_one_or_none()
    if message is None:
        raise NotFound("No message with this id.")
    return message


async def _edition(
    session: AsyncSession, message_id: uuid.UUID, unit: str, *, lock: bool = False
) -> MessageEdition | None:
    stmt = select(MessageEdition).where(
        MessageEdition.message_id == message_id, MessageEdition.unit == unit
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _visible_edition(
    session: AsyncSession, principal: Principal, message_id: uuid.UUID, path_unit: str, **kw: Any
) -> tuple[Message, MessageEdition]:
    unit = _unit_of(path_unit)
    message = await _message(session, principal, message_id, lock=kw.get("lock", False))
    if principal.unit is not None and principal.unit != unit:
        raise NotFound(NO_EDITION)
    edition = await _edition(session, message_id, unit, **kw)
    if edition is None:
        raise NotFound(NO_EDITION)
    return message, edition


def _refuse_locked(message: Message, data: EditionIn) -> None:
    """422 for each locked field the edition sets (also in its translations)."""
    locked = set(message.locked)
    errors = [
        field_error(f"body.{name}", "locked by HQ: its text is the same everywhere")
        for name in EDITABLE_FIELDS
        if name in locked and getattr(data, name) is not None
    ]
    for locale, content in data.translations.items():
        errors += [
            field_error(
                f"body.translations.{locale}.{name}",
                "locked by HQ: its text is the same everywhere",
            )
            for name in EDITABLE_FIELDS
            if name in locked and getattr(content, name) is not None
        ]
    if data.locale in data.translations:
        errors.append(
            field_error(
                f"body.translations.{data.locale}",
                f"'{data.locale}' is the edition's own locale; its content goes in the fields",
            )
        )
    if errors:
        raise ValidationFailed(errors)


def _contents(data: EditionIn) -> dict[str, Any]:
    return {
        **{name: getattr(data, name) for name in EDITABLE_FIELDS},
        "locale": data.locale,
        "local_note": data.local_note,
        "translations": {
            locale: content.model_dump(exclude_none=True)
            for locale, content in data.translations.items()
        },
    }


async def put_edition(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    path_unit: str,
    data: EditionIn,
    if_match: str | None = None,
) -> tuple[EditionOut, bool]:
    """Write the unit's edition (created: True); every change makes it a draft again."""
    unit = _unit_of(path_unit)
    message = await _message(session, principal, message_id, lock=True)
    check_unit_editor(principal, unit)
    if not message.localizable:
        raise Conflict("This message is not localizable: HQ did not open it to local editions.")
    if message.unit is not None:
        raise Conflict("This is a unit's own message; only HQ messages have local editions.")
    if message.status == Status.ARCHIVED:
        raise Conflict("This message is archived; its editions cannot change.")
    _refuse_locked(message, data)
    values = _contents(data)
    edition = await _edition(session, message_id, unit, lock=True)
    now = utcnow()
    is_new = edition is None
    if edition is None:
        edition = MessageEdition(
            message_id=message_id,
            unit=unit,
            **values,
            based_on_version=message.version,
            created_by=principal.actor,
            updated_by=principal.actor,
            created_at=now,
            updated_at=now,
        )
        session.add(edition)
    else:
        check_if_match(if_match, etag_for(edition.id, edition.revision))
        changed = {k: v for k, v in values.items() if getattr(edition, k) != v}
        if not changed and not edition.outdated:
            return edition_out(edition), False
        for name, value in changed.items():
            setattr(edition, name, value)
        edition.status = EditionStatus.DRAFT
        edition.outdated = False
        edition.based_on_version = message.version
        edition.updated_by = principal.actor
        edition.updated_at = now
        edition.revision += 1
        review.edited(edition)
    await session.flush()
    await record(
        session,
        principal,
        action="edition.created" if is_new else "edition.updated",
        entity_type="edition",
        entity_id=edition.id,
        details={"message_id": str(message_id), "unit": unit},
    )
    return edition_out(edition), is_new


async def get_edition(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, path_unit: str
) -> EditionOut:
    _message_row, edition = await _visible_edition(session, principal, message_id, path_unit)
    return edition_out(edition)


async def list_editions(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID
) -> list[EditionOut]:
    """The message's editions (a scoped principal: its unit's only), by unit."""
    await _message(session, principal, message_id)
    stmt = select(MessageEdition).where(MessageEdition.message_id == message_id)
    if principal.unit is not None:
        stmt = stmt.where(MessageEdition.unit == principal.unit)
    rows = (await session.execute(stmt.order_by(MessageEdition.unit))).scalars().all()
    return [edition_out(e) for e in rows]


async def _touched(session: AsyncSession, principal: Principal, edition: MessageEdition) -> None:
    edition.updated_at = utcnow()
    edition.revision += 1
    await session.flush()


async def confirm_edition(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, path_unit: str
) -> EditionOut:
    """The editor says the edition still fits HQ's new version: it is served again."""
    message, edition = await _visible_edition(session, principal, message_id, path_unit, lock=True)
    check_unit_editor(principal, edition.unit)
    if not edition.outdated:
        raise Conflict(f"This edition is current (HQ version {message.version}).")
    edition.outdated = False
    edition.based_on_version = message.version
    await _touched(session, principal, edition)
    await record(
        session,
        principal,
        action="edition.confirmed",
        entity_type="edition",
        entity_id=edition.id,
        details={"message_id": str(message_id), "unit": edition.unit, "version": message.version},
    )
    return edition_out(edition)


async def review_edition(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    path_unit: str,
    action: str,
    comment: str | None = None,
) -> EditionOut:
    message, edition = await _visible_edition(session, principal, message_id, path_unit, lock=True)
    if action == "submit":
        check_unit_editor(principal, edition.unit)
    await review.transition(
        session,
        principal,
        edition,
        action=action,
        entity_type="edition",
        entity_id=edition.id,
        message_id=message_id,
        unit=edition.unit,
        comment=comment,
        event={
            "message_id": message_id,
            "edition_id": edition.id,
            "title": edition.title or message.title,
            "url": f"/v1/messages/{message_id}/editions/{edition.unit}",
        },
    )
    await _touched(session, principal, edition)
    return edition_out(edition)


async def publish_edition(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, path_unit: str
) -> EditionOut:
    """Serve an approved edition to the unit's recipients (now, or when HQ publishes)."""
    message, edition = await _visible_edition(session, principal, message_id, path_unit, lock=True)
    check_unit_editor(principal, edition.unit)
    review.require_approved(edition, "A local edition")
    if edition.status == EditionStatus.PUBLISHED:
        raise Conflict("This edition is already published.")
    if message.status == Status.ARCHIVED:
        raise Conflict("This message is archived.")
    edition.status = EditionStatus.PUBLISHED
    edition.published_at = utcnow()
    await _touched(session, principal, edition)
    served = await assign_editions(session, message_id=message_id, editions=[edition])
    await record(
        session,
        principal,
        action="edition.published",
        entity_type="edition",
        entity_id=edition.id,
        details={"message_id": str(message_id), "unit": edition.unit, "recipients": served},
    )
    return edition_out(edition)


async def delete_edition(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, path_unit: str
) -> None:
    """Remove an edition that was never published (one served stays as evidence)."""
    _message_row, edition = await _visible_edition(
        session, principal, message_id, path_unit, lock=True
    )
    check_unit_editor(principal, edition.unit)
    if edition.published_at is not None:
        raise Conflict("This edition was published; it stays as the evidence of what was served.")
    await session.delete(edition)
    await session.flush()
    await record(
        session,
        principal,
        action="edition.deleted",
        entity_type="edition",
        entity_id=edition.id,
        details={"message_id": str(message_id), "unit": edition.unit},
    )


# -- who is served which edition (called by publication and the directory's late joiners) --


def unit_members(session: AsyncSession, unit: str) -> Any:
    """Employees in `unit`, as an SQL condition on `employees`."""
    compiler = Compiler(dialect=sql.dialect_of(session), today=utcnow().date())
    return compiler.rule(unit_rule(parse_unit(unit)))


async def assign_editions(
    session: AsyncSession,
    *,
    message_id: uuid.UUID | None = None,
    editions: Sequence[MessageEdition] | None = None,
    employee_ids: Sequence[uuid.UUID] | None = None,
    targeted_at: datetime | None = None,
) -> int:
    """Set `recipients.edition_id` for recipients in each published edition's unit who have
    none yet (a recipient in two units' editions keeps the first published): one `UPDATE` per
    edition. `editions` default to the published ones of `message_id` (or of every message,
    for `employee_ids`)."""
    if editions is None:
        stmt = select(MessageEdition).where(MessageEdition.status == EditionStatus.PUBLISHED)
        if message_id is not None:
            stmt = stmt.where(MessageEdition.message_id == message_id)
        editions = (
            (await session.execute(stmt.order_by(MessageEdition.published_at))).scalars().all()
        )
    total = 0
    for edition in editions:
        members = select(Employee.id).where(unit_members(session, edition.unit))
        stmt = (
            update(Recipient)
            .where(
                Recipient.message_id == edition.message_id,
                Recipient.edition_id.is_(None),
                Recipient.employee_id.in_(members),
            )
            .values(edition_id=edition.id)
        )
        if employee_ids is not None:
            stmt = stmt.where(Recipient.employee_id.in_(list(employee_ids)))
        if targeted_at is not None:
            stmt = stmt.where(Recipient.targeted_at == targeted_at)
        result = await session.execute(stmt.execution_options(synchronize_session=False))
        total += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return total


async def mark_outdated(session: AsyncSession, *, message_id: uuid.UUID, version: int) -> None:
    """A new HQ version: editions written against an older one are outdated (HQ's text is
    served until their editor confirms or edits them)."""
    await session.execute(
        update(MessageEdition)
        .where(
            MessageEdition.message_id == message_id,
            MessageEdition.based_on_version < version,
            MessageEdition.outdated.is_(False),
        )
        .values(outdated=True, revision=MessageEdition.revision + 1)
        .execution_options(synchronize_session=False)
    )


# -- review of messages themselves --------------------------------------------------------


async def review_message(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    action: str,
    comment: str | None = None,
) -> Message:
    """Submit, approve or send back a message (before publication)."""
    await check_message(session, principal, message_id, write=action == "submit")
    message = await _message(session, principal, message_id, lock=True)
    if message.status not in (Status.DRAFT, Status.SCHEDULED):
        raise Conflict(
            f"Only drafts and scheduled messages are reviewed; this one is {message.status}."
        )
    await review.transition(
        session,
        principal,
        message,
        action=action,
        entity_type="message",
        entity_id=message.id,
        message_id=message.id,
        unit=message.unit,
        comment=comment,
        event={
            "message_id": message.id,
            "title": message.title,
            "category": message.category,
            "url": f"/v1/messages/{message.id}",
        },
    )
    message.revision += 1
    message.updated_at = utcnow()
    await session.flush()
    return message
