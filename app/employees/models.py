import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Column, Date, Index, Integer, String, false, true
from sqlmodel import Field, SQLModel

from app.core.database import JSONType, UTCDateTime, recorded_at


class EmploymentType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    CONTRACTOR = "contractor"
    INTERN = "intern"
    TEMPORARY = "temporary"


class Employee(SQLModel, table=True):
    """A recipient, owned by the HRIS. E-mail and user name are stored lower-cased."""

    __tablename__ = "employees"
    __table_args__ = (
        Index("ix_employees_active_department", "active", "department"),
        Index("ix_employees_active_country", "active", "country"),
        Index("ix_employees_active_location", "active", "location"),
        Index("ix_employees_active_division", "active", "division"),
        Index("ix_employees_manager_external_id", "manager_external_id"),
        Index("ix_employees_hire_date", "hire_date"),
        Index("ix_employees_updated_at", "updated_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    external_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    email: str | None = Field(default=None, sa_column=Column(String(320), unique=True))
    user_name: str | None = Field(default=None, sa_column=Column(String(320), unique=True))
    employee_number: str | None = Field(default=None, sa_column=Column(String(100)))
    display_name: str | None = Field(default=None, sa_column=Column(String(200)))
    given_name: str | None = Field(default=None, sa_column=Column(String(200)))
    family_name: str | None = Field(default=None, sa_column=Column(String(200)))
    department: str | None = Field(default=None, sa_column=Column(String(200)))
    division: str | None = Field(default=None, sa_column=Column(String(200)))
    location: str | None = Field(default=None, sa_column=Column(String(200)))
    country: str | None = Field(default=None, sa_column=Column(String(2)))
    job_title: str | None = Field(default=None, sa_column=Column(String(200)))
    job_level: int | None = Field(default=None, sa_column=Column(Integer))
    manager_external_id: str | None = Field(default=None, sa_column=Column(String(255)))
    employment_type: str | None = Field(default=None, sa_column=Column(String(20)))
    customer_facing: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    hire_date: date | None = Field(default=None, sa_column=Column(Date))
    locale: str | None = Field(default=None, sa_column=Column(String(35)))
    # IANA time zone (`Europe/Madrid`); without it, the country's main zone
    time_zone: str | None = Field(default=None, sa_column=Column(String(64)))
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    revision: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))
    created_at: datetime = recorded_at()
    updated_at: datetime = recorded_at()
    deactivated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    # SCIM's view of the employee (written by app.scim only): the values an identity provider
    # sent where the directory stores them otherwise, each with the directory value it was
    # stored as (see app.scim.mapping); and when the SCIM resource was deleted (the employee
    # stays, deactivated).
    scim_attributes: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONType, nullable=True)
    )
    scim_deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
