"""What employees say about a message: reactions, pulse answers, comments and questions.

One reaction and one pulse answer per (message, employee) is the primary key of each table, so
concurrent or repeated requests upsert one row and never make two. How many employees reacted
how is kept per message beside the reactions (`MessageReactionCount`), so feeds never count a
popular message's reactions. Comments keep their author
only when the message does not make comments anonymous; an anonymous comment has no author
column value at all, which a check constraint enforces.
"""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    false,
)
from sqlmodel import Field, SQLModel

from app.core.database import UTCDateTime, owned_by, recorded_at


class ReactionKind(StrEnum):
    LIKE = "like"
    LOVE = "love"
    INSIGHTFUL = "insightful"
    CELEBRATE = "celebrate"
    CONCERNED = "concerned"


class CommentKind(StrEnum):
    COMMENT = "comment"
    QUESTION = "question"


PULSE_SCORES = (1, 2, 3, 4, 5)


def _one_of(column: str, values: object) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Reaction(SQLModel, table=True):
    __tablename__ = "reactions"
    __table_args__ = (CheckConstraint(_one_of("reaction", ReactionKind), name="known_reaction"),)

    message_id: uuid.UUID = owned_by("messages.id", primary_key=True)
    employee_id: uuid.UUID = owned_by("employees.id", primary_key=True)
    reaction: str = Field(sa_column=Column(String(20), nullable=False))
    reacted_at: datetime = recorded_at()


class MessageReactionCount(SQLModel, table=True):
    """How many employees gave a message each reaction: at most five rows per message.

    Changed in the same transaction as the reaction itself (`app.feedback.counts`), so a feed
    reads these few rows instead of counting tens of thousands of reactions per request.
    """

    __tablename__ = "message_reaction_counts"
    __table_args__ = (
        CheckConstraint(_one_of("reaction", ReactionKind), name="known_reaction"),
        CheckConstraint("count >= 0", name="not_negative"),
    )

    message_id: uuid.UUID = owned_by("messages.id", primary_key=True)
    reaction: str = Field(sa_column=Column(String(20), primary_key=True))
    count: int = Field(sa_column=Column(Integer, nullable=False))


class PulseAnswer(SQLModel, table=True):
    __tablename__ = "pulse_answers"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    message_id: uuid.UUID = owned_by("messages.id", primary_key=True)
    employee_id: uuid.UUID = owned_by("employees.id", primary_key=True)
    score: int = Field(sa_column=Column(SmallInteger, nullable=False))
    answered_at: datetime = recorded_at()


class Comment(SQLModel, table=True):
    """A comment or question; `answer` is the communications team's reply shown under it."""

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_message_id_created_at", "message_id", "created_at", "id"),
        Index("ix_comments_author_id", "author_id"),
        CheckConstraint(_one_of("kind", CommentKind), name="known_kind"),
        # the database itself refuses an author on an anonymous comment
        CheckConstraint("NOT anonymous OR author_id IS NULL", name="anonymous_has_no_author"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: uuid.UUID = owned_by("messages.id")
    # null for anonymous comments and after the author's erasure
    author_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("employees.id", ondelete="SET NULL"))
    )
    anonymous: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    body: str = Field(sa_column=Column(String(2000), nullable=False))
    created_at: datetime = recorded_at()
    hidden_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    hidden_by: str | None = Field(default=None, sa_column=Column(String(300)))
    answer: str | None = Field(default=None, sa_column=Column(Text))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    answered_by: str | None = Field(default=None, sa_column=Column(String(300)))
    # issue 21: SHA-256 of a secret only an anonymous comment's author's client holds; it lets
    # that client ask for the actions linked to the comment (`docs/listening.md`)
    author_secret_sha256: str | None = Field(
        default=None, sa_column=Column(String(64), unique=True)
    )
