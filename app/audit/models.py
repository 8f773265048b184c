import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from app.core.database import JSONType, recorded_at
from app.core.ids import new_id


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity", "entity_type", "entity_id", "occurred_at"),
        Index("ix_audit_events_actor", "actor", "occurred_at"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    occurred_at: datetime = recorded_at()
    actor: str = Field(sa_column=Column(String(300), nullable=False))
    actor_name: str = Field(sa_column=Column(String(300), nullable=False))
    action: str = Field(sa_column=Column(String(100), nullable=False))
    entity_type: str = Field(sa_column=Column(String(50), nullable=False))
    entity_id: str = Field(sa_column=Column(String(200), nullable=False))
    request_id: str | None = Field(default=None, sa_column=Column(String(128)))
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
