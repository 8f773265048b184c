"""API shapes of employee advocacy: the sharing fields of a message, shares, figures.

The sharing fields of a message are mixins (`SharingCreate`, `SharingUpdate`, `SharingOut`) that
the message shapes inherit, so the messages area names them in one place each.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.advocacy import rules
from app.advocacy.models import Network
from app.core.validators import LocaleTag

MAX_SHARE_TEXT = max(rules.LENGTH_LIMITS.values())
MAX_BLOCKED_WORDS = 500

ShareUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=9, max_length=rules.MAX_SHARE_URL),
    AfterValidator(rules.check_share_url),
    Field(
        description="The public page employees share (https only); short links lead here, "
        "with `utm_source`, `utm_medium=employee_advocacy` and `utm_campaign` added.",
        examples=["https://www.example.com/our-promise"],
    ),
]
Signature = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.MAX_SIGNATURE),
    Field(
        description="Appended to every share on its own line, e.g. `#LifeAtAcme`; counted in "
        "each network's length limit.",
        examples=["#LifeAtAcme"],
    ),
]
ShareText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SHARE_TEXT)
]
ShareTexts = Annotated[
    dict[LocaleTag, dict[Network, ShareText]],
    Field(
        max_length=50,
        description="Locale -> network (`linkedin`, `x`, `facebook`, `xing`, `generic`) -> the "
        "suggested text; `generic` serves networks without their own.",
        examples=[{"en": {"linkedin": "Proud of what we promise.", "generic": "Our promise."}}],
    ),
]


class SharingCreate(BaseModel):
    shareable: bool = Field(
        default=False, description="Employees may share it (needs `share_url`)."
    )
    share_url: ShareUrl | None = None
    share_signature: Signature | None = None
    share_texts: ShareTexts = Field(default_factory=dict)


class SharingUpdate(BaseModel):
    shareable: bool | None = None
    share_url: ShareUrl | None = None
    share_signature: Signature | None = None
    share_texts: ShareTexts | None = None

    @field_validator("shareable", "share_texts", mode="after")
    @classmethod
    def _sharing_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class SharingOut(BaseModel):
    shareable: bool = False
    share_url: str | None = None
    share_signature: str | None = None
    share_texts: dict[str, dict[Network, str]] = Field(default_factory=dict)


SHARING_FIELDS = tuple(SharingOut.model_fields)


class ShareIn(BaseModel):
    """A share: the network, and the caller's own words (else the message's suggested text)."""

    model_config = ConfigDict(extra="forbid")

    network: Network
    text: ShareText | None = Field(
        default=None,
        description="Your text; without it, the message's text for this network in your "
        "locale. The signature is appended either way.",
    )


class ShareOut(BaseModel):
    id: uuid.UUID
    message_id: uuid.UUID
    network: Network
    locale: str | None = Field(description="The locale of the suggested text used, if any.")
    text: str = Field(description="What to post: the text with the signature.")
    link: str = Field(description="Your personal short link, `{BRANDCAST_PUBLIC_URL}/s/{code}`.")
    created_at: datetime


class MyShareOut(ShareOut):
    clicks: int = Field(description="Clicks counted on its link (one per visitor and hour).")


class NetworkFigures(BaseModel):
    shares: int
    clicks: int


class AdvocacyFigures(BaseModel):
    """Shares of a message (or messages) and the clicks on their links."""

    sharers: int = Field(description="Employees who shared.")
    shares: int
    clicks: int = Field(description="Counted clicks: one per visitor and hour, no bots or HEAD.")


class MessageAdvocacy(AdvocacyFigures):
    networks: dict[Network, NetworkFigures] = Field(description="Per network shared on.")


class MyAdvocacyOut(BaseModel):
    """The caller's shares, newest first, with their clicks."""

    shares: int = Field(description="All your shares.")
    clicks: int = Field(description="All clicks on your links.")
    leaderboard_opt_in: bool = Field(description="Whether you appear on the leaderboard.")
    items: list[MyShareOut]
    next_cursor: str | None = None


class LeaderboardRow(BaseModel):
    rank: int
    display_name: str | None
    department: str | None
    shares: int
    clicks: int


class LeaderboardOut(BaseModel):
    since: datetime
    until: datetime
    items: list[LeaderboardRow] = Field(
        description="Only employees who opted in, most clicks first (then most shares)."
    )


BlockedWordText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.MAX_BLOCKED_WORD)
]


class BlockedWordsIn(BaseModel):
    """The company's blocked words and phrases (replaces the list)."""

    model_config = ConfigDict(extra="forbid")

    words: list[BlockedWordText] = Field(max_length=MAX_BLOCKED_WORDS)


class BlockedWordsOut(BaseModel):
    words: list[str] = Field(description="Set here, case-folded, sorted.")
    from_settings: list[str] = Field(
        description="From `BRANDCAST_SHARE_BLOCKED_WORDS` (changed only by configuration)."
    )
