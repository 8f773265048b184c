import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from app.core.database import recorded_at


class GrantRole(StrEnum):
    LOCAL_EDITOR = "local_editor"
    APPROVER = "approver"


class EditorGrant(SQLModel, table=True):
    """A role over one unit, given to an employee (through their SSO token) or an API token."""

    __tablename__ = "editor_grants"
    __table_args__ = (
        Index("ix_editor_grants_employee_id", "employee_id"),
        Index("ix_editor_grants_token_id", "token_id"),
        CheckConstraint(
            "(employee_id IS NULL) <> (token_id IS NULL)", name="editor_grants_one_grantee"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    employee_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("employees.id", ondelete="CASCADE"))
    )
    token_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    )
    role: str = Field(sa_column=Column(String(20), nullable=False))
    # the unit's key (`app.editors.units`), e.g. `country=MX`
    unit: str = Field(sa_column=Column(String(1000), nullable=False))
    created_by: str = Field(sa_column=Column(String(300), nullable=False))
    created_at: datetime = recorded_at()
