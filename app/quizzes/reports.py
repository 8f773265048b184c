"""The comprehension-check report: how many passed first time, how many attempts a pass took,
by unit under the minimum-group rule (`app.reports.aggregates`), and the share of wrong
answers per question.

Two aggregates over the message's attempts of the current round: per employee (then per unit
through the employees) and per question.
"""

import uuid
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.principal import Principal
from app.core.sql import count_when
from app.employees.models import Employee
from app.messages.models import Message
from app.quizzes.models import QuizAnswer, QuizAttempt
from app.quizzes.schemas import QuestionFigures, QuizFigures, QuizGroup, QuizReport
from app.reports.aggregates import OTHER, GroupBy, add_up, group_label, partition, ratio


def _figures(row: dict[str, int]) -> dict[str, Any]:
    employees, passed = row.get("employees", 0), row.get("passed", 0)
    return {
        "employees": employees,
        "passed": passed,
        "passed_first_time": row.get("first", 0),
        "attempts": row.get("attempts", 0),
        "first_attempt_pass_rate": ratio(row.get("first", 0), employees),
        "attempts_per_pass": round(row["attempts"] / passed, 4) if passed else None,
    }


async def quiz_report(
    session: AsyncSession,
    _principal: Principal,
    *,
    message_id: uuid.UUID,
    group_by: GroupBy | None,
    minimum: int,
) -> QuizReport:
    message = (
        await session.execute(
            select(Message.quiz, Message.acknowledgement_version).where(Message.id == message_id)
        )
    ).one_or_none()
    if message is None:
        raise NotFound("No message with this id.")
    round_ = message.acknowledgement_version
    in_round = and_(
        QuizAttempt.message_id == message_id, QuizAttempt.acknowledgement_version == round_
    )
    per_employee = (
        select(
            QuizAttempt.employee_id,
            func.count().label("attempts"),
            count_when(QuizAttempt.passed.is_(True)).label("passes"),
            count_when(and_(QuizAttempt.passed.is_(True), QuizAttempt.number == 1)).label("first"),
        )
        .where(in_round)
        .group_by(QuizAttempt.employee_id)
        .subquery()
    )
    unit = getattr(Employee, group_by.value) if group_by is not None else None
    stmt = (
        select(
            *([unit.label("unit")] if unit is not None else []),
            func.count().label("employees"),
            func.coalesce(func.sum(per_employee.c.attempts), 0).label("attempts"),
            func.coalesce(func.sum(per_employee.c.passes), 0).label("passed"),
            func.coalesce(func.sum(per_employee.c.first), 0).label("first"),
        )
        .select_from(per_employee)
        .join(Employee, Employee.id == per_employee.c.employee_id)
    )
    if unit is not None:
        stmt = stmt.group_by(unit)
    rows = {
        (group_label(r["unit"]) if unit is not None else OTHER): {
            k: int(r[k]) for k in ("employees", "attempts", "passed", "first")
        }
        for r in (await session.execute(stmt)).mappings()
    }
    overall = add_up(rows.values())
    groups: list[QuizGroup] = []
    if group_by is not None:
        shown = partition(rows, size=lambda r: r["employees"], minimum=minimum)
        groups = [QuizGroup(group=g, **_figures(rows[g])) for g in shown.shown]
        if shown.other_size:
            groups.append(QuizGroup(group=OTHER, **_figures(shown.other)))
    questions = []
    if message.quiz is not None:
        enough = overall.get("employees", 0) >= minimum
        counted = {}
        if enough:
            counted = {
                r.question_id: (r.answers, r.wrong)
                for r in await session.execute(
                    select(
                        QuizAnswer.question_id,
                        func.count().label("answers"),
                        count_when(QuizAnswer.correct.is_(False)).label("wrong"),
                    )
                    .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
                    .where(in_round)
                    .group_by(QuizAnswer.question_id)
                )
            }
        for question in message.quiz["questions"]:
            answers, wrong = counted.get(question["id"], (0, 0))
            questions.append(
                QuestionFigures(
                    id=question["id"],
                    text=question["text"],
                    answers=answers if enough else None,
                    wrong=wrong if enough else None,
                    wrong_share=ratio(wrong, answers) if enough else None,
                )
            )
    return QuizReport(
        message_id=message_id,
        acknowledgement_version=round_,
        overall=QuizFigures(**_figures(overall)),
        group_by=group_by,
        groups=groups,
        questions=questions,
    )
