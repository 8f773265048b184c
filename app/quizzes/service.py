"""Comprehension checks from the employee's side: attempts, and what other areas need of them
(the caller's standing as feed columns, the passing attempt the acknowledgement records).

An attempt is scored against the message's current quiz and counts for the current
acknowledgement round. Attempts are numbered per round; the number is unique, so concurrent
attempts of one caller take turns: a second attempt never slips past `max_attempts`, and none
is scored after a pass.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Uuid, bindparam, case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.direct import Direct, Prepared
from app.core.errors import Conflict, ValidationFailed
from app.core.principal import Principal
from app.messages.locales import choose_locale
from app.messages.models import Message
from app.quizzes import rules
from app.quizzes.models import QuizAnswer, QuizAttempt
from app.quizzes.schemas import QuizAttemptIn, QuizAttemptOut
from app.receipts.access import delivery_of, delivery_select

NO_QUIZ = "This message has no comprehension check."
_A = QuizAttempt.__table__.c
_INSERT = sql.insert_ignore(
    QuizAttempt.__table__,
    ["message_id", "employee_id", "acknowledgement_version", "number"],
    returning=[_A.id],
)
# concurrent attempts of one caller: each lost race reads the newer attempts and tries again
_TURNS = 5


def _mine(employee_id: Any, message_id: Any, round_: Any) -> Any:
    return (
        (_A.message_id == message_id)
        & (_A.employee_id == employee_id)
        & (_A.acknowledgement_version == round_)
    )


def standing_column(employee_id: Any, message_id: Any, round_: Any, quiz: Any) -> Any:
    """The employee's standing at the message's quiz in the round, as one column a feed can
    select: `2 * attempts + passed` (read back with `standing`), null without a quiz.

    Numbers run 1, 2, … and no attempt follows a pass, so the highest attempt says both how
    many were made and whether the last one passed: one index range per feed row, and none at
    all for messages without a quiz (one correlated subquery with an aggregate, not an EXISTS,
    which PostgreSQL may run as a hashed scan of every attempt)."""
    encoded = _A.number * 2 + case((_A.passed.is_(True), 1), else_=0)
    return case(
        (
            quiz.is_not(None),
            select(func.coalesce(func.max(encoded), 0))
            .where(_mine(employee_id, message_id, round_))
            .scalar_subquery(),
        ),
        else_=None,
    )


def standing(value: int | None) -> tuple[int, bool]:
    """(attempts, passed) from a `standing_column` value."""
    return (value or 0) // 2, bool((value or 0) % 2)


_PASSING = Prepared(
    lambda _: select(_A.id).where(
        _mine(
            bindparam("employee_id", type_=Uuid()),
            bindparam("message_id", type_=Uuid()),
            bindparam("round", type_=Integer()),
        ),
        _A.passed.is_(True),
    )
)


async def passing_attempt(
    conn: Direct, *, employee_id: uuid.UUID, message_id: uuid.UUID, round_: int
) -> uuid.UUID | None:
    """The caller's passing attempt of the round (the acknowledgement's evidence), if any."""
    row = await conn.fetchrow(
        _PASSING, {"employee_id": employee_id, "message_id": message_id, "round": round_}
    )
    return row["id"] if row is not None else None


QUIZ_FIRST = (
    "This message asks you to pass its comprehension check first: "
    "`POST …/quiz-attempts`, then acknowledge."
)


async def submit_attempt(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    data: QuizAttemptIn,
    prefs: Sequence[str] = (),
) -> QuizAttemptOut:
    """Score an attempt at the message's quiz; 404 unless sent to the caller, 409 when closed,
    without a quiz, already passed this round or out of attempts, 422 for answers that do not
    fit the questions."""
    now = utcnow()
    row = (
        await session.execute(
            delivery_select(
                principal,
                message_id=message_id,
                columns=(Message.quiz, Message.locale, Message.translations),
            )
        )
    ).one_or_none()
    delivery = delivery_of(row, open_at=now)
    quiz, own_locale, translations = row.quiz, row.locale, row.translations or {}
    if quiz is None:
        raise Conflict(NO_QUIZ)
    errors = rules.answer_errors(quiz, data.answers)
    if errors:
        raise ValidationFailed(errors)
    if data.locale:
        prefs = (data.locale.lower(), *prefs)
    locale = rules.served_locale(
        own_locale, translations, choose_locale(prefs, own_locale, translations)
    )
    right = rules.score(quiz, data.answers)
    correct, total = sum(right.values()), len(right)
    passed = rules.passes(quiz, correct, total)
    limit = quiz.get("max_attempts")
    round_ = delivery.acknowledgement_version
    mine = _mine(principal.employee_id, message_id, round_)
    for _ in range(_TURNS):
        made = (await session.execute(select(_A.number, _A.passed).where(mine))).all()
        if any(p for _, p in made):
            raise Conflict("You already passed this comprehension check.")
        if limit is not None and len(made) >= limit:
            raise Conflict(
                f"You have used all {limit} attempts at this comprehension check; "
                "ask the communications team."
            )
        number = max((n for n, _ in made), default=0) + 1
        attempt = {
            "id": uuid.uuid4(),
            "message_id": message_id,
            "employee_id": principal.employee_id,
            "acknowledgement_version": round_,
            "number": number,
            "version": delivery.version,
            "quiz_sha256": rules.sha256(quiz),
            "locale": locale,
            "answers": {qid: list(chosen) for qid, chosen in data.answers.items()},
            "correct": correct,
            "total": total,
            "passed": passed,
            "attempted_at": now,
        }
        if (await session.execute(_INSERT[session], attempt)).scalar_one_or_none() is not None:
            break
    else:
        raise Conflict("Your attempts kept changing while this one was scored; try again.")
    await session.execute(
        insert(QuizAnswer),
        [{"attempt_id": attempt["id"], "question_id": q, "correct": ok} for q, ok in right.items()],
    )
    await record(
        session,
        principal,
        action="quiz.attempted",
        entity_type="quiz_attempt",
        entity_id=attempt["id"],
        details={"message_id": str(message_id), "number": number, "passed": passed},
    )
    return QuizAttemptOut(
        id=attempt["id"],
        message_id=message_id,
        number=number,
        version=delivery.version,
        locale=locale,
        correct=correct,
        total=total,
        score=round(correct / total, 4),
        pass_mark=quiz["pass_mark"],
        passed=passed,
        wrong_question_ids=[q for q, ok in right.items() if not ok],
        attempts_left=None if limit is None else limit - number,
        attempted_at=now,
    )
