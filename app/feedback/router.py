import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import EmployeeCaller, MessagesWrite, ReceiptsRead
from app.core.http import created
from app.core.idempotency import IdempotencyDep
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.editors.guards import OwnMessage
from app.feedback import figures, moderation, service
from app.feedback.models import CommentKind
from app.feedback.schemas import (
    AnswerIn,
    CommentIn,
    CommentOut,
    FeedbackOut,
    ModeratedCommentOut,
    PulseIn,
    PulseOut,
    ReactionIn,
    ReactionOut,
)
from app.reports.aggregates import GroupBy, MinGroupSize

# Employee side: `/v1/me/messages/{id}/…`, for recipients only.
me_router = APIRouter(prefix="/v1/me/messages", tags=["me"])
# Communications side: figures, moderation and answers.
router = APIRouter(prefix="/v1/messages", tags=["feedback"])

NOT_SENT = {404: {"description": "No message with this id was sent to you."}}
CLOSED = {409: {"description": "The message is closed, or takes no such feedback."}}
NOT_FOUND = {404: {"description": "No message (or comment) with this id."}}

MIN_GROUP_RULE = """
No figure ever stands for fewer than `BRANDCAST_MIN_GROUP_SIZE` (default 5) people:

- the pulse figures (`responses`, `mean`, `distribution`) are `null` while the message has fewer
  respondents than that;
- with `group_by`, a unit is shown on its own only with at least that many people behind each
  figure (recipients for `recipients`, employees who reacted for `reactions`, who answered for
  `pulse`); the rest is summed into `"(other)"`. When `"(other)"` itself would be non-empty but
  smaller than the minimum, the smallest units shown join it until it is not, so subtracting
  the units shown from the total never singles anyone out. Employees without a value for the
  unit are the unit `"(unknown)"`.

Comments are counted per message only: anonymous ones have no author, so no unit either.
"""


@me_router.put(
    "/{message_id}/reaction",
    operation_id="setMyReaction",
    summary="React to a message (replaces an earlier reaction)",
    responses={**NOT_SENT, **CLOSED},
)
async def set_reaction(
    message_id: uuid.UUID, data: ReactionIn, session: SessionDep, principal: EmployeeCaller
) -> ReactionOut:
    return await service.set_reaction(
        session, principal, message_id=message_id, reaction=data.reaction
    )


@me_router.delete(
    "/{message_id}/reaction",
    status_code=204,
    operation_id="removeMyReaction",
    summary="Remove your reaction (nothing to remove is fine)",
    responses={**NOT_SENT, **CLOSED},
)
async def remove_reaction(
    message_id: uuid.UUID, session: SessionDep, principal: EmployeeCaller
) -> None:
    await service.remove_reaction(session, principal, message_id=message_id)


@me_router.put(
    "/{message_id}/pulse",
    operation_id="answerPulse",
    summary="Answer the message's pulse question, 1 to 5 (changeable while it is open)",
    responses={**NOT_SENT, **CLOSED},
)
async def answer_pulse(
    message_id: uuid.UUID, data: PulseIn, session: SessionDep, principal: EmployeeCaller
) -> PulseOut:
    return await service.answer_pulse(session, principal, message_id=message_id, score=data.score)


@me_router.post(
    "/{message_id}/comments",
    status_code=201,
    operation_id="createMyComment",
    summary="Comment on a message or ask a question (anonymous when the message says so)",
    responses={**NOT_SENT, **CLOSED},
)
async def create_comment(
    message_id: uuid.UUID,
    data: CommentIn,
    session: SessionDep,
    principal: EmployeeCaller,
    response: Response,
    idempotency: IdempotencyDep,
) -> CommentOut:
    # issue 21: an `Idempotency-Key` row names its credential and keeps the answer, so it
    # would tie an anonymous comment to its author: anonymous comments are retried with their
    # `author_secret` instead
    claim = not await service.comments_are_anonymous(session, message_id)
    if claim and (first := await idempotency.replay_or_claim(principal, data)) is not None:
        return first
    comment = await service.create_comment(
        session,
        principal,
        message_id=message_id,
        kind=data.kind,
        body=data.body,
        author_secret=data.author_secret,
    )
    created(response, f"/v1/me/messages/{message_id}/comments/{comment.id}")
    if not comment.anonymous:
        await idempotency.remember(response, comment)
    elif claim:  # the message turned anonymous while this request ran
        await idempotency.release()
    return comment


@me_router.get(
    "/{message_id}/comments",
    operation_id="listMessageCommentsForMe",
    summary="The visible comments and questions on a message, newest first",
    responses=NOT_SENT,
)
async def list_comments(
    message_id: uuid.UUID, session: SessionDep, principal: EmployeeCaller, page: Pagination
) -> Page[CommentOut]:
    return await service.list_comments(session, principal, message_id=message_id, page=page)


@me_router.get(
    "/{message_id}/comments/{comment_id}",
    operation_id="getMessageCommentForMe",
    summary="One visible comment or question",
    responses=NOT_SENT,
)
async def get_comment(
    message_id: uuid.UUID, comment_id: uuid.UUID, session: SessionDep, principal: EmployeeCaller
) -> CommentOut:
    return await service.get_comment(
        session, principal, message_id=message_id, comment_id=comment_id
    )


@router.get(
    "/{message_id}/feedback",
    operation_id="getMessageFeedback",
    dependencies=[OwnMessage],
    summary="Reactions, pulse figures and comment counts, optionally per unit",
    description=MIN_GROUP_RULE,
    responses=NOT_FOUND,
)
async def get_feedback(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: ReceiptsRead,
    min_group_size: MinGroupSize,
    group_by: Annotated[
        GroupBy | None,
        Query(
            description='Per unit; units under the minimum group size are merged into "(other)".'
        ),
    ] = None,
) -> FeedbackOut:
    return await figures.message_feedback(
        session, principal, message_id=message_id, group_by=group_by, min_group_size=min_group_size
    )


@router.get(
    "/{message_id}/comments",
    operation_id="listMessageComments",
    dependencies=[OwnMessage],
    summary="Comments and questions for moderation (hidden ones too), newest first",
    responses=NOT_FOUND,
)
async def list_message_comments(
    message_id: uuid.UUID,
    session: SessionDep,
    principal: ReceiptsRead,
    page: Pagination,
    kind: CommentKind | None = None,
    answered: Annotated[bool | None, Query(description="Only answered (or unanswered).")] = None,
    hidden: Annotated[bool | None, Query(description="Only hidden (or visible).")] = None,
) -> Page[ModeratedCommentOut]:
    return await moderation.moderate_list(
        session,
        principal,
        message_id=message_id,
        page=page,
        kind=kind,
        answered=answered,
        hidden=hidden,
    )


@router.post(
    "/{message_id}/comments/{comment_id}/answer",
    operation_id="answerComment",
    dependencies=[OwnMessage],
    summary="Answer a question (shown under it to employees; replaces an earlier answer)",
    responses=NOT_FOUND,
)
async def answer_comment(
    message_id: uuid.UUID,
    comment_id: uuid.UUID,
    data: AnswerIn,
    session: SessionDep,
    principal: MessagesWrite,
) -> ModeratedCommentOut:
    return await moderation.answer_comment(
        session, principal, message_id=message_id, comment_id=comment_id, body=data.body
    )


@router.post(
    "/{message_id}/comments/{comment_id}/hide",
    operation_id="hideComment",
    dependencies=[OwnMessage],
    summary="Hide a comment from employees (kept for moderators)",
    responses=NOT_FOUND,
)
async def hide_comment(
    message_id: uuid.UUID, comment_id: uuid.UUID, session: SessionDep, principal: MessagesWrite
) -> ModeratedCommentOut:
    return await moderation.set_hidden(
        session, principal, message_id=message_id, comment_id=comment_id, hidden=True
    )


@router.post(
    "/{message_id}/comments/{comment_id}/unhide",
    operation_id="unhideComment",
    dependencies=[OwnMessage],
    summary="Show a hidden comment to employees again",
    responses=NOT_FOUND,
)
async def unhide_comment(
    message_id: uuid.UUID, comment_id: uuid.UUID, session: SessionDep, principal: MessagesWrite
) -> ModeratedCommentOut:
    return await moderation.set_hidden(
        session, principal, message_id=message_id, comment_id=comment_id, hidden=False
    )
