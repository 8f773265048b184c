"""API shapes of brand messages.

Field types are declared once as aliases and shared by create, update and output shapes, so
that a new field (e.g. `audience_ids`) is one line in each.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.advocacy.schemas import SharingCreate, SharingOut, SharingUpdate
from app.core.validators import LocaleTag, normalize_locale
from app.messages.models import Category, Priority, Status
from app.quizzes.schemas import Quiz, QuizTranslation
from app.receipts.models import Channel

MAX_TITLE = 200
MAX_SUMMARY = 500
MAX_BODY = 100_000
MAX_ACK_TEXT = 1000
MAX_TAGS = 20
MAX_TAG = 50
MAX_TRANSLATIONS = 50

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Summary = Annotated[str, Field(max_length=MAX_SUMMARY)]
# Markdown is stored exactly as written: no stripping, no rendering, no sanitizing here.
Body = Annotated[str, Field(max_length=MAX_BODY, description="Markdown, stored as written.")]


def _dedupe(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_dedupe)]
AckText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ACK_TEXT),
    Field(description="The statement an employee acknowledges, e.g. 'I have read and understood'."),
]
AckWithinDays = Annotated[
    int, Field(ge=1, le=365, description="Acknowledgement due date = publication + this many days.")
]
MAX_PULSE_QUESTION = 300
PulseQuestion = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PULSE_QUESTION),
    Field(
        description="A question employees answer on a 1 to 5 scale, e.g. 'How confident are you "
        "explaining our brand promise to a customer?'"
    ),
]


def _is_none(value: Any) -> bool:
    return value is None


class FeedbackSettings(BaseModel):
    """What employees may do with the message."""

    model_config = ConfigDict(extra="forbid")

    reactions: bool = Field(default=True, description="Employees may react.")
    comments: bool = Field(default=True, description="Employees may comment and ask questions.")
    anonymous_comments: bool = Field(
        default=False,
        description="Comments and questions keep no link to their author, not even in the "
        "database; applies to those written while it is on.",
    )


class FeedbackSettingsPatch(BaseModel):
    """The feedback settings to change; absent ones stay as they are."""

    model_config = ConfigDict(extra="forbid")

    reactions: bool | None = None
    comments: bool | None = None
    anonymous_comments: bool | None = None

    @field_validator("reactions", "comments", "anonymous_comments", mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class Translation(BaseModel):
    """The content of a message in one more locale."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    summary: Summary | None = None
    body: Body = ""
    # left out of the output when absent, so translations without one look as they always did
    pulse_question: PulseQuestion | None = Field(
        default=None,
        exclude_if=_is_none,
        description="The pulse question in this locale (used only when the message has one).",
    )
    quiz: QuizTranslation | None = Field(  # issue 21
        default=None,
        exclude_if=_is_none,
        description="The quiz's questions and options in this locale (only when the message "
        "has a quiz; then every question and option).",
    )


def _distinct_locales(value: Any) -> Any:
    """`es_mx` and `es-MX` are the same locale: refuse both in one object."""
    if isinstance(value, dict):
        seen: set[str] = set()
        for key in value:
            try:
                locale = normalize_locale(str(key))
            except ValueError:
                continue  # reported by the field's own validation, with its path
            if locale in seen:
                raise ValueError(f"the locale '{locale}' appears more than once")
            seen.add(locale)
    return value


Translations = Annotated[
    dict[LocaleTag, Translation],
    Field(max_length=MAX_TRANSLATIONS, description="Locale -> the content in that locale."),
    BeforeValidator(_distinct_locales),
]


MAX_AUDIENCES = 50
AudienceIds = Annotated[
    list[uuid.UUID],
    Field(
        max_length=MAX_AUDIENCES,
        description="Audiences the message goes to (the union of their members, each once). "
        "Fixed once the message is published.",
    ),
]


def _with_feed(channels: list[Channel]) -> list[Channel]:
    """`feed` first and always; each channel once."""
    return list(dict.fromkeys([Channel.FEED, *channels]))


Channels = Annotated[
    list[Channel],
    Field(
        max_length=len(Channel),
        description="Where the message goes: `feed` (always, added if absent), `email` (each "
        "recipient with an e-mail address), `chat` (the `chat_target_ids`). Fixed once published.",
    ),
    AfterValidator(_with_feed),
]
MAX_CHAT_TARGETS = 20
ChatTargetIds = Annotated[
    list[uuid.UUID],
    Field(
        max_length=MAX_CHAT_TARGETS,
        description="The team channels (`/v1/chat-targets`) a message with the `chat` channel "
        "is posted to.",
    ),
    AfterValidator(lambda ids: list(dict.fromkeys(ids))),
]


class Retarget(BaseModel):
    """E-mail the message again to recipients who have not read it (or, when it asks for
    acknowledgement, not acknowledged it) `after_days` after the last e-mail, at most `max`
    times; it stops the moment they read or acknowledge."""

    model_config = ConfigDict(extra="forbid")

    after_days: int = Field(ge=1, le=90)
    max: int = Field(ge=1, le=10)


EmailCap = Annotated[
    int,
    Field(
        ge=0,
        le=1000,
        description="This message's weekly cap on `normal` e-mails per employee, instead of "
        "BRANDCAST_EMAIL_MAX_PER_WEEK.",
    ),
]


# -- local editions (app/editions): what units may adapt ---------------------------------------
LockableField = Literal["title", "summary", "body", "acknowledgement_text"]
Locked = Annotated[
    list[LockableField],
    Field(
        max_length=4,
        description="Fields local editions may not change: HQ's text of them is served "
        "everywhere (e.g. the policy's binding `body` and `acknowledgement_text`).",
    ),
    AfterValidator(lambda names: list(dict.fromkeys(names))),
]
Localizable = Annotated[
    bool,
    Field(description="Units may adapt it in local editions (`PUT …/editions/{unit}`)."),
]


class MessageCreate(SharingCreate):
    """A new draft."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    audience_ids: AudienceIds = Field(default_factory=list)
    channels: Channels = Field(default_factory=lambda: [Channel.FEED])
    chat_target_ids: ChatTargetIds = Field(default_factory=list)
    title: Title
    summary: Summary | None = None
    body: Body = ""
    locale: LocaleTag = Field(default="en", description="BCP 47 locale of title, summary and body.")
    translations: Translations = Field(default_factory=dict)
    priority: Priority = Priority.NORMAL
    tags: Tags = Field(default_factory=list)
    requires_acknowledgement: bool = False
    acknowledgement_text: AckText | None = None
    acknowledge_within_days: AckWithinDays | None = None
    pulse_question: PulseQuestion | None = None
    quiz: Quiz | None = Field(  # issue 21
        default=None,
        description="A comprehension check employees pass before their acknowledgement counts; "
        "on a published message it changes only with a new version.",
    )
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    email_max_per_week: EmailCap | None = None
    retarget: Retarget | None = None
    publish_at: AwareDatetime | None = Field(
        default=None, description="Planned publication time; `POST …/publish` schedules it."
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="After this time the message leaves feeds."
    )
    localizable: Localizable = False
    locked: Locked = Field(default_factory=list)


# Fields that may be absent from a PATCH but, when present, must not be null.
_NOT_NULL = (
    "category",
    "audience_ids",
    "channels",
    "chat_target_ids",
    "title",
    "body",
    "locale",
    "translations",
    "priority",
    "tags",
    "requires_acknowledgement",
    "feedback",
    "localizable",
    "locked",
)


class MessageUpdate(SharingUpdate):
    """A partial edit: only the fields present change (`null` clears an optional field)."""

    model_config = ConfigDict(extra="forbid")

    category: Category | None = None
    audience_ids: AudienceIds | None = None
    channels: Channels | None = None
    chat_target_ids: ChatTargetIds | None = None
    title: Title | None = None
    summary: Summary | None = None
    body: Body | None = None
    locale: LocaleTag | None = None
    translations: Translations | None = None
    priority: Priority | None = None
    tags: Tags | None = None
    requires_acknowledgement: bool | None = None
    acknowledgement_text: AckText | None = None
    acknowledge_within_days: AckWithinDays | None = None
    pulse_question: PulseQuestion | None = None
    quiz: Quiz | None = None  # issue 21: null removes it
    feedback: FeedbackSettingsPatch | None = None
    email_max_per_week: EmailCap | None = None
    retarget: Retarget | None = None
    publish_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    localizable: Localizable | None = None
    locked: Locked | None = None
    require_reacknowledgement: bool = Field(
        default=False,
        description=(
            "With a content change to a published message: earlier acknowledgements stop "
            "counting as current, and recipients are asked to acknowledge the new version."
        ),
    )

    @field_validator(*_NOT_NULL, mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publish_at: AwareDatetime | None = Field(
        default=None,
        description="Absent or not in the future: publish now. In the future: schedule.",
    )


class MessageOut(SharingOut):
    id: uuid.UUID
    category: Category
    audience_ids: list[uuid.UUID]
    channels: list[Channel]
    chat_target_ids: list[uuid.UUID]
    title: str
    summary: str | None
    body: str
    locale: str
    translations: dict[str, Translation]
    priority: Priority
    tags: list[str]
    requires_acknowledgement: bool
    acknowledgement_text: str | None
    acknowledge_within_days: int | None
    pulse_question: str | None
    quiz: Quiz | None  # issue 21
    feedback: FeedbackSettings
    email_max_per_week: int | None = None
    retarget: Retarget | None = None
    publish_at: datetime | None
    expires_at: datetime | None
    status: Status
    version: int = Field(
        description="The published content version (1 until edited after publication)."
    )
    acknowledgement_version: int = Field(
        description="Acknowledgements of versions older than this no longer count as current."
    )
    recipient_count: int
    published_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    etag: str = Field(description="The `ETag` of this state; send it back as `If-Match`.")
    # local editions and review (app/editions)
    localizable: bool = False
    locked: list[str] = Field(default_factory=list)
    unit: str | None = Field(
        default=None, description="The unit of a message written by a scoped editor; null: HQ's."
    )
    review_status: str | None = Field(
        default=None,
        description="`in_review`, `changes_requested` or `approved`; null until submitted.",
    )
    review_comment: str | None = None


class MessageVersionOut(BaseModel):
    """The content of a message as one of its versions was published."""

    version: int
    title: str
    summary: str | None
    body: str
    locale: str
    translations: dict[str, Translation]
    acknowledgement_text: str | None
    pulse_question: str | None
    quiz: Quiz | None  # issue 21
    requires_reacknowledgement: bool
    published_at: datetime
    published_by: str
