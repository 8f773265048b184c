import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

from app.core.database import Editable, JSONType, UTCDateTime, owned_by


class Category(StrEnum):
    BRAND_PROMISE = "brand_promise"
    MISSION = "mission"
    VISION = "vision"
    VALUES = "values"
    CAMPAIGN = "campaign"
    PRODUCT_LAUNCH = "product_launch"
    POLICY = "policy"
    SERVICE = "service"
    NEWS = "news"


BRAND_CATEGORIES = frozenset(
    {Category.BRAND_PROMISE, Category.MISSION, Category.VISION, Category.VALUES}
)


# What employees may do with a message unless its editor says otherwise.
DEFAULT_FEEDBACK: dict[str, bool] = {
    "reactions": True,
    "comments": True,
    "anonymous_comments": False,
}


def default_feedback() -> dict[str, bool]:
    return dict(DEFAULT_FEEDBACK)


def default_channels() -> list[str]:
    return ["feed"]


class Priority(StrEnum):
    NORMAL = "normal"
    IMPORTANT = "important"
    CRITICAL = "critical"


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Message(Editable, table=True):
    """A brand message. `version` counts published content versions; `revision` every edit."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_created_at", "created_at", "id"),
        Index("ix_messages_status_publish_at", "status", "publish_at"),
        Index("ix_messages_status_published_at", "status", "published_at"),
        Index("ix_messages_category", "category"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    category: str = Field(sa_column=Column(String(30), nullable=False))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(String(500)))
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    locale: str = Field(sa_column=Column(String(35), nullable=False))
    # locale -> {"title", "summary", "body"}: read with the message in one row on the feed
    translations: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    priority: str = Field(default=Priority.NORMAL, sa_column=Column(String(20), nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    requires_acknowledgement: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    acknowledgement_text: str | None = Field(default=None, sa_column=Column(String(1000)))
    acknowledge_within_days: int | None = Field(default=None, sa_column=Column(Integer))
    pulse_question: str | None = Field(default=None, sa_column=Column(String(300)))
    # {"reactions", "comments", "anonymous_comments"}: booleans, see DEFAULT_FEEDBACK
    feedback: dict[str, bool] = Field(
        default_factory=default_feedback,
        sa_column=Column(JSONType, nullable=False, server_default=json.dumps(DEFAULT_FEEDBACK)),
    )
    # where it goes: `feed` always; `email`, `chat` (to `chat_target_ids`)
    channels: list[str] = Field(
        default_factory=default_channels,
        sa_column=Column(JSONType, nullable=False, server_default='["feed"]'),
    )
    chat_target_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False, server_default="[]")
    )
    # this message's own weekly e-mail cap (else BRANDCAST_EMAIL_MAX_PER_WEEK), and its
    # retargeting: e-mail again after `retarget_after_days` who has not read it, `retarget_max` times
    email_max_per_week: int | None = Field(default=None, sa_column=Column(Integer))
    retarget_after_days: int | None = Field(default=None, sa_column=Column(Integer))
    retarget_max: int | None = Field(default=None, sa_column=Column(Integer))
    status: str = Field(default=Status.DRAFT, sa_column=Column(String(20), nullable=False))
    publish_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    archived_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    # acknowledgements of versions older than this no longer count as current
    acknowledgement_version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    recipient_count: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # issue 21: the comprehension check (`app.quizzes.schemas.Quiz`, with its right options);
    # part of the content, so it changes only with a new version
    quiz: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    # -- local editions and review (app/editions) --
    # the unit (`country=MX`) of a message written by a scoped editor; None: an HQ message
    unit: str | None = Field(default=None, sa_column=Column(String(1000)))
    # units may adapt it (`message_editions`), except the `locked` fields
    localizable: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    locked: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False, server_default="[]")
    )
    # None: never submitted; else an `app.editions.models.ReviewStatus`
    review_status: str | None = Field(default=None, sa_column=Column(String(20)))
    submitted_by: str | None = Field(default=None, sa_column=Column(String(300)))
    reviewed_by: str | None = Field(default=None, sa_column=Column(String(300)))
    review_comment: str | None = Field(default=None, sa_column=Column(String(2000)))
    # who last changed its content or settings (four eyes: they never approve it)
    updated_by: str | None = Field(default=None, sa_column=Column(String(300)))


class MessageVersion(SQLModel, table=True):
    """The content of a message as it was published, kept as evidence."""

    __tablename__ = "message_versions"
    __table_args__ = (UniqueConstraint("message_id", "version"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: uuid.UUID = owned_by("messages.id")
    version: int = Field(sa_column=Column(Integer, nullable=False))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(String(500)))
    body: str = Field(sa_column=Column(Text, nullable=False))
    locale: str = Field(sa_column=Column(String(35), nullable=False))
    translations: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    acknowledgement_text: str | None = Field(default=None, sa_column=Column(String(1000)))
    pulse_question: str | None = Field(default=None, sa_column=Column(String(300)))
    requires_reacknowledgement: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    published_by: str = Field(sa_column=Column(String(300), nullable=False))
    quiz: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))  # issue 21
