import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Column, Integer, String, Text, UniqueConstraint, false
from sqlmodel import Field

from app.core.database import Editable, JSONType, UTCDateTime, owned_by

# the fields of an HQ message an edition may say in its own words (unless HQ locks them)
EDITABLE_FIELDS = ("title", "summary", "body", "acknowledgement_text")


class ReviewStatus(StrEnum):
    """Where a message or an edition stands in review (`None` on a message: not asked yet)."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"


class EditionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class MessageEdition(Editable, table=True):
    """A unit's adaptation of an HQ message: the unlocked fields in its own words.

    Recipients inside the unit are served it (`recipients.edition_id`, set when it is
    published); `outdated` is set by a new HQ version until its editor confirms or edits it,
    and HQ's text is served meanwhile.
    """

    __tablename__ = "message_editions"
    __table_args__ = (UniqueConstraint("message_id", "unit"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: uuid.UUID = owned_by("messages.id")
    unit: str = Field(sa_column=Column(String(1000), nullable=False))
    status: str = Field(default=EditionStatus.DRAFT, sa_column=Column(String(20), nullable=False))
    review_status: str = Field(
        default=ReviewStatus.DRAFT, sa_column=Column(String(20), nullable=False)
    )
    locale: str = Field(sa_column=Column(String(35), nullable=False))
    title: str | None = Field(default=None, sa_column=Column(String(200)))
    summary: str | None = Field(default=None, sa_column=Column(String(500)))
    body: str | None = Field(default=None, sa_column=Column(Text))
    acknowledgement_text: str | None = Field(default=None, sa_column=Column(String(1000)))
    # locale -> {"title", "summary", "body", "acknowledgement_text"} (unlocked ones only)
    translations: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    local_note: str | None = Field(default=None, sa_column=Column(String(2000)))
    # the HQ version this edition was written or confirmed against
    based_on_version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    outdated: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    submitted_by: str | None = Field(default=None, sa_column=Column(String(300)))
    reviewed_by: str | None = Field(default=None, sa_column=Column(String(300)))
    review_comment: str | None = Field(default=None, sa_column=Column(String(2000)))
    updated_by: str = Field(sa_column=Column(String(300), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
