"""Feedback from the employee's side: reactions, pulse answers, comments and questions; and
what other areas need of feedback (the caller's reaction and pulse as feed columns, the
localized pulse question, forgetting an erased author). Moderation is `app.feedback.moderation`,
the figures `app.feedback.figures`.

Employee-side calls go through `app.receipts.access` (404 unless the caller is a recipient,
409 once the message is closed). One reaction and one pulse answer per employee: the
(message, employee) primary key of each table makes repeated and concurrent requests leave one
row and never fail (a pulse answer is one `INSERT … ON CONFLICT DO UPDATE`; a reaction is read
locked first, because the per-message counts of `app.feedback.counts` need the one it replaces).

Anonymous comments: the row has no author (a check constraint refuses one), the audit event
names the actor `employee:anonymous` and carries no request id, the webhook event has no
author, and the request writes nothing else that names the employee (it reads the caller's
delivery without locking it), so neither the API nor the database can give the author back.
"""

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound
from app.core.observability import request_id_var
from app.core.pagination import Page, PageParams, fetch_page
from app.core.principal import Principal
from app.employees.models import Employee
from app.feedback.counts import move_reaction
from app.feedback.events import notify_comment_created
from app.feedback.models import (
    Comment,
    CommentKind,
    PulseAnswer,
    Reaction,
    ReactionKind,
)
from app.feedback.schemas import (
    AnswerOut,
    AuthorOut,
    CommentOut,
    PulseOut,
    ReactionOut,
)
from app.messages.models import DEFAULT_FEEDBACK, Message
from app.receipts.access import delivery_for, open_delivery_for

# The actor of anonymous writes: names no one.
ANONYMOUS = Principal(kind="employee", id="anonymous", name="anonymous")


@contextmanager
def _without_request_id() -> Iterator[None]:
    # The request id also sits in the access log and maybe the caller's own logs; an anonymous
    # comment's audit row must not offer that join.
    token = request_id_var.set(None)
    try:
        yield
    finally:
        request_id_var.reset(token)


@dataclass(frozen=True)
class _MessageFeedback:
    pulse_question: str | None
    settings: dict[str, bool]


async def _message_feedback(session: AsyncSession, message_id: uuid.UUID) -> _MessageFeedback:
    row = (
        await session.execute(
            select(Message.pulse_question, Message.feedback).where(Message.id == message_id)
        )
    ).one()
    return _MessageFeedback(row.pulse_question, {**DEFAULT_FEEDBACK, **(row.feedback or {})})


# --- reactions and pulse ------------------------------------------------------------------


async def set_reaction(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, reaction: ReactionKind
) -> ReactionOut:
    """Set (or replace) the caller's one reaction to a message; the counts follow."""
    now = utcnow()
    await open_delivery_for(session, principal, message_id=message_id, now=now)
    if not (await _message_feedback(session, message_id)).settings["reactions"]:
        raise Conflict("Reactions are turned off for this message.")
    old, reacted_at = await _put_reaction(
        session,
        employee_id=principal.employee_id,
        message_id=message_id,
        reaction=reaction,
        now=now,
    )
    if old != reaction.value:
        await record(
            session,
            principal,
            action="reaction.set",
            entity_type="message",
            entity_id=message_id,
            details={"reaction": reaction.value},
        )
        await move_reaction(session, message_id=message_id, old=old, new=reaction.value)
    return ReactionOut(message_id=message_id, reaction=reaction, reacted_at=reacted_at)


async def _put_reaction(
    session: AsyncSession,
    *,
    employee_id: uuid.UUID,
    message_id: uuid.UUID,
    reaction: ReactionKind,
    now: datetime,
) -> tuple[str | None, datetime]:
    """Store the reaction; returns the one it replaced (None if none, itself if unchanged)
    and when the stored one was given.

    The counts need the replaced reaction, which an upsert does not return: the row is read
    locked (`FOR UPDATE` on PostgreSQL; SQLite writers hold the database) and then updated,
    or else inserted. An insert that meets a concurrent insert of the same caller waits for it
    to commit and does nothing; the next round then reads (and locks) that row.
    """
    mine = and_(Reaction.message_id == message_id, Reaction.employee_id == employee_id)
    for _ in range(3):
        current = (
            await session.execute(
                select(Reaction.reaction, Reaction.reacted_at).where(mine).with_for_update()
            )
        ).one_or_none()
        if current is not None:
            if current.reaction == reaction.value:
                return current.reaction, current.reacted_at
            await session.execute(
                update(Reaction).where(mine).values(reaction=reaction.value, reacted_at=now)
            )
            return current.reaction, now
        inserted = await session.execute(
            sql.insert(session, Reaction)
            .values(
                message_id=message_id,
                employee_id=employee_id,
                reaction=reaction.value,
                reacted_at=now,
            )
            .on_conflict_do_nothing(index_elements=["message_id", "employee_id"])
            .returning(Reaction.reacted_at)
        )
        if inserted.first() is not None:
            return None, now
    # only a reaction removed and put back concurrently, three times over, gets here
    raise Conflict("Your reaction changed while this request ran; try again.")


async def remove_reaction(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID
) -> None:
    """Remove the caller's reaction; nothing to remove is fine."""
    await open_delivery_for(session, principal, message_id=message_id, now=utcnow())
    removed = (
        await session.execute(
            delete(Reaction)
            .where(Reaction.message_id == message_id, Reaction.employee_id == principal.employee_id)
            .returning(Reaction.reaction)
        )
    ).scalar_one_or_none()
    if removed is not None:
        await record(
            session,
            principal,
            action="reaction.removed",
            entity_type="message",
            entity_id=message_id,
        )
        await move_reaction(session, message_id=message_id, old=removed, new=None)


async def answer_pulse(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, score: int
) -> PulseOut:
    """Set (or change, while the message is open) the caller's answer to its pulse question."""
    now = utcnow()
    await open_delivery_for(session, principal, message_id=message_id, now=now)
    if (await _message_feedback(session, message_id)).pulse_question is None:
        raise Conflict("This message asks no pulse question.")
    ins = sql.insert(session, PulseAnswer).values(
        message_id=message_id, employee_id=principal.employee_id, score=score, answered_at=now
    )
    stmt = ins.on_conflict_do_update(
        index_elements=["message_id", "employee_id"],
        set_={"score": ins.excluded.score, "answered_at": ins.excluded.answered_at},
        where=PulseAnswer.score != ins.excluded.score,
    ).returning(PulseAnswer.answered_at)
    answered_at = (await session.execute(stmt)).scalar_one_or_none()
    if answered_at is None:
        answered_at = (
            await session.execute(
                select(PulseAnswer.answered_at).where(
                    PulseAnswer.message_id == message_id,
                    PulseAnswer.employee_id == principal.employee_id,
                )
            )
        ).scalar_one()
    else:
        # the score stays out of the audit trail: pulse answers are only shown in aggregate
        await record(
            session, principal, action="pulse.answered", entity_type="message", entity_id=message_id
        )
    return PulseOut(message_id=message_id, score=score, answered_at=answered_at)


# --- comments: employee side --------------------------------------------------------------


def comment_view(*more: Any) -> Select:
    """A comment's columns, its author's display name (none when anonymous or forgotten), and
    `more` columns: what employees see, and the start of what moderators see."""
    return (
        select(
            Comment.id,
            Comment.message_id,
            Comment.kind,
            Comment.body,
            Comment.anonymous,
            Comment.author_id,
            Comment.created_at,
            Comment.answer,
            Comment.answered_at,
            Employee.display_name,
            *more,
        )
        .select_from(Comment)
        .outerjoin(Employee, Employee.id == Comment.author_id)
    )


def _employee_comment(row: Any) -> CommentOut:
    return CommentOut(
        id=row.id,
        message_id=row.message_id,
        kind=row.kind,
        body=row.body,
        anonymous=row.anonymous,
        author=AuthorOut(display_name=row.display_name) if row.author_id is not None else None,
        created_at=row.created_at,
        answer=(
            AnswerOut(body=row.answer, answered_at=row.answered_at)
            if row.answer is not None
            else None
        ),
    )


async def create_comment(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    kind: CommentKind,
    body: str,
    author_secret: str | None = None,
) -> CommentOut:
    """Post a comment or question; anonymous (no author kept anywhere) when the message says so.
    An anonymous comment keeps the SHA-256 of `author_secret` (issue 21), and a retry with the
    same secret answers the comment it made."""
    now = utcnow()
    await open_delivery_for(session, principal, message_id=message_id, now=now)
    settings = (await _message_feedback(session, message_id)).settings
    if not settings["comments"]:
        raise Conflict("Comments and questions are turned off for this message.")
    anonymous = settings["anonymous_comments"]
    comment_id = uuid.uuid4()
    secret_hash = secret_sha256(author_secret) if anonymous and author_secret else None
    values = {
        "id": comment_id,
        "message_id": message_id,
        "author_id": None if anonymous else principal.employee_id,
        "anonymous": anonymous,
        "kind": kind.value,
        "body": body,
        "created_at": now,
        "author_secret_sha256": secret_hash,
    }
    if secret_hash is None:
        await session.execute(insert(Comment).values(**values))
    else:
        made = await session.execute(
            sql.insert(session, Comment)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["author_secret_sha256"])
            .returning(Comment.id)
        )
        if made.scalar_one_or_none() is None:  # a retry: the comment this secret made
            row = (
                await session.execute(
                    comment_view().where(Comment.author_secret_sha256 == secret_hash)
                )
            ).one()
            if row.message_id != message_id:
                raise Conflict("This `author_secret` belongs to another comment; make a new one.")
            return _employee_comment(row)
    details = {"message_id": str(message_id), "kind": kind.value, "anonymous": anonymous}
    if anonymous:
        with _without_request_id():
            await record(
                session,
                ANONYMOUS,
                action="comment.created",
                entity_type="comment",
                entity_id=comment_id,
                details=details,
            )
    else:
        await record(
            session,
            principal,
            action="comment.created",
            entity_type="comment",
            entity_id=comment_id,
            details=details,
        )
    row = (await session.execute(comment_view().where(Comment.id == comment_id))).one()
    await notify_comment_created(
        session,
        message_id=message_id,
        comment_id=comment_id,
        kind=kind,
        body=body,
        created_at=now,
        anonymous=anonymous,
        author_external_id=None if anonymous else principal.external_id,
        author_name=None if anonymous else row.display_name,
    )
    return _employee_comment(row)


def secret_sha256(secret: str) -> str:
    """What an anonymous comment keeps of its author's secret (issue 21)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def comments_are_anonymous(session: AsyncSession, message_id: uuid.UUID) -> bool:
    """Whether comments on the message are anonymous now (False when there is no message)."""
    settings = (
        await session.execute(select(Message.feedback).where(Message.id == message_id))
    ).scalar_one_or_none()
    return (
        bool({**DEFAULT_FEEDBACK, **(settings or {})}["anonymous_comments"]) if settings else False
    )


async def list_comments(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, page: PageParams
) -> Page[CommentOut]:
    """The visible comments and questions of a message sent to the caller, newest first."""
    await delivery_for(session, principal, message_id=message_id, now=utcnow())
    stmt = comment_view().where(Comment.message_id == message_id, Comment.hidden_at.is_(None))
    keys = [Comment.created_at, Comment.id]
    return await fetch_page(session, stmt, page, keys, _employee_comment)


async def get_comment(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, comment_id: uuid.UUID
) -> CommentOut:
    """One visible comment of a message sent to the caller."""
    await delivery_for(session, principal, message_id=message_id, now=utcnow())
    row = (
        await session.execute(
            comment_view().where(
                Comment.id == comment_id,
                Comment.message_id == message_id,
                Comment.hidden_at.is_(None),
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No visible comment with this id on this message.")
    return _employee_comment(row)


async def require_message(session: AsyncSession, message_id: uuid.UUID) -> Any:
    """The message feedback is asked about (its id and pulse question); 404 when none."""
    row = (
        await session.execute(
            select(Message.id, Message.pulse_question).where(Message.id == message_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No message with this id.")
    return row


# --- for other areas ----------------------------------------------------------------------


def my_reaction_column(employee_id: Any, message_id: Any = Message.id) -> Any:
    """The reaction of the employee `employee_id` names (an id, or a column such as
    `Recipient.employee_id`) to the message `message_id` names, as a column a feed can select:
    a primary-key lookup per row."""
    return (
        select(Reaction.reaction)
        .where(Reaction.message_id == message_id, Reaction.employee_id == employee_id)
        .scalar_subquery()
    )


def my_pulse_column(employee_id: Any, message_id: Any = Message.id) -> Any:
    """The pulse score of the employee `employee_id` names for the message `message_id`
    names, as a column (as `my_reaction_column`)."""
    return (
        select(PulseAnswer.score)
        .where(PulseAnswer.message_id == message_id, PulseAnswer.employee_id == employee_id)
        .scalar_subquery()
    )


def localized_pulse_question(
    pulse_question: str | None, translations: dict[str, Any] | None, locale: str
) -> str | None:
    """The pulse question in `locale` (the locale a feed item is served in), else the original."""
    if pulse_question is None:
        return None
    translated = (translations or {}).get(locale) or {}
    return translated.get("pulse_question") or pulse_question


async def forget_author(session: AsyncSession, *, employee_id: uuid.UUID) -> None:
    """Unlink an erased employee from the comments they wrote; the comments, their reactions
    and pulse answers (by unit, through the anonymized employee row) stay in the figures."""
    await session.execute(
        update(Comment).where(Comment.author_id == employee_id).values(author_id=None)
    )
