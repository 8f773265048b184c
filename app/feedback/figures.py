"""Feedback figures of a message: reactions, the pulse distribution and comment counts,
overall and per unit, computed by the database in one aggregate and folded by the one
minimum-group rule (`app.reports.aggregates`).
"""

import uuid

from sqlalchemy import SmallInteger, String, and_, cast, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.principal import Principal
from app.core.sql import count_when
from app.employees.models import Employee
from app.feedback.models import (
    PULSE_SCORES,
    Comment,
    CommentKind,
    PulseAnswer,
    Reaction,
    ReactionKind,
)
from app.feedback.schemas import FeedbackGroup, FeedbackOut, PulseFigures, ReactionSummary
from app.feedback.service import require_message
from app.receipts.models import Recipient
from app.reports.aggregates import OTHER, GroupBy, add_up, group_label, partition


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
    message = await require_message(session, message_id)
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
