"""Actions ("you said, we did"): what the company committed to do about what employees said,
what prompted it, and each step of its progress."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from app.core.database import Editable, UTCDateTime, owned_by


class ActionStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DECLINED = "declined"


# status -> the statuses it may move to; `done` and `declined` are final
NEXT_STATUSES: dict[str, frozenset[str]] = {
    ActionStatus.PLANNED: frozenset(
        {ActionStatus.IN_PROGRESS, ActionStatus.DONE, ActionStatus.DECLINED}
    ),
    ActionStatus.IN_PROGRESS: frozenset({ActionStatus.DONE, ActionStatus.DECLINED}),
    ActionStatus.DONE: frozenset(),
    ActionStatus.DECLINED: frozenset(),
}


class LinkKind(StrEnum):
    COMMENT = "comment"  # a comment or question (`comment_id`, and its `message_id`)
    PULSE = "pulse"  # a message's pulse result (`message_id`)
    UNIT = "unit"  # a unit of the brand-alignment report (`unit_kind`, `unit_value`)


class Action(Editable, table=True):
    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_created_at", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(sa_column=Column(String(200), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    # the unit that owns it: a unit of the company (`GroupBy`) and its value
    owner_unit_kind: str = Field(sa_column=Column(String(20), nullable=False))
    owner_unit: str = Field(sa_column=Column(String(200), nullable=False))
    status: str = Field(default=ActionStatus.PLANNED, sa_column=Column(String(20), nullable=False))
    decline_reason: str | None = Field(default=None, sa_column=Column(String(1000)))
    # when it reached `done` or `declined`
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class ActionLink(SQLModel, table=True):
    """What prompted an action. A comment link keeps the comment's message too, so that the
    message's recipients can be shown the actions about it."""

    __tablename__ = "action_links"
    __table_args__ = (
        Index("ix_action_links_comment_id", "comment_id"),
        Index("ix_action_links_message_id", "message_id"),
        CheckConstraint(
            "(kind = 'comment' AND comment_id IS NOT NULL)"
            " OR (kind = 'pulse' AND message_id IS NOT NULL AND comment_id IS NULL)"
            " OR (kind = 'unit' AND unit_kind IS NOT NULL AND unit_value IS NOT NULL)",
            name="link_target",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    action_id: uuid.UUID = owned_by("actions.id")
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    comment_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("comments.id", ondelete="CASCADE"))
    )
    message_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("messages.id", ondelete="CASCADE"))
    )
    unit_kind: str | None = Field(default=None, sa_column=Column(String(20)))
    unit_value: str | None = Field(default=None, sa_column=Column(String(200)))
    # when the feedback was given (the comment's time; the message's publication for a pulse
    # or unit link), for the loop report's "time from feedback to action"
    feedback_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    linked_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ActionUpdate(SQLModel, table=True):
    """One step of an action: a status change and/or an update text, as employees see it."""

    __tablename__ = "action_updates"
    __table_args__ = (Index("ix_action_updates_action_id_created_at", "action_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    action_id: uuid.UUID = owned_by("actions.id")
    status: str = Field(sa_column=Column(String(20), nullable=False))
    previous_status: str | None = Field(default=None, sa_column=Column(String(20)))
    text: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(sa_column=Column(String(300), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
