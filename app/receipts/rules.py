"""The rules of "message M delivered to employee E", each written once: a SQL expression and,
where Python needs it too, its twin beside it. Every report, feed, job and event calls these.

- **live**: published and not expired. Feeds show live messages, late joiners join them, and
  only a live message takes responses (acknowledgements, reactions, pulse, comments).
- **reachable**: published or archived. An employee can still open and mark read an archived
  message sent to them; a draft or scheduled one is not theirs to see yet.
- **acknowledged**: the recipient's acknowledged content version is at least the message's
  `acknowledgement_version` (a re-acknowledgement round raises it).
- **awaiting**: the message asks for acknowledgement and the recipient has not given a current
  one. **pending**: awaiting, and the employee is active (leavers are never pending).
- **past due**: the due date is before `now`; acknowledging at the due date itself is on time.
  **overdue**: pending and past due. Reports, the recipients list and the overdue event all
  use this one comparison, so they never disagree at the boundary.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_
from sqlalchemy.sql.elements import ColumnElement

from app.employees.models import Employee
from app.messages.models import Message, Status
from app.receipts.models import Recipient

_MESSAGES = Message.__table__.c
_RECIPIENTS = Recipient.__table__.c
_EMPLOYEES = Employee.__table__.c

REACHABLE_STATUSES = (Status.PUBLISHED, Status.ARCHIVED)


def live(now: Any, messages: Any = _MESSAGES) -> ColumnElement[bool]:
    """The message (the `messages` table joined, or the columns `messages` of a CTE that
    selected its `status` and `expires_at`) is published and not expired at `now`."""
    return and_(
        messages.status == Status.PUBLISHED,
        or_(messages.expires_at.is_(None), messages.expires_at > now),
    )


def is_live(status: str, expires_at: datetime | None, now: datetime) -> bool:
    """`live` for values already read."""
    return status == Status.PUBLISHED and (expires_at is None or expires_at > now)


def reachable() -> ColumnElement[bool]:
    """The message (the `messages` table joined) is published or archived."""
    # ORs, not IN: an IN list is rendered at execution, and hot statements are compiled once
    return or_(*(_MESSAGES.status == status for status in REACHABLE_STATUSES))


def acknowledged(version: Any = _MESSAGES.acknowledgement_version) -> ColumnElement[bool]:
    """The recipient's acknowledgement is current: of `version` (by default the message's
    `acknowledgement_version`, which needs `messages` joined; or a bound value) or later."""
    return _RECIPIENTS.acknowledged_version >= version


def is_acknowledged(acknowledged_version: int | None, acknowledgement_version: int) -> bool:
    """`acknowledged` for values already read."""
    return acknowledged_version is not None and acknowledged_version >= acknowledgement_version


def not_acknowledged(version: Any = _MESSAGES.acknowledgement_version) -> ColumnElement[bool]:
    """No current acknowledgement: none at all, or only of versions before the current round."""
    return or_(
        _RECIPIENTS.acknowledged_version.is_(None), _RECIPIENTS.acknowledged_version < version
    )


def awaiting(
    requires_acknowledgement: Any = _MESSAGES.requires_acknowledgement,
    version: Any = _MESSAGES.acknowledgement_version,
) -> ColumnElement[bool]:
    """The message asks for acknowledgement and the recipient owes a current one. With a
    message's facts as values (a report about one message) no join to `messages` is needed."""
    if requires_acknowledgement is False:
        return false()
    if requires_acknowledgement is True:
        return not_acknowledged(version)
    return and_(requires_acknowledgement.is_(True), not_acknowledged(version))


def pending(
    requires_acknowledgement: Any = _MESSAGES.requires_acknowledgement,
    version: Any = _MESSAGES.acknowledgement_version,
) -> ColumnElement[bool]:
    """Awaiting, and the employee (the `employees` table joined) is active."""
    return and_(awaiting(requires_acknowledgement, version), _EMPLOYEES.active.is_(True))


def past_due(now: Any) -> ColumnElement[bool]:
    """The recipient's due date is before `now` (a recipient without one is never past due)."""
    return _RECIPIENTS.due_at < now


def is_past_due(due_at: datetime | None, now: datetime) -> bool:
    """`past_due` for a value already read."""
    return due_at is not None and due_at < now


def overdue(
    now: Any,
    requires_acknowledgement: Any = _MESSAGES.requires_acknowledgement,
    version: Any = _MESSAGES.acknowledgement_version,
) -> ColumnElement[bool]:
    """Pending and past due."""
    return and_(pending(requires_acknowledgement, version), past_due(now))


def on_time() -> ColumnElement[bool]:
    """The recipient acknowledged at or before the due date: not past due when they did."""
    return _RECIPIENTS.acknowledged_at <= _RECIPIENTS.due_at
