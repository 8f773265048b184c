"""Feedback: reactions, pulse answers, comments and questions, their figures, and moderation.

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

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    SmallInteger,
    String,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound
from app.core.observability import request_id_var
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal
from app.core.sql import count_when
from app.employees.models import Employee
from app.feedback.counts import move_reaction
from app.feedback.events import notify_comment_created
from app.feedback.models import (
    PULSE_SCORES,
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
    FeedbackGroup,
    FeedbackOut,
    ModeratedAnswerOut,
    ModeratedAuthorOut,
    ModeratedCommentOut,
    PulseFigures,
    PulseOut,
    ReactionOut,
    ReactionSummary,
)
from app.messages.models import DEFAULT_FEEDBACK, Message
from app.receipts.access import delivery_for, open_delivery_for
from app.receipts.models import Recipient
from app.reports.aggregates import OTHER, GroupBy, add_up, group_label, partition

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


def _employee_view() -> Select:
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
) -> CommentOut:
    """Post a comment or question; anonymous (no author kept anywhere) when the message says so."""
    now = utcnow()
    await open_delivery_for(session, principal, message_id=message_id, now=now)
    settings = (await _message_feedback(session, message_id)).settings
    if not settings["comments"]:
        raise Conflict("Comments and questions are turned off for this message.")
    anonymous = settings["anonymous_comments"]
    comment_id = uuid.uuid4()
    await session.execute(
        insert(Comment).values(
            id=comment_id,
            message_id=message_id,
            author_id=None if anonymous else principal.employee_id,
            anonymous=anonymous,
            kind=kind.value,
            body=body,
            created_at=now,
        )
    )
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
    row = (await session.execute(_employee_view().where(Comment.id == comment_id))).one()
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


async def list_comments(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, page: PageParams
) -> Page[CommentOut]:
    """The visible comments and questions of a message sent to the caller, newest first."""
    await delivery_for(session, principal, message_id=message_id, now=utcnow())
    stmt = _employee_view().where(Comment.message_id == message_id, Comment.hidden_at.is_(None))
    stmt = keyset(stmt, page, [Comment.created_at, Comment.id])
    rows = (await session.execute(stmt)).all()
    return make_page(rows, page, lambda r: (r.created_at, r.id), _employee_comment)


async def get_comment(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, comment_id: uuid.UUID
) -> CommentOut:
    """One visible comment of a message sent to the caller."""
    await delivery_for(session, principal, message_id=message_id, now=utcnow())
    row = (
        await session.execute(
            _employee_view().where(
                Comment.id == comment_id,
                Comment.message_id == message_id,
                Comment.hidden_at.is_(None),
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No visible comment with this id on this message.")
    return _employee_comment(row)


# --- comments: moderation -----------------------------------------------------------------


def _moderated_view() -> Select:
    return (
        select(
            Comment.id,
            Comment.message_id,
            Comment.kind,
            Comment.body,
            Comment.anonymous,
            Comment.author_id,
            Comment.created_at,
            Comment.hidden_at,
            Comment.hidden_by,
            Comment.answer,
            Comment.answered_at,
            Comment.answered_by,
            Employee.external_id,
            Employee.display_name,
        )
        .select_from(Comment)
        .outerjoin(Employee, Employee.id == Comment.author_id)
    )


def _moderated_comment(row: Any) -> ModeratedCommentOut:
    return ModeratedCommentOut(
        id=row.id,
        message_id=row.message_id,
        kind=row.kind,
        body=row.body,
        anonymous=row.anonymous,
        author=(
            ModeratedAuthorOut(external_id=row.external_id, display_name=row.display_name)
            if row.author_id is not None
            else None
        ),
        created_at=row.created_at,
        hidden=row.hidden_at is not None,
        hidden_at=row.hidden_at,
        hidden_by=row.hidden_by,
        answer=(
            ModeratedAnswerOut(
                body=row.answer, answered_at=row.answered_at, answered_by=row.answered_by
            )
            if row.answer is not None
            else None
        ),
    )


async def _require_message(session: AsyncSession, message_id: uuid.UUID) -> Any:
    row = (
        await session.execute(
            select(Message.id, Message.pulse_question).where(Message.id == message_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No message with this id.")
    return row


async def moderate_list(
    session: AsyncSession,
    _principal: Principal,
    *,
    message_id: uuid.UUID,
    page: PageParams,
    kind: CommentKind | None = None,
    answered: bool | None = None,
    hidden: bool | None = None,
) -> Page[ModeratedCommentOut]:
    """A message's comments and questions for moderators (hidden ones too), newest first."""
    await _require_message(session, message_id)
    stmt = _moderated_view().where(Comment.message_id == message_id)
    if kind is not None:
        stmt = stmt.where(Comment.kind == kind.value)
    if answered is not None:
        stmt = stmt.where(Comment.answer.is_not(None) if answered else Comment.answer.is_(None))
    if hidden is not None:
        stmt = stmt.where(Comment.hidden_at.is_not(None) if hidden else Comment.hidden_at.is_(None))
    stmt = keyset(stmt, page, [Comment.created_at, Comment.id])
    rows = (await session.execute(stmt)).all()
    return make_page(rows, page, lambda r: (r.created_at, r.id), _moderated_comment)


async def _locked_comment(
    session: AsyncSession, message_id: uuid.UUID, comment_id: uuid.UUID
) -> Comment:
    comment = (
        await session.execute(
            select(Comment)
            .where(Comment.id == comment_id, Comment.message_id == message_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if comment is None:
        raise NotFound("No comment with this id on this message.")
    return comment


async def _moderated(session: AsyncSession, comment_id: uuid.UUID) -> ModeratedCommentOut:
    row = (await session.execute(_moderated_view().where(Comment.id == comment_id))).one()
    return _moderated_comment(row)


async def answer_comment(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    comment_id: uuid.UUID,
    body: str,
) -> ModeratedCommentOut:
    """Answer a question (or comment); a second answer replaces the first."""
    comment = await _locked_comment(session, message_id, comment_id)
    replaced = comment.answer is not None
    if comment.answer != body:
        comment.answer = body
        comment.answered_at = utcnow()
        comment.answered_by = principal.actor
        await session.flush()
        await record(
            session,
            principal,
            action="comment.answered",
            entity_type="comment",
            entity_id=comment_id,
            details={"message_id": str(message_id), "replaced": replaced},
        )
    return await _moderated(session, comment_id)


async def set_hidden(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    comment_id: uuid.UUID,
    hidden: bool,
) -> ModeratedCommentOut:
    """Hide a comment from employees (or show it again); doing it twice changes nothing."""
    comment = await _locked_comment(session, message_id, comment_id)
    if (comment.hidden_at is not None) != hidden:
        comment.hidden_at = utcnow() if hidden else None
        comment.hidden_by = principal.actor if hidden else None
        await session.flush()
        await record(
            session,
            principal,
            action="comment.hidden" if hidden else "comment.unhidden",
            entity_type="comment",
            entity_id=comment_id,
            details={"message_id": str(message_id)},
        )
    return await _moderated(session, comment_id)


# --- figures ------------------------------------------------------------------------------


def _responses(message_id: uuid.UUID):
    """One row per recipient, pulse answer and reaction of a message (for one GROUP BY)."""
    no_score = cast(null(), SmallInteger)
    no_reaction = cast(null(), String)
    return union_all(
        select(
            Recipient.employee_id.label("employee_id"),
            literal(1).label("recipient"),
            no_score.label("score"),
            no_reaction.label("reaction"),
        ).where(Recipient.message_id == message_id),
        select(PulseAnswer.employee_id, literal(0), PulseAnswer.score, no_reaction).where(
            PulseAnswer.message_id == message_id
        ),
        select(Reaction.employee_id, literal(0), no_score, Reaction.reaction).where(
            Reaction.message_id == message_id
        ),
    ).subquery("responses")


def _reaction_summary(row: dict[str, int]) -> ReactionSummary:
    return ReactionSummary(total=row["reactors"], **{k.value: row[k.value] for k in ReactionKind})


def _pulse_figures(row: dict[str, int]) -> PulseFigures:
    return PulseFigures(
        responses=row["responses"],
        mean=round(row["score_sum"] / row["responses"], 2),
        distribution={str(s): row[f"score_{s}"] for s in PULSE_SCORES},
    )


async def message_feedback(
    session: AsyncSession,
    _principal: Principal,
    *,
    message_id: uuid.UUID,
    min_group_size: int,
    group_by: GroupBy | None = None,
) -> FeedbackOut:
    """Reactions, pulse and comment counts of a message, optionally per unit.

    Pulse figures appear only with at least `min_group_size` respondents; per unit, see
    `app.reports.aggregates` for how small units are merged into "(other)".
    """
    message = await _require_message(session, message_id)
    r = _responses(message_id)
    figures = [
        func.coalesce(func.sum(r.c.recipient), 0).label("recipients"),
        func.count(r.c.reaction).label("reactors"),
        *(count_when(r.c.reaction == k.value).label(k.value) for k in ReactionKind),
        func.count(r.c.score).label("responses"),
        func.coalesce(func.sum(r.c.score), 0).label("score_sum"),
        *(count_when(r.c.score == s).label(f"score_{s}") for s in PULSE_SCORES),
    ]
    if group_by is None:
        stmt = select(*figures).select_from(r)
    else:
        unit = getattr(Employee, group_by.value)
        stmt = (
            select(unit.label("unit"), *figures)
            .select_from(r)
            .join(Employee, Employee.id == r.c.employee_id)
            .group_by(unit)
        )
    rows: dict[str, dict[str, int]] = {}
    for row in (await session.execute(stmt)).mappings():
        label = group_label(row["unit"]) if group_by is not None else OTHER
        values = {k: int(v or 0) for k, v in row.items() if k != "unit"}
        rows[label] = add_up([rows.get(label, {}), values])
    total = dict.fromkeys((f.name for f in figures), 0) | add_up(rows.values())
    counts = await _comment_counts(session, message_id)
    groups = _groups(rows, min_group_size) if group_by is not None else None
    return FeedbackOut(
        message_id=message_id,
        pulse_question=message.pulse_question,
        recipients=total["recipients"],
        reactions=_reaction_summary(total),
        pulse=_pulse_figures(total) if total["responses"] >= min_group_size else None,
        min_group_size=min_group_size,
        group_by=group_by,
        groups=groups,
        **counts,
    )


def _groups(rows: dict[str, dict[str, int]], minimum: int) -> list[FeedbackGroup]:
    reach = partition(rows, size=lambda r: r["recipients"], minimum=minimum)
    reactions = partition(rows, size=lambda r: r["reactors"], minimum=minimum, among=reach.shown)
    pulse = partition(rows, size=lambda r: r["responses"], minimum=minimum, among=reach.shown)
    out = [
        FeedbackGroup(
            group=label,
            recipients=rows[label]["recipients"],
            reactions=_reaction_summary(rows[label]) if label in reactions.shown else None,
            pulse=_pulse_figures(rows[label]) if label in pulse.shown else None,
        )
        for label in reach.shown
    ]
    other = FeedbackGroup(
        group=OTHER,
        recipients=reach.other["recipients"] if reach.other_size else None,
        # with nothing shown on its own, (other) is every reaction: no more than the total
        reactions=_reaction_summary(reactions.other) if reactions.other_size else None,
        pulse=_pulse_figures(pulse.other) if pulse.other_size >= minimum else None,
    )
    if other.recipients is not None or other.reactions is not None or other.pulse is not None:
        out.append(other)
    return out


async def _comment_counts(session: AsyncSession, message_id: uuid.UUID) -> dict[str, int]:
    visible = Comment.hidden_at.is_(None)
    question = Comment.kind == CommentKind.QUESTION.value
    row = (
        await session.execute(
            select(
                count_when(and_(visible, Comment.kind == CommentKind.COMMENT.value)).label(
                    "comments"
                ),
                count_when(and_(visible, question)).label("questions"),
                count_when(and_(visible, question, Comment.answer.is_(None))).label(
                    "open_questions"
                ),
                count_when(Comment.hidden_at.is_not(None)).label("hidden"),
            ).where(Comment.message_id == message_id)
        )
    ).one()
    return {k: int(v) for k, v in row._mapping.items()}


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
