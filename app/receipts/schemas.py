"""API shapes of receipts: acknowledgements, reports, reminders."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from app.advocacy.schemas import AdvocacyFigures, MessageAdvocacy
from app.core.validators import LocaleTag
from app.reports.aggregates import OTHER, ReportGroupBy


class RecipientState(StrEnum):
    UNREAD = "unread"
    READ = "read"
    ACKNOWLEDGED = "acknowledged"
    PENDING = "pending"
    OVERDUE = "overdue"


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


class ChannelCounts(BaseModel):
    """Deliveries on one channel (e-mail, chat)."""

    planned: int = Field(description="Deliveries planned (every one, whatever became of it).")
    sent: int
    failed: int = Field(description="Rejected, or given up on after the retry period.")
    pending: int = Field(description="Not sent yet: planned, held or being sent.")
    cancelled: int = Field(
        description="Not sent on purpose: the message closed, the employee left or opted out."
    )


class ReadVia(BaseModel):
    """Where recipients first read the message."""

    feed: int = Field(description="In the feed (an intranet page), or by acknowledging.")
    email: int = Field(description="Through the tracked link of the e-mail.")


class GroupStats(ReceiptCounts):
    key: str | None = Field(
        description=f"The attribute's value (null: not set), or `{OTHER}` for the groups "
        "too small to show on their own, merged.",
        examples=["Retail", OTHER],
    )
    email: ChannelCounts = Field(
        description="The group's e-mails, retargeting rounds included (as `channels` counts "
        "them): one recipient may have several."
    )
    read_via: ReadVia
    advocacy: AdvocacyFigures | None = Field(
        default=None,
        description="Shares of the group's employees and clicks on them; null when fewer than "
        "the minimum group shared (counted in `(other)`).",
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
    channels: dict[str, ChannelCounts] = Field(
        description="Deliveries per channel other than the feed (`email`, `chat`), for the "
        "channels the message names."
    )
    read_via: ReadVia
    advocacy: MessageAdvocacy = Field(description="Employee shares and the clicks on them.")
    group_by: ReportGroupBy | None = None
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


class AcknowledgementCreate(BaseModel):
    """Optional: the locale the caller was shown, when the client knows it."""

    model_config = ConfigDict(extra="forbid")

    locale: LocaleTag | None = Field(
        default=None,
        description="The `locale` of the feed item shown; by default negotiated as for the feed.",
    )


class AcknowledgementOut(BaseModel):
    """The evidence kept for an acknowledgement; it does not change when the message does."""

    id: uuid.UUID
    message_id: uuid.UUID
    version: int = Field(description="The content version acknowledged (see its versions).")
    statement: str = Field(description="The acknowledgement statement as shown.")
    locale: str = Field(description="The locale of the content shown.")
    content_sha256: str = Field(
        description="SHA-256 (hex) of the content shown: the UTF-8 JSON "
        '`{"body":…,"locale":…,"title":…}` with sorted keys, no spaces, non-ASCII kept; for a '
        'local edition also `"edition"` (its unit key) and `"local_note"`.'
    )
    acknowledged_at: datetime
    quiz_attempt_id: uuid.UUID | None = Field(  # issue 21
        default=None,
        description="The passing attempt at the message's comprehension check, when it has one.",
    )
    edition_id: uuid.UUID | None = Field(
        default=None, description="The local edition acknowledged; null: HQ's text."
    )


class ReminderSent(BaseModel):
    message_id: uuid.UUID
    event_id: uuid.UUID
    pending: int = Field(description="Recipients who have not acknowledged the current version.")


class DeliveryStateFilter(StrEnum):
    PENDING = "pending"  # planned, held or being sent
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DIGESTED = "digested"  # carried by a digest e-mail


class DeliveryOut(BaseModel):
    """One e-mail to an employee, or one post to a chat target, and where it stands."""

    id: int
    message_id: uuid.UUID | None = None
    channel: str = Field(examples=["email", "chat"])
    state: str = Field(
        description="`planned` (waiting), `held` (see `reason`), `sending`, `sent`, `failed`, "
        "`cancelled` or `digested` (carried by a digest e-mail)."
    )
    employee_external_id: str | None = Field(description="E-mail: the recipient.")
    email: str | None = Field(description="E-mail: the recipient's address now.")
    chat_target_id: uuid.UUID | None = Field(description="Chat: the team channel.")
    attempts: int
    not_before: datetime = Field(description="When it may be sent (next).")
    last_error: str | None = Field(description="The last failure, e.g. the SMTP server's reply.")
    reason: str | None = Field(description="Why it is held or was cancelled.")
    version: int = Field(description="The content version planned, then the one sent.")
    locale: str | None = Field(description="The locale it was sent in.")
    planned_at: datetime
    sent_at: datetime | None
    round: int = Field(
        default=0, description="0: the publication's e-mail; 1, 2, …: a retargeting e-mail."
    )
    held_at: datetime | None = Field(
        default=None, description="When the inbox rules first held it back."
    )
    released_at: datetime | None = Field(
        default=None, description="When a hold last ended (or a digest carried it)."
    )
    digest_period: str | None = Field(
        default=None, description="Held for a digest: the digest's period (`2030-01-08`)."
    )
    digest_id: int | None = Field(default=None, description="The digest that carried it.")


class ChatKind(StrEnum):
    TEAMS = "teams"
    SLACK = "slack"


class ChatTargetCreate(BaseModel):
    """A team channel: a Teams workflow webhook URL or a Slack incoming webhook URL."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Retail team (Teams)"])
    kind: ChatKind
    url: str = Field(
        max_length=2000,
        description="https:// to a public address (the webhooks' SSRF guard decides).",
    )
    locale: LocaleTag = Field(default="en", description="The language posts are made in.")


class ChatTargetOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: ChatKind
    url: str = Field(description="A credential: whoever has it can post to the channel.")
    locale: str
    active: bool
    created_by: str
    created_at: datetime


# --- the fatigue report --------------------------------------------------------------------


class EmailsPerEmployee(BaseModel):
    p50: float | None
    p90: float | None
    max: int | None


class FatigueFigures(BaseModel):
    """Sums that add up across groups (the `"(other)"` row is the total minus those shown)."""

    employees: int = Field(description="Employees with an e-mail planned in the period.")
    emails: int = Field(description="E-mails sent in the period: messages, retargeting, digests.")
    emails_per_employee: float | None = Field(description="Mean of `emails` over `employees`.")
    planned: int = Field(description="Message e-mails planned in the period.")
    held: int = Field(description="Of `planned`: held back at least once by the inbox rules.")
    held_by_cap: int
    held_by_quiet_hours: int
    held_for_digest: int
    held_share: float | None
    digests: int = Field(description="Digests sent in the period.")
    digests_opened: int = Field(description="Of `digests`: a link in it was followed.")
    digest_open_rate: float | None
    recipients: int = Field(description="Deliveries of messages published in the period.")
    read_in_feed: int
    read_by_email: int
    read_rate_feed: float | None
    read_rate_email: float | None


class FatigueRow(FatigueFigures):
    group: str


class FatigueOut(BaseModel):
    since: datetime
    until: datetime
    group_by: str | None
    total: FatigueFigures
    emails_per_employee: EmailsPerEmployee = Field(
        description="Over every employee of `total.employees` (no per-group percentiles: "
        "they would not add up, and a group's maximum is one person)."
    )
    groups: list[FatigueRow]


# --- the delivery preview ------------------------------------------------------------------


class EmailPreview(BaseModel):
    now: int = Field(description="E-mailed at once.")
    digest: int = Field(description="Waiting for their next digest.")
    held_by_cap: int = Field(description="Held: their weekly cap is reached.")
    held_by_quiet_hours: int = Field(description="Held until their quiet hours end.")
    cancelled: int = Field(description="Not e-mailed: category turned off, or unsubscribed.")
    no_address: int = Field(description="No e-mail address in the directory.")


class DeliveryPreview(BaseModel):
    """What publishing the message at `at` would do, per channel."""

    at: datetime
    recipients: int = Field(description="Active employees in the message's audiences.")
    feed: int
    email: EmailPreview | None = Field(description="Null: the message is not e-mailed.")
    chat: int | None = Field(description="Chat targets posted to; null without `chat`.")
