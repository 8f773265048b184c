import uuid
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from app.core.database import Editable, JSONType, owned_by


class Audience(Editable, table=True):
    """A named rule over employee attributes plus explicit include and exclude lists."""

    __tablename__ = "audiences"
    __table_args__ = (Index("ix_audiences_created_at", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    key: str | None = Field(default=None, sa_column=Column(String(100), unique=True))
    description: str | None = Field(default=None, sa_column=Column(String(2000)))
    # the validated, normalized rule tree (see app/audiences/rules.py)
    rule: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    include_external_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    exclude_external_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    # the unit (`country=MX`) of an audience made by a scoped editor: membership is ANDed
    # with it (`app.editors.units`); None: an HQ audience
    unit: str | None = Field(default=None, sa_column=Column(String(1000)))


class MessageAudience(SQLModel, table=True):
    """Which audiences a message goes to, in the order the editor listed them."""

    __tablename__ = "message_audiences"
    __table_args__ = (Index("ix_message_audiences_audience_id", "audience_id"),)

    message_id: uuid.UUID = owned_by("messages.id", primary_key=True)
    # no cascade: an audience in use by a scheduled or published message must not vanish
    audience_id: uuid.UUID = Field(sa_column=Column(ForeignKey("audiences.id"), primary_key=True))
    position: int = Field(default=0, sa_column=Column(Integer, nullable=False))
