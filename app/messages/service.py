"""Brand messages: drafts, translations, publication, versions and scheduled publishing.

Every write loads the message row with `FOR UPDATE` before it checks state or `If-Match`, so two
concurrent requests on one message are serialized and the second one sees the first's result
(on SQLite, `BEGIN IMMEDIATE` serializes writers the same way).
"""

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.advocacy.sharing import save_sharing, sharing_of
from app.audiences.service import (
    get_message_audience_ids,
    message_audience_specs,
    set_message_audiences,
)
from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed, field_error
from app.core.http import check_if_match, etag_for
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal
from app.editions import review
from app.editions.models import ReviewStatus
from app.editions.service import assign_editions, mark_outdated
from app.editors.access import check_audiences, visible_messages
from app.messages.models import Category, Message, MessageVersion, Status
from app.messages.schemas import (
    MessageCreate,
    MessageOut,
    MessageUpdate,
    MessageVersionOut,
)
from app.quizzes.rules import quiz_translation_errors
from app.receipts.deliveries import check_chat_targets, plan_deliveries
from app.receipts.models import Channel, DueNotice
from app.receipts.service import materialize_recipients
from app.webhooks.outbox import emit

logger = logging.getLogger("brandcast.messages")

SCHEDULER = Principal.system("scheduler")

# Changing one of these on a published message publishes a new version.
CONTENT_FIELDS = frozenset(
    {
        "title",
        "summary",
        "body",
        "locale",
        "translations",
        "acknowledgement_text",
        "pulse_question",
        "quiz",  # issue 21: a quiz changes only with a new version
    }
)
# Schema fields stored on the `messages` row; others (like `require_reacknowledgement`) are not.
_COLUMNS = frozenset(Message.__table__.columns.keys())
# Where a message goes is fixed by its publication, like its audiences.
DELIVERY_FIELDS = frozenset({"channels", "chat_target_ids"})


def _columns_of(data: MessageCreate | MessageUpdate, **options: Any) -> dict[str, Any]:
    """The schema's column values, as the JSON columns store them."""
    values = data.model_dump(include=_COLUMNS, **options)
    if values.get("chat_target_ids") is not None:
        values["chat_target_ids"] = [str(i) for i in values["chat_target_ids"]]
    if "retarget" in data.model_fields_set or not options.get("exclude_unset"):
        rule = data.retarget
        values["retarget_after_days"] = rule.after_days if rule else None
        values["retarget_max"] = rule.max if rule else None
    if values.get("quiz") is not None:  # issue 21: stored as its JSON
        values["quiz"] = data.quiz.model_dump(mode="json") if data.quiz is not None else None
    return values


def message_out(message: Message, **extra: Any) -> MessageOut:
    """The API shape of a row; `extra` supplies output fields that are not columns."""
    columns = {name: getattr(message, name) for name in MessageOut.model_fields.keys() & _COLUMNS}
    if message.retarget_after_days is not None and message.retarget_max is not None:
        columns["retarget"] = {
            "after_days": message.retarget_after_days,
            "max": message.retarget_max,
        }
    return MessageOut.model_validate({**columns, "etag": etag_of(message), **extra})


async def _out(session: AsyncSession, message: Message) -> MessageOut:
    ids = await get_message_audience_ids(session, message_ids=[message.id])
    sharing = await sharing_of(session, [message.id])
    return message_out(message, audience_ids=ids[message.id], **sharing[message.id])


def etag_of(message: Message) -> str:
    return etag_for(message.id, message.revision)


async def _load(session: AsyncSession, message_id: uuid.UUID, *, lock: bool = False) -> Message:
    stmt = select(Message).where(Message.id == message_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    message = (await session.execute(stmt)).scalar_one_or_none()
    if message is None:
        raise NotFound("No message with this id.")
    return message


async def _load_for_edit(
    session: AsyncSession, message_id: uuid.UUID, if_match: str | None
) -> Message:
    """The message, row-locked for this transaction, as the client last read it (412 if not)."""
    message = await _load(session, message_id, lock=True)
    check_if_match(if_match, etag_of(message))
    return message


def _snapshot(
    message: Message, principal: Principal, *, at: datetime, reacknowledge: bool = False
) -> MessageVersion:
    return MessageVersion(
        message_id=message.id,
        version=message.version,
        title=message.title,
        summary=message.summary,
        body=message.body,
        locale=message.locale,
        translations=message.translations,
        acknowledgement_text=message.acknowledgement_text,
        pulse_question=message.pulse_question,
        quiz=message.quiz,
        requires_reacknowledgement=reacknowledge,
        published_at=at,
        published_by=principal.actor,
    )


def _event_data(message: Message, **extra: Any) -> dict[str, Any]:
    """What subscribers learn about a message: enough to act, a link for the rest."""
    return {
        "message_id": message.id,
        "title": message.title,
        "category": message.category,
        "priority": message.priority,
        "status": message.status,
        "version": message.version,
        "publish_at": message.publish_at,
        "published_at": message.published_at,
        "expires_at": message.expires_at,
        "requires_acknowledgement": message.requires_acknowledgement,
        "recipient_count": message.recipient_count,
        "url": f"/v1/messages/{message.id}",
        **extra,
    }


def _touch(message: Message, now: datetime) -> None:
    message.revision += 1
    message.updated_at = now


def _validate(message: Message) -> None:
    """Rules across fields, checked on the state a write would leave behind (422)."""
    errors = []
    start = message.published_at or message.publish_at
    if message.expires_at is not None and start is not None and message.expires_at <= start:
        errors.append(
            field_error(
                "body.expires_at",
                f"must be after the publication time ({start.isoformat()})",
            )
        )
    if message.chat_target_ids and Channel.CHAT not in message.channels:
        errors.append(field_error("body.chat_target_ids", "needs the `chat` channel in `channels`"))
    if message.locale in message.translations:
        errors.append(
            field_error(
                f"body.translations.{message.locale}",
                f"'{message.locale}' is the message's own locale; "
                "its content goes in title, summary and body",
            )
        )
    errors.extend(quiz_translation_errors(message.quiz, message.translations))  # issue 21
    if errors:
        raise ValidationFailed(errors)


def _require_acknowledgement_text(message: Message) -> None:
    if message.requires_acknowledgement and not message.acknowledgement_text:
        raise Conflict(
            "This message requires acknowledgement but has no `acknowledgement_text`: "
            "set the statement employees acknowledge before publishing it."
        )


async def create_message(
    session: AsyncSession, principal: Principal, *, data: MessageCreate
) -> MessageOut:
    """Create a draft."""
    now = utcnow()
    await check_chat_targets(session, data.chat_target_ids)
    await check_audiences(session, principal, data.audience_ids)
    message = Message(
        **_columns_of(data),
        unit=principal.unit,
        status=Status.DRAFT,
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
    )
    _validate(message)
    session.add(message)
    await session.flush()
    await set_message_audiences(session, message_id=message.id, audience_ids=data.audience_ids)
    await save_sharing(session, message_id=message.id, changes=data.model_dump())
    sharing = await sharing_of(session, [message.id])
    await record(
        session,
        principal,
        action="message.created",
        entity_type="message",
        entity_id=message.id,
        details={"title": message.title, "category": message.category},
    )
    audience_ids = list(dict.fromkeys(data.audience_ids))
    return message_out(message, audience_ids=audience_ids, **sharing[message.id])


async def get_message(
    session: AsyncSession, _principal: Principal, *, message_id: uuid.UUID
) -> MessageOut:
    return await _out(session, await _load(session, message_id))


async def list_messages(
    session: AsyncSession,
    principal: Principal,
    *,
    page: PageParams,
    status: Status | None = None,
    category: Category | None = None,
    tag: str | None = None,
    q: str | None = None,
) -> Page[MessageOut]:
    """Messages newest first, filtered by status, category, tag and text in title/summary
    (for a scoped principal: its unit's and HQ's localizable ones)."""
    stmt = select(Message).where(visible_messages(principal))
    if status is not None:
        stmt = stmt.where(Message.status == status)
    if category is not None:
        stmt = stmt.where(Message.category == category)
    if tag:
        stmt = stmt.where(sql.json_array_contains(sql.dialect_of(session), Message.tags, tag))
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        stmt = stmt.where(
            or_(
                Message.title.ilike(pattern, escape="\\"),
                Message.summary.ilike(pattern, escape="\\"),
            )
        )
    stmt = keyset(stmt, page, [Message.created_at, Message.id])
    rows = (await session.execute(stmt)).scalars().all()
    audiences = await get_message_audience_ids(session, message_ids=[m.id for m in rows])
    sharing = await sharing_of(session, [m.id for m in rows])
    return make_page(
        rows,
        page,
        lambda m: (m.created_at, m.id),
        lambda m: message_out(m, audience_ids=audiences[m.id], **sharing[m.id]),
    )


async def _change(
    session: AsyncSession,
    principal: Principal,
    message: Message,
    changes: dict[str, Any],
    *,
    action: str,
    require_reacknowledgement: bool = False,
    details: dict[str, Any] | None = None,
    also_changed: frozenset[str] = frozenset(),
) -> None:
    """Apply column changes under the lifecycle rules; a published content change is a new version."""
    if message.status == Status.ARCHIVED:
        raise Conflict("Archived messages cannot be edited; create a new message instead.")
    changes = {k: v for k, v in changes.items() if getattr(message, k) != v}
    if changes.keys() & DELIVERY_FIELDS and message.status == Status.PUBLISHED:
        raise Conflict(
            "The channels of a published message cannot change: its deliveries were planned "
            "when it was published."
        )
    if "publish_at" in changes:
        if message.status == Status.PUBLISHED:
            raise Conflict("This message is already published; its publication time cannot change.")
        if message.status == Status.SCHEDULED and changes["publish_at"] is None:
            raise Conflict(
                "A scheduled message needs `publish_at`: publish it now with "
                "`POST …/publish`, or set another time."
            )
    new_version = message.status == Status.PUBLISHED and bool(changes.keys() & CONTENT_FIELDS)
    if require_reacknowledgement and not new_version:
        raise Conflict(
            "`require_reacknowledgement` applies only to a change of the content (title, "
            "summary, body, locale, translations, acknowledgement text, pulse question, quiz) of a "
            "published message."
        )
    for name, value in changes.items():
        setattr(message, name, value)
    _validate(message)
    if message.status in (Status.SCHEDULED, Status.PUBLISHED):
        _require_acknowledgement_text(message)
    if require_reacknowledgement and not message.requires_acknowledgement:
        raise Conflict(
            "This message asks for no acknowledgement, so there is nothing to re-acknowledge."
        )
    if not changes and not also_changed:
        return
    now = utcnow()
    if new_version:
        message.version += 1
        if require_reacknowledgement:
            message.acknowledgement_version = message.version
        session.add(_snapshot(message, principal, at=now, reacknowledge=require_reacknowledgement))
    _touch(message, now)
    await _editions_follow(session, principal, message, new_version=new_version)
    if new_version:
        await emit(
            session,
            type="message.updated",
            message_id=message.id,
            data=_event_data(
                message,
                acknowledgement_version=message.acknowledgement_version,
                requires_reacknowledgement=require_reacknowledgement,
            ),
        )
    await record(
        session,
        principal,
        action=action,
        entity_type="message",
        entity_id=message.id,
        details={
            **(details or {}),
            "fields": sorted(changes.keys() | also_changed),
            "version": message.version,
            "new_version": new_version,
            "require_reacknowledgement": require_reacknowledgement,
        },
    )


async def _editions_follow(
    session: AsyncSession, principal: Principal, message: Message, *, new_version: bool
) -> None:
    """An edit's effects on review and local editions (app/editions): the editor is an
    author (never its approver); what was submitted or approved goes back to review; a new
    version makes the editions outdated."""
    message.updated_by = principal.actor
    if message.status in (Status.DRAFT, Status.SCHEDULED):
        was_approved = message.review_status == ReviewStatus.APPROVED
        review.edited(message)
        if message.status == Status.SCHEDULED and was_approved:
            # what was approved is not what would go out: back to a draft, to be approved and
            # scheduled again (the scheduler would otherwise fail on it at every pass)
            message.status = Status.DRAFT
    await session.flush()
    if new_version:
        await mark_outdated(session, message_id=message.id, version=message.version)


async def update_message(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    data: MessageUpdate,
    if_match: str | None = None,
) -> MessageOut:
    """Edit a message; on a published one a content change makes a new version."""
    message = await _load_for_edit(session, message_id, if_match)
    audiences_changed = await _change_audiences(session, principal, message, data)
    sharing_changed = await save_sharing(
        session, message_id=message.id, changes=data.model_dump(exclude_unset=True)
    )
    changes = _columns_of(data, exclude_unset=True)
    if data.chat_target_ids:
        await check_chat_targets(session, data.chat_target_ids)
    if "feedback" in changes:  # a partial object: the settings it names change, others stay
        changes["feedback"] = {**message.feedback, **changes["feedback"]}
    await _change(
        session,
        principal,
        message,
        changes,
        action="message.updated",
        require_reacknowledgement=data.require_reacknowledgement,
        also_changed=frozenset(
            ({"audience_ids"} if audiences_changed else set())
            | ({"sharing"} if sharing_changed else set())
        ),
    )
    return await _out(session, message)


async def _change_audiences(
    session: AsyncSession, principal: Principal, message: Message, data: MessageUpdate
) -> bool:
    """Replace the audiences when the edit names them; True when they changed."""
    if data.audience_ids is None:
        return False
    await check_audiences(session, principal, data.audience_ids)
    wanted = list(dict.fromkeys(data.audience_ids))
    current = (await get_message_audience_ids(session, message_ids=[message.id]))[message.id]
    if wanted == current:
        return False
    if message.status in (Status.PUBLISHED, Status.ARCHIVED):
        raise Conflict(
            f"The audiences of a {message.status} message cannot change: its recipients were "
            "resolved when it was published. Publish a new message to reach other people."
        )
    await set_message_audiences(session, message_id=message.id, audience_ids=wanted)
    return True


async def save_translation(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    locale: str,
    content: dict[str, Any] | None,
    if_match: str | None,
    require_reacknowledgement: bool,
) -> MessageOut:
    """Add or replace (`content`) or remove (None) the translation into `locale` (already
    normalized), under the lifecycle rules; 404 when removing one that does not exist."""
    message = await _load_for_edit(session, message_id, if_match)
    if content is None:
        if locale not in message.translations:
            raise NotFound(f"This message has no translation into '{locale}'.")
        translations = {k: v for k, v in message.translations.items() if k != locale}
    else:
        if locale == message.locale:
            raise ValidationFailed(
                [
                    field_error(
                        "path.locale",
                        f"'{locale}' is the message's own locale; edit title, summary and body "
                        "instead",
                    )
                ]
            )
        translations = {**message.translations, locale: content}
    await _change(
        session,
        principal,
        message,
        {"translations": translations},
        action="message.translation_saved"
        if content is not None
        else "message.translation_deleted",
        require_reacknowledgement=require_reacknowledgement,
        details={"locale": locale},
    )
    return await _out(session, message)


async def delete_message(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    if_match: str | None = None,
) -> None:
    """Delete a draft; anything that was scheduled or delivered is archived instead."""
    message = await _load_for_edit(session, message_id, if_match)
    if message.status != Status.DRAFT:
        raise Conflict(
            f"Only drafts can be deleted; this message is {message.status}. "
            "Archive it instead: that stops delivery and keeps its reports."
        )
    title = message.title
    await session.delete(message)
    await session.flush()
    await record(
        session,
        principal,
        action="message.deleted",
        entity_type="message",
        entity_id=message_id,
        details={"title": title},
    )


async def _publish(
    session: AsyncSession,
    principal: Principal,
    message: Message,
    *,
    at: datetime | None,
    now: datetime,
    review_required: frozenset[str] = frozenset(),
) -> list[uuid.UUID]:
    """Publish now (`at` absent or not in the future) or schedule; the one path for both
    the endpoint and the scheduler. The caller holds the row lock. Returns the audience ids
    (read once, with the rules the recipients are resolved from). A message in review, or of
    a category in `review_required`, needs its approval (checked when it is scheduled too)."""
    if message.status == Status.ARCHIVED:
        raise Conflict(
            "This message is archived; archived messages cannot be published again. "
            "Create a new message instead."
        )
    if message.status == Status.PUBLISHED:
        raise Conflict(
            f"This message was already published at {message.published_at.isoformat()}; "
            "edit it to publish a new version."
        )
    when = at if at is not None and at > now else now
    if message.review_status is not None or message.category in review_required:
        review.require_approved(message, "This message")
    _require_acknowledgement_text(message)
    audiences = await message_audience_specs(session, message_id=message.id)
    if not audiences:
        raise Conflict(
            "This message has no audience, so publishing it would reach nobody: "
            "set `audience_ids` first."
        )
    if Channel.CHAT in message.channels and not message.chat_target_ids:
        raise Conflict(
            "This message names the `chat` channel but no chat target: set `chat_target_ids`."
        )
    if message.expires_at is not None and message.expires_at <= now:
        raise Conflict(
            f"This message expired at {message.expires_at.isoformat()}, which is in the past: "
            "change or clear `expires_at` before publishing it."
        )
    if message.expires_at is not None and message.expires_at <= when:
        raise Conflict(
            f"This message would expire ({message.expires_at.isoformat()}) before it is "
            f"published ({when.isoformat()}): change `expires_at` or `publish_at`."
        )
    if when > now:
        message.status = Status.SCHEDULED
        message.publish_at = when
        action = "message.scheduled"
    else:
        # keep a scheduled time that has come; otherwise record when it was asked for
        if at is not None or message.publish_at is None or message.publish_at > now:
            message.publish_at = at or now
        message.status = Status.PUBLISHED
        message.published_at = now
        session.add(_snapshot(message, principal, at=now))
        await session.flush()
        message.recipient_count = await materialize_recipients(
            session,
            message_id=message.id,
            audiences=[spec for _, spec in audiences],
            published_at=now,
            acknowledge_within_days=message.acknowledge_within_days,
        )
        await plan_deliveries(session, message=message, at=now)
        await assign_editions(session, message_id=message.id)
        action = "message.published"
    _touch(message, now)
    await session.flush()
    await emit(session, type=action, message_id=message.id, data=_event_data(message))
    await record(
        session,
        principal,
        action=action,
        entity_type="message",
        entity_id=message.id,
        details={
            "publish_at": when.isoformat(),
            "version": message.version,
            "recipient_count": message.recipient_count,
        },
    )
    return [audience_id for audience_id, _ in audiences]


async def publish_message(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    publish_at: datetime | None = None,
    if_match: str | None = None,
    review_required: frozenset[str] = frozenset(),
) -> MessageOut:
    """Publish now, or schedule for a future `publish_at` (categories in `review_required`
    only once approved)."""
    message = await _load_for_edit(session, message_id, if_match)
    audience_ids = await _publish(
        session, principal, message, at=publish_at, now=utcnow(), review_required=review_required
    )
    sharing = await sharing_of(session, [message.id])
    return message_out(message, audience_ids=audience_ids, **sharing[message.id])


async def _archive(
    session: AsyncSession,
    principal: Principal,
    message: Message,
    *,
    now: datetime,
    reason: str | None = None,
) -> None:
    if message.status == Status.DRAFT:
        raise Conflict(
            "Drafts were never delivered, so there is nothing to archive; delete the draft instead."
        )
    if message.status == Status.ARCHIVED:
        raise Conflict(f"This message was already archived at {message.archived_at.isoformat()}.")
    previous = message.status
    message.status = Status.ARCHIVED
    message.archived_at = now
    _touch(message, now)
    await session.flush()
    await emit(
        session,
        type="message.archived",
        message_id=message.id,
        data=_event_data(message, previous_status=previous, reason=reason),
    )
    await record(
        session,
        principal,
        action="message.archived",
        entity_type="message",
        entity_id=message.id,
        details={"previous_status": previous, **({"reason": reason} if reason else {})},
    )


async def archive_message(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    if_match: str | None = None,
) -> MessageOut:
    """Stop delivering a published (or cancel a scheduled) message; its reports stay."""
    message = await _load_for_edit(session, message_id, if_match)
    await _archive(session, principal, message, now=utcnow())
    return await _out(session, message)


async def list_versions(
    session: AsyncSession, _principal: Principal, *, message_id: uuid.UUID, page: PageParams
) -> Page[MessageVersionOut]:
    """The published versions of a message, newest first."""
    if (
        await session.execute(select(Message.id).where(Message.id == message_id))
    ).scalar_one_or_none() is None:
        raise NotFound("No message with this id.")
    stmt = keyset(
        select(MessageVersion).where(MessageVersion.message_id == message_id),
        page,
        [MessageVersion.version],
    )
    rows = (await session.execute(stmt)).scalars().all()
    return make_page(
        rows,
        page,
        lambda v: (v.version,),
        lambda v: MessageVersionOut.model_validate(v, from_attributes=True),
    )


async def publish_due(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Publish scheduled messages whose `publish_at` has come; return their ids.

    Rows are claimed with `FOR UPDATE SKIP LOCKED`, so replicas running this at the same time
    split the work and never publish a message twice. Each message gets its own savepoint: one
    that fails is logged and retried on the next pass without holding back the others. A
    message that expired before it could be published is archived rather than published.
    """
    stmt = (
        select(Message)
        .where(Message.status == Status.SCHEDULED, Message.publish_at <= now)
        .order_by(Message.publish_at, Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    due = (await session.execute(stmt)).scalars().all()
    published: list[uuid.UUID] = []
    for message in due:
        message_id = message.id
        try:
            async with session.begin_nested():
                if message.expires_at is not None and message.expires_at <= now:
                    await _archive(
                        session,
                        SCHEDULER,
                        message,
                        now=now,
                        reason="expired before its scheduled publication",
                    )
                    logger.warning("scheduled message %s expired unpublished", message_id)
                    continue
                await _publish(session, SCHEDULER, message, at=None, now=now)
        except Exception:
            logger.exception("could not publish scheduled message %s", message_id)
            continue
        published.append(message_id)
    return published


EXPIRED_NOTICE = "expired"


async def announce_expired(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Emit `message.expired` once for each published message whose `expires_at` has passed.

    Expiry needs no status change (readers filter on `expires_at`); what was announced is
    remembered as an `expired` due notice, claimed with `SKIP LOCKED` so replicas split the work.
    """
    announced = exists().where(DueNotice.message_id == Message.id, DueNotice.kind == EXPIRED_NOTICE)
    stmt = (
        select(Message)
        .where(Message.status == Status.PUBLISHED, Message.expires_at <= now, ~announced)
        .order_by(Message.expires_at, Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    expired = (await session.execute(stmt)).scalars().all()
    for message in expired:
        event_id = await emit(
            session, type="message.expired", message_id=message.id, data=_event_data(message)
        )
        session.add(
            DueNotice(
                message_id=message.id,
                kind=EXPIRED_NOTICE,
                last_emitted_at=now,
                last_event_id=event_id,
            )
        )
    await session.flush()
    return len(expired)


async def message_lifecycle_job(session: AsyncSession) -> None:
    """The scheduler's pass over messages: publish what is due, announce what expired."""
    now = utcnow()
    await publish_due(session, now=now)
    await announce_expired(session, now=now)
