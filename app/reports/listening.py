"""The listening-loop report: questions asked and answered, feedback that led to actions,
actions done or declined, and how long each step took, for a period, per unit.

Feedback is the comments and questions written in `[since, until)`; its unit is its author's
(current) unit, and anonymous comments, which have no author, are the unit `"(unknown)"`.
Units go through the minimum-group rule (`app.reports.aggregates`) on the people behind them:
distinct named authors, plus one per anonymous comment (nobody can be singled out in those).
Medians are computed by the database (a window over the durations), per unit and for the
merged `"(other)"` units alike. Actions are those created in the period, by status.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.actions.models import Action, ActionLink, ActionStatus
from app.core import sql
from app.core.database import utcnow
from app.core.errors import ValidationFailed, field_error
from app.core.principal import Principal
from app.core.sql import count_when
from app.employees.models import Employee
from app.feedback.models import Comment, CommentKind
from app.reports.aggregates import OTHER, UNKNOWN, GroupBy, add_up, group_label, partition
from app.reports.schemas import ListeningActions, ListeningFigures, ListeningGroup, ListeningOut

DEFAULT_PERIOD = timedelta(days=90)
COUNTS = ("people", "feedback", "questions_asked", "questions_answered", "feedback_linked")


def _first_linked() -> Any:
    """Per comment: when it was first linked to an action."""
    return (
        select(ActionLink.comment_id, func.min(ActionLink.linked_at).label("linked_at"))
        .where(ActionLink.comment_id.is_not(None))
        .group_by(ActionLink.comment_id)
        .subquery("first_linked")
    )


def _median(durations: Any, keys: list[Any]) -> Any:
    """Per `keys`: the median of `durations.c.seconds` (the mean of the middle one or two)."""
    ordered = select(
        *(durations.c[k] for k in keys),
        durations.c.seconds,
        func.row_number()
        .over(partition_by=[durations.c[k] for k in keys], order_by=durations.c.seconds)
        .label("position"),
        func.count().over(partition_by=[durations.c[k] for k in keys]).label("size"),
    ).subquery("ordered")
    p, n = ordered.c.position, ordered.c.size
    return (
        select(*(ordered.c[k] for k in keys), func.avg(ordered.c.seconds).label("median"))
        .where(or_(p == (n + 1) // 2, p == (n + 2) // 2))
        .group_by(*(ordered.c[k] for k in keys))
    )


def _hours(seconds: Any) -> float | None:
    return round(float(seconds) / 3600, 2) if seconds is not None else None


async def listening(
    session: AsyncSession,
    _principal: Principal,
    *,
    min_group_size: int,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: GroupBy = GroupBy.DEPARTMENT,
) -> ListeningOut:
    until = until or utcnow()
    try:
        since = since or until - DEFAULT_PERIOD
    except OverflowError:
        raise ValidationFailed([field_error("query.until", "is too early")]) from None
    if since >= until:
        raise ValidationFailed([field_error("query.since", "must be before `until`")])
    dialect = sql.dialect_of(session)
    unit = getattr(Employee, group_by.value)
    linked = _first_linked()
    in_period = and_(Comment.created_at >= since, Comment.created_at < until)
    feedback = (
        select(
            Comment.id,
            Comment.author_id,
            Comment.kind,
            Comment.created_at,
            Comment.answered_at,
            linked.c.linked_at,
            unit.label("unit"),
        )
        .select_from(Comment)
        .outerjoin(Employee, Employee.id == Comment.author_id)
        .outerjoin(linked, linked.c.comment_id == Comment.id)
        .where(in_period)
        .subquery("feedback")
    )
    f = feedback.c
    counts = select(
        f.unit,
        (func.count(distinct(f.author_id)) + count_when(f.author_id.is_(None))).label("people"),
        func.count().label("feedback"),
        count_when(f.kind == CommentKind.QUESTION.value).label("questions_asked"),
        count_when(and_(f.kind == CommentKind.QUESTION.value, f.answered_at.is_not(None))).label(
            "questions_answered"
        ),
        count_when(f.linked_at.is_not(None)).label("feedback_linked"),
    ).group_by(f.unit)
    rows: dict[str, dict[str, int]] = {}
    for row in (await session.execute(counts)).mappings():
        label = group_label(row["unit"])
        rows[label] = add_up([rows.get(label, {}), {k: int(row[k] or 0) for k in COUNTS}])
    shown = partition(rows, size=lambda r: r["people"], minimum=min_group_size)
    # the group each feedback is shown in, as SQL: its unit's label, or "(other)"
    label = case((or_(f.unit.is_(None), f.unit == ""), UNKNOWN), else_=f.unit)
    bucket = case((label.in_(shown.shown), label), else_=OTHER) if shown.shown else OTHER

    async def medians(kind: str) -> tuple[dict[str, float | None], float | None]:
        """Median seconds to answer a question (`answer`) or from feedback to its first
        action (`action`): per shown group, and over everything."""
        end = f.answered_at if kind == "answer" else f.linked_at
        stmt = select(
            literal(1).label("all"),
            bucket.label("g") if shown.shown else literal(OTHER).label("g"),
            sql.seconds_between(dialect, end, f.created_at).label("seconds"),
        ).where(end.is_not(None))
        if kind == "answer":
            stmt = stmt.where(f.kind == CommentKind.QUESTION.value)
        durations = stmt.subquery("durations")
        per_group = {
            r["g"]: r["median"]
            for r in (await session.execute(_median(durations, ["g"]))).mappings()
        }
        overall = (await session.execute(_median(durations, ["all"]))).mappings().first()
        return per_group, overall["median"] if overall else None

    (to_answer, answer_all), (to_action, action_all) = (
        await medians("answer"),
        await medians("action"),
    )

    def figures(counts: dict[str, int], answer: Any, action: Any) -> dict[str, Any]:
        return {
            **{k: counts.get(k, 0) for k in COUNTS if k != "people"},
            "median_hours_to_answer": _hours(answer),
            "median_hours_to_action": _hours(action),
        }

    groups = [
        ListeningGroup(group=g, **figures(rows[g], to_answer.get(g), to_action.get(g)))
        for g in shown.shown
    ]
    if shown.other_size:
        groups.append(
            ListeningGroup(
                group=OTHER,
                **figures(shown.other, to_answer.get(OTHER), to_action.get(OTHER)),
            )
        )
    total = ListeningFigures(**figures(add_up(rows.values()), answer_all, action_all))
    action_counts = (
        (
            await session.execute(
                select(
                    func.count().label("created"),
                    *(count_when(Action.status == s.value).label(s.value) for s in ActionStatus),
                ).where(Action.created_at >= since, Action.created_at < until)
            )
        )
        .mappings()
        .one()
    )
    return ListeningOut(
        since=since,
        until=until,
        group_by=group_by,
        min_group_size=min_group_size,
        total=total,
        actions=ListeningActions(**{k: int(v or 0) for k, v in action_counts.items()}),
        groups=groups,
    )
