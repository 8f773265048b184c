import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.validators import LocaleTag
from app.messages.schemas import AckText, Body, Summary, Title

MAX_NOTE = 2000
MAX_EDITION_TRANSLATIONS = 50
LocalNote = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NOTE)
]


class EditionTranslation(BaseModel):
    """An edition's unlocked fields in one more locale (absent ones: HQ's)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    summary: Summary | None = None
    body: Body | None = None
    acknowledgement_text: AckText | None = None


class EditionIn(BaseModel):
    """A unit's edition: the unlocked fields in its own words (absent ones: HQ's text)."""

    model_config = ConfigDict(extra="forbid")

    locale: LocaleTag = Field(description="The locale of the fields below, e.g. `es-MX`.")
    title: Title | None = None
    summary: Summary | None = None
    body: Body | None = None
    acknowledgement_text: AckText | None = None
    translations: Annotated[
        dict[LocaleTag, EditionTranslation], Field(max_length=MAX_EDITION_TRANSLATIONS)
    ] = Field(default_factory=dict)
    local_note: LocalNote | None = Field(
        default=None, description="A note shown under HQ's text, e.g. what it means locally."
    )


class ReviewComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(description="What should change.")


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
        | None
    ) = None


class EditionOut(BaseModel):
    id: uuid.UUID
    message_id: uuid.UUID
    unit: str
    status: str = Field(description="`draft` or `published` (served to the unit's recipients).")
    review_status: str = Field(description="`draft`, `in_review`, `changes_requested`, `approved`.")
    outdated: bool = Field(
        description="HQ published a new version since this edition was written or confirmed; "
        "HQ's text is served until its editor confirms (`POST …/confirm`) or edits it."
    )
    based_on_version: int
    locale: str
    title: str | None
    summary: str | None
    body: str | None
    acknowledgement_text: str | None
    translations: dict[str, EditionTranslation]
    local_note: str | None
    submitted_by: str | None
    reviewed_by: str | None
    review_comment: str | None
    published_at: datetime | None
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime
    etag: str


class PreviewOut(BaseModel):
    """What one employee would be served of a message, as the feed and e-mail serve it."""

    message_id: uuid.UUID
    employee_external_id: str
    recipient: bool = Field(description="Whether the employee is a recipient (published only).")
    edition: str | None = Field(description="The unit whose edition is served; null: HQ's.")
    edition_id: uuid.UUID | None
    locale: str
    title: str
    summary: str | None
    body: str
    acknowledgement_text: str | None
    local_note: str | None
    channels: list[str] = Field(description="Where it reaches them: `feed`, `email`, `chat`.")
