"""What an employee chose about the e-mails they get. One row per employee who chose
anything; one nullable column per preference, NULL meaning "the company default"
(`app.preferences.service.DEFAULTS` and `Settings`)."""

import uuid
from datetime import datetime

from sqlalchemy import Column, Integer, String
from sqlmodel import Field, SQLModel

from app.core.database import JSONType, UTCDateTime, owned_by


class EmployeePreference(SQLModel, table=True):
    __tablename__ = "employee_preferences"

    employee_id: uuid.UUID = owned_by("employees.id", primary_key=True)
    # the message categories the employee wants no e-mail of (a JSON array)
    email_off: list[str] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False, server_default="[]")
    )
    digest: str | None = Field(default=None, sa_column=Column(String(10)))  # off|daily|weekly
    digest_hour: int | None = Field(default=None, sa_column=Column(Integer))
    # quiet hours as minutes after local midnight; both set or both NULL
    quiet_start: int | None = Field(default=None, sa_column=Column(Integer))
    quiet_end: int | None = Field(default=None, sa_column=Column(Integer))
    time_zone: str | None = Field(default=None, sa_column=Column(String(64)))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
