"""The one seam through which feedback announces itself to other systems (webhooks)."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.feedback.models import CommentKind
from app.webhooks.models import EventType
from app.webhooks.outbox import emit


async def notify_comment_created(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    comment_id: uuid.UUID,
    kind: CommentKind,
    body: str,
    created_at: datetime,
    anonymous: bool,
    author_external_id: str | None = None,
    author_name: str | None = None,
) -> None:
    """Announce a new comment or question, in the caller's transaction.

    Questions become a `feedback.question_created` event (someone should answer them); plain
    comments have no event type yet and announce nothing. For an anonymous comment the author
    is left out whatever the caller passes.
    """
    if kind is not CommentKind.QUESTION:
        return
    author = (
        {"external_id": author_external_id, "display_name": author_name}
        if not anonymous and author_external_id is not None
        else None
    )
    await emit(
        session,
        type=EventType.FEEDBACK_QUESTION_CREATED.value,
        data={
            "message_id": message_id,
            "comment": {
                "id": comment_id,
                "kind": kind.value,
                "body": body,
                "anonymous": anonymous,
                "author": author,
                "created_at": created_at,
                "answers_url": f"/v1/messages/{message_id}/comments/{comment_id}/answer",
            },
        },
        message_id=message_id,
    )
