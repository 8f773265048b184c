import uuid
from typing import Annotated

from fastapi import APIRouter, Header

from app.auth.dependencies import ReceiptsRead, SignedIn
from app.core.session import SessionDep
from app.editors.guards import OwnMessage
from app.messages.locales import preferences
from app.quizzes import reports, service
from app.quizzes.schemas import QuizAttemptIn, QuizAttemptOut, QuizReport
from app.reports.aggregates import GroupBy, MinGroupSize

me_router = APIRouter(prefix="/v1/me/messages", tags=["me"])
router = APIRouter(prefix="/v1/messages", tags=["quizzes"])


@me_router.post(
    "/{message_id}/quiz-attempts",
    status_code=201,
    operation_id="attemptMyQuiz",
    summary="Answer the message's comprehension check: the score and which questions were wrong",
    description="Every question is answered with the ids of the options chosen. The result "
    "names the questions answered wrongly, never the right options. 409 when the message has "
    "no quiz, is closed, was already passed in this round or has no attempts left.",
    responses={
        404: {"description": "No message with this id was sent to you."},
        409: {"description": "No quiz, closed, already passed, or no attempts left."},
    },
)
async def attempt_quiz(
    message_id: uuid.UUID,
    data: QuizAttemptIn,
    session: SessionDep,
    caller: SignedIn,
    accept_language: Annotated[str | None, Header(alias="Accept-Language")] = None,
) -> QuizAttemptOut:
    assert caller.employee is not None
    return await service.submit_attempt(
        session,
        caller.principal,
        message_id=message_id,
        data=data,
        prefs=preferences(accept_language, caller.employee.record["locale"]),
    )


@router.get(
    "/{message_id}/quiz-report",
    operation_id="getQuizReport",
    summary="How the comprehension check went: pass rates by unit, and which question people miss",
    description="Over the current acknowledgement round. `first_attempt_pass_rate` and "
    "`attempts_per_pass` overall and, with `group_by`, per unit (units with fewer employees "
    'than `BRANDCAST_MIN_GROUP_SIZE` merged into `"(other)"`, the smallest shown joining it '
    "while it is too small); per question the share of wrong answers, null while fewer "
    "employees than the minimum attempted the quiz.",
    responses={404: {"description": "No message with this id."}},
    dependencies=[OwnMessage],
)
async def quiz_report(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: ReceiptsRead,
    minimum: MinGroupSize,
    group_by: GroupBy | None = None,
) -> QuizReport:
    return await reports.quiz_report(
        session, principal, message_id=message_id, group_by=group_by, minimum=minimum
    )
