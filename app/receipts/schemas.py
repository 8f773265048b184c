"""API shapes of the receipts reports."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class GroupBy(StrEnum):
    DEPARTMENT = "department"
    DIVISION = "division"
    LOCATION = "location"
    COUNTRY = "country"


class RecipientState(StrEnum):
    UNREAD = "unread"
    READ = "read"
    ACKNOWLEDGED = "acknowledged"
    PENDING = "pending"
    OVERDUE = "overdue"


OTHER_GROUP = "(other)"


class ReceiptCounts(BaseModel):
    recipients: int = Field(description="Employees the message was sent to.")
    read: int = Field(description="Recipients who opened it.")
    acknowledged: int = Field(description="Recipients who acknowledged its current version.")
    pending: int = Field(
        description="Active recipients who still have to acknowledge the current version "
        "(0 when the message asks for no acknowledgement)."
    )
    overdue: int = Field(description="Pending recipients whose due date has passed.")
    read_rate: float | None = Field(description="`read / recipients`; null without recipients.")
    acknowledgement_rate: float | None = Field(
        description="`acknowledged / recipients`; null without recipients or when the message "
        "asks for no acknowledgement."
    )


class GroupStats(ReceiptCounts):
    key: str | None = Field(
        description=f"The attribute's value (null: not set), or `{OTHER_GROUP}` for the groups "
        "too small to show on their own, merged.",
        examples=["Retail", OTHER_GROUP],
    )


class MessageStats(ReceiptCounts):
    """How a message landed: reach, reads and acknowledgements, optionally per group."""

    message_id: uuid.UUID
    requires_acknowledgement: bool
    version: int
    acknowledgement_version: int = Field(
        description="Acknowledgements of this version or later count as current."
    )
    as_of: datetime = Field(description="The time `overdue` was computed at.")
    group_by: GroupBy | None = None
    min_group_size: int | None = Field(
        default=None,
        description="Groups with fewer recipients are merged into one `(other)` group, itself "
        "topped up with the smallest groups until it reaches this size.",
    )
    groups: list[GroupStats] | None = Field(
        default=None, description="With `group_by`: largest first, `(other)` last."
    )


class RecipientOut(BaseModel):
    """One recipient of a message and where they stand."""

    external_id: str
    display_name: str | None
    email: str | None
    department: str | None
    division: str | None
    location: str | None
    country: str | None
    active: bool = Field(description="Deactivated employees never count as pending.")
    targeted_at: datetime
    due_at: datetime | None
    read_at: datetime | None
    acknowledged_at: datetime | None = Field(
        description="When they acknowledged the current version; null otherwise."
    )
    acknowledged_version: int | None = Field(
        description="The latest content version they acknowledged, current or not."
    )
