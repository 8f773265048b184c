"""Employee advocacy: what a message lets employees share, their shares and the clicks on them.

A shareable message keeps its sharing settings beside it (`message_sharing`, one row per message
that has ever had them), so the messages table is not widened for the few messages that are
shared. Each share has a short random `code`, the key of its public link `/s/{code}`. A click is
counted on its share (`shares.clicks`); to count a visitor once an hour, it is remembered as a
keyed hash of (visitor, share, hour) under a daily key (`share_click_keys`), and both the key and
the hashes of earlier hours are deleted when the next day's key is made. No address, browser
string or cookie is ever stored.
"""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlmodel import Field, SQLModel

from app.core.database import JSONType, UTCDateTime, owned_by, recorded_at


class Network(StrEnum):
    LINKEDIN = "linkedin"
    X = "x"
    FACEBOOK = "facebook"
    XING = "xing"
    GENERIC = "generic"


def _one_of(column: str, values: object) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class MessageSharing(SQLModel, table=True):
    """How a message may be shared: its public URL, its texts, the signature."""

    __tablename__ = "message_sharing"

    message_id: uuid.UUID = owned_by("messages.id", primary_key=True)
    shareable: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    share_url: str | None = Field(default=None, sa_column=Column(String(2000)))
    signature: str | None = Field(default=None, sa_column=Column(String(200)))
    # locale -> network -> the suggested text
    texts: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False, server_default="{}")
    )


class Share(SQLModel, table=True):
    """One employee's post of a message on one network, with its personal short link."""

    __tablename__ = "shares"
    __table_args__ = (
        CheckConstraint(_one_of("network", Network), name="known_network"),
        Index("ix_shares_message_id", "message_id", "network"),
        Index("ix_shares_employee_id", "employee_id", "created_at", "id"),
        Index("ix_shares_created_at", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    code: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    message_id: uuid.UUID = owned_by("messages.id")
    employee_id: uuid.UUID = owned_by("employees.id")
    network: str = Field(sa_column=Column(String(20), nullable=False))
    locale: str | None = Field(default=None, sa_column=Column(String(35)))
    text: str = Field(sa_column=Column(Text, nullable=False))
    # counted clicks, kept here as they are counted: figures never count click rows
    clicks: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    created_at: datetime = recorded_at()


class ShareClick(SQLModel, table=True):
    """One counted click: at most one per (share, visitor, hour). Needed only while its hour
    lasts (to count a visitor once); rows of earlier hours are deleted with the day's key."""

    __tablename__ = "share_clicks"
    __table_args__ = (Index("ix_share_clicks_clicked_at", "clicked_at"),)

    share_id: uuid.UUID = owned_by("shares.id", primary_key=True)
    # HMAC of (visitor, share, hour) under the day's key: not reversible, not linkable once
    # the key is deleted
    visitor: bytes = Field(sa_column=Column(LargeBinary(16), primary_key=True))
    # the hour of the click (truncated), which is all that is kept of its time
    clicked_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ShareClickKey(SQLModel, table=True):
    """The day's random key for visitor hashes; deleted once the day is over."""

    __tablename__ = "share_click_keys"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class BlockedWord(SQLModel, table=True):
    """A word or phrase no share may contain, set by the company (besides the setting's)."""

    __tablename__ = "share_blocked_words"

    word: str = Field(sa_column=Column(String(100), primary_key=True))
    created_by: str = Field(sa_column=Column(String(300), nullable=False))
    created_at: datetime = recorded_at()


class AdvocacyProfile(SQLModel, table=True):
    """An employee's advocacy choices: whether they appear on the leaderboard (never by default)."""

    __tablename__ = "advocacy_profiles"

    employee_id: uuid.UUID = owned_by("employees.id", primary_key=True)
    leaderboard_opt_in: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    updated_at: datetime = recorded_at()
