"""Moderation: the communications team reads every comment and question of a message (hidden
ones too, with their authors unless anonymous), answers them, and hides or shows them again.
Each change takes the comment's row lock, so concurrent moderators serialize.
"""

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.database import utcnow
from app.core.errors import NotFound
from app.core.pagination import Page, PageParams, fetch_page
from app.core.principal import Principal
from app.employees.models import Employee
from app.feedback.models import Comment, CommentKind
from app.feedback.schemas import ModeratedAnswerOut, ModeratedAuthorOut, ModeratedCommentOut
from app.feedback.service import comment_view, require_message


def _moderated_view() -> Select:
    return comment_view(
        Comment.hidden_at, Comment.hidden_by, Comment.answered_by, Employee.external_id
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
    await require_message(session, message_id)
    stmt = _moderated_view().where(Comment.message_id == message_id)
    if kind is not None:
        stmt = stmt.where(Comment.kind == kind.value)
    if answered is not None:
        stmt = stmt.where(Comment.answer.is_not(None) if answered else Comment.answer.is_(None))
    if hidden is not None:
        stmt = stmt.where(Comment.hidden_at.is_not(None) if hidden else Comment.hidden_at.is_(None))
    keys = [Comment.created_at, Comment.id]
    return await fetch_page(session, stmt, page, keys, _moderated_comment)


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
