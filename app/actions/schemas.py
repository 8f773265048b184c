"""API shapes of actions ("you said, we did")."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.actions.models import ActionStatus, LinkKind
from app.reports.aggregates import GroupBy

MAX_LINKS = 100
MAX_SECRETS = 100

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=10_000)]
UpdateText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
UnitValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Unit(BaseModel):
    """A unit of the company: an employee attribute and its value."""

    model_config = ConfigDict(extra="forbid")

    kind: GroupBy
    value: UnitValue


class LinkIn(BaseModel):
    """What prompted the action: a comment or question (`comment_id`), a message's pulse
    result (`message_id`), or a unit of the brand-alignment report (`unit`)."""

    model_config = ConfigDict(extra="forbid")

    kind: LinkKind
    comment_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    unit: Unit | None = None

    @model_validator(mode="after")
    def _target(self) -> "LinkIn":
        wanted = {
            LinkKind.COMMENT: "comment_id",
            LinkKind.PULSE: "message_id",
            LinkKind.UNIT: "unit",
        }[self.kind]
        for name in ("comment_id", "message_id", "unit"):
            given = getattr(self, name) is not None
            if name == wanted and not given:
                raise ValueError(f"a `{self.kind}` link needs `{name}`")
            if name != wanted and given:
                raise ValueError(f"a `{self.kind}` link takes only `{wanted}`, not `{name}`")
        return self


Links = Annotated[list[LinkIn], Field(max_length=MAX_LINKS)]


class ActionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    owner_unit: Unit = Field(description="The unit that owns the commitment.")
    links: Links = Field(default_factory=list)


class ActionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    owner_unit: Unit | None = None

    @model_validator(mode="after")
    def _not_null(self) -> "ActionPatch":
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"`{name}` may not be null")
        return self


class ActionUpdateIn(BaseModel):
    """A step: a new status, an update text, or both. `reason` with `declined` (and only then)."""

    model_config = ConfigDict(extra="forbid")

    status: ActionStatus | None = None
    text: UpdateText | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _something(self) -> "ActionUpdateIn":
        if self.status is None and self.text is None:
            raise ValueError("give a `status`, a `text` or both")
        if self.status is ActionStatus.DECLINED and self.reason is None:
            raise ValueError("a declined action needs a `reason`")
        if self.reason is not None and self.status is not ActionStatus.DECLINED:
            raise ValueError("`reason` goes with `status: declined` only")
        return self


class LinksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    links: Annotated[list[LinkIn], Field(min_length=1, max_length=MAX_LINKS)]


class LinkOut(BaseModel):
    id: uuid.UUID
    kind: LinkKind
    comment_id: uuid.UUID | None
    message_id: uuid.UUID | None
    unit: Unit | None
    feedback_at: datetime | None
    linked_at: datetime


class ActionUpdateOut(BaseModel):
    status: ActionStatus
    previous_status: ActionStatus | None
    text: str | None
    created_at: datetime


class ActionOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    owner_unit: Unit
    status: ActionStatus
    decline_reason: str | None
    links: list[LinkOut]
    updates: list[ActionUpdateOut] = Field(description="Oldest first.")
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    created_by: str
    etag: str


# --- employee side ------------------------------------------------------------------------


class MyActionLink(BaseModel):
    """What of the caller's prompted the action (only the caller's own, never others')."""

    kind: LinkKind
    message_id: uuid.UUID | None
    comment_id: uuid.UUID | None
    unit: Unit | None


class MyActionOut(BaseModel):
    """An action linked to something the caller said, as they see it."""

    id: uuid.UUID
    title: str
    description: str
    owner_unit: Unit
    status: ActionStatus
    decline_reason: str | None
    about: list[MyActionLink]
    updates: list[ActionUpdateOut]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class MyActionsLookup(BaseModel):
    """The secrets the caller's client holds for the anonymous comments it wrote."""

    model_config = ConfigDict(extra="forbid")

    author_secrets: Annotated[
        list[
            Annotated[
                str,
                StringConstraints(min_length=32, max_length=128, pattern=r"^[A-Za-z0-9_-]+$"),
            ]
        ],
        Field(min_length=1, max_length=MAX_SECRETS),
    ]


class ActionSummary(BaseModel):
    """An action about a message, on the message's view."""

    id: uuid.UUID
    title: str
    status: ActionStatus
    updated_at: datetime


def unit_of(kind: Any, value: Any) -> Unit | None:
    return Unit(kind=kind, value=value) if kind is not None and value is not None else None
