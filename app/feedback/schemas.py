"""API shapes of feedback: what employees send, what they and the communications team see."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.feedback.models import CommentKind, ReactionKind
from app.reports.aggregates import GroupBy

MAX_COMMENT = 2_000
MAX_ANSWER = 10_000


# --- employee side ------------------------------------------------------------------------


class ReactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reaction: ReactionKind


class ReactionOut(BaseModel):
    message_id: uuid.UUID
    reaction: ReactionKind
    reacted_at: datetime


class PulseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5, description="1 (not at all) to 5 (completely).")


class PulseOut(BaseModel):
    message_id: uuid.UUID
    score: int
    answered_at: datetime


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: CommentKind = CommentKind.COMMENT
    body: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_COMMENT)
    ]
    # issue 21
    author_secret: (
        Annotated[
            str, StringConstraints(min_length=32, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
        ]
        | None
    ) = Field(
        default=None,
        description="For anonymous comments: a random value the author's client makes and "
        "keeps (at least 32 base64url characters, e.g. 32 random bytes). Only its SHA-256 is "
        "stored, with the comment and not with the author; the client later presents it to "
        "`POST /v1/me/actions/lookup` to learn what was done about the comment. A retry with "
        "the same secret answers the comment it made. Ignored on named comments.",
    )


class AnswerOut(BaseModel):
    body: str
    answered_at: datetime


class AuthorOut(BaseModel):
    display_name: str | None


class CommentOut(BaseModel):
    """A comment or question as employees see it."""

    id: uuid.UUID
    message_id: uuid.UUID
    kind: CommentKind
    body: str
    anonymous: bool = Field(description="Written while the message made comments anonymous.")
    author: AuthorOut | None = Field(
        description="Null for anonymous comments and for authors whose data was erased."
    )
    created_at: datetime
    answer: AnswerOut | None = Field(description="The communications team's answer.")


# --- communications side ------------------------------------------------------------------


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ANSWER)
    ]


class ModeratedAnswerOut(AnswerOut):
    answered_by: str


class ModeratedAuthorOut(AuthorOut):
    external_id: str


class ModeratedCommentOut(BaseModel):
    """A comment or question as moderators see it: hidden ones too, and who wrote it."""

    id: uuid.UUID
    message_id: uuid.UUID
    kind: CommentKind
    body: str
    anonymous: bool
    author: ModeratedAuthorOut | None = Field(
        description="Null for anonymous comments (no link is kept) and after erasure."
    )
    created_at: datetime
    hidden: bool
    hidden_at: datetime | None
    hidden_by: str | None
    answer: ModeratedAnswerOut | None


class ReactionSummary(BaseModel):
    total: int = Field(description="Employees who reacted.")
    like: int
    love: int
    insightful: int
    celebrate: int
    concerned: int


class PulseFigures(BaseModel):
    responses: int = Field(description="Employees who answered.")
    mean: float
    distribution: dict[str, int] = Field(description='Answers per score, "1" to "5".')


class FeedbackGroup(BaseModel):
    group: str = Field(
        description='The unit; "(other)" holds groups too small to show, "(unknown)" '
        "employees without a value."
    )
    recipients: int | None = Field(description="Null when the unit's recipients are in (other).")
    reactions: ReactionSummary | None = Field(
        description="Null when this unit's reactions are counted in (other)."
    )
    pulse: PulseFigures | None = Field(
        description="Null when this unit's pulse answers are counted in (other)."
    )


class FeedbackOut(BaseModel):
    message_id: uuid.UUID
    pulse_question: str | None
    recipients: int
    reactions: ReactionSummary
    pulse: PulseFigures | None = Field(
        description="Null when the message has no pulse question or fewer respondents than "
        "the minimum group size."
    )
    comments: int = Field(description="Visible comments.")
    questions: int = Field(description="Visible questions.")
    open_questions: int = Field(description="Visible questions without an answer.")
    hidden: int = Field(description="Comments and questions hidden by moderators.")
    min_group_size: int
    group_by: GroupBy | None
    groups: list[FeedbackGroup] | None = Field(
        description="With `group_by`: one entry per unit large enough to show, then (other)."
    )
