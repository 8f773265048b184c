"""Review before publishing: `draft → in_review → approved`, for HQ messages of the categories
`BRANDCAST_REVIEW_REQUIRED` names and for every local edition.

- Submitting needs the right to edit (`messages:write` on it); approving and asking for changes
  an approver: for a unit's message or edition, an `approver` grant over that unit; for HQ's,
  an HQ principal with `messages:write`. The author (creator, last editor or submitter) never
  approves their own (four eyes).
- An edit after submission or approval sends it back to review (`in_review`).
- Events `message.review_requested` and `message.approved`, and an audit event each.
"""

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.errors import Conflict, Forbidden
from app.core.principal import Principal, Scope
from app.editions.models import ReviewStatus
from app.editors.models import GrantRole
from app.webhooks.outbox import emit


class Reviewed(Protocol):
    """What review reads and writes on a message or an edition."""

    review_status: str | None
    submitted_by: str | None
    reviewed_by: str | None
    review_comment: str | None
    created_by: str


# the audit action of each step, after the entity type (`message.approved`, `edition.…`)
AUDITED = {
    "submit": "review_requested",
    "approve": "approved",
    "request_changes": "changes_requested",
}


def authors(item: Reviewed) -> set[str]:
    return {a for a in (item.created_by, getattr(item, "updated_by", None), item.submitted_by) if a}


def check_approver(principal: Principal, item: Reviewed, *, unit: str | None) -> None:
    """403 unless the principal may sign off `item` (of `unit`; None: HQ's)."""
    if principal.unit is not None:
        if unit != principal.unit or GrantRole.APPROVER not in principal.roles:
            raise Forbidden(
                f"Only an approver of the unit `{unit or 'HQ'}` can review this; this credential "
                f"is scoped to `{principal.unit}` as {', '.join(sorted(principal.roles))}."
            )
    elif not principal.has(Scope.MESSAGES_WRITE):
        raise Forbidden(f"This credential lacks the `{Scope.MESSAGES_WRITE.value}` scope.")
    if principal.actor in authors(item):
        raise Forbidden("Four eyes: the author of this text cannot review it.")


def edited(item: Reviewed) -> None:
    """An edit: what was submitted or approved goes back to review."""
    if item.review_status in (ReviewStatus.IN_REVIEW, ReviewStatus.APPROVED):
        item.review_status = ReviewStatus.IN_REVIEW
        item.reviewed_by = None


def require_approved(item: Reviewed, what: str) -> None:
    if item.review_status != ReviewStatus.APPROVED:
        state = item.review_status or ReviewStatus.DRAFT
        raise Conflict(
            f"{what} needs an approver's sign-off before it is published (it is {state}): "
            "`POST …/submit`, then an approver's `POST …/approve`."
        )


async def transition(
    session: AsyncSession,
    principal: Principal,
    item: Reviewed,
    *,
    action: str,
    entity_type: str,
    entity_id: Any,
    message_id: Any,
    unit: str | None,
    comment: str | None = None,
    event: dict[str, Any],
) -> None:
    """Apply `submit`, `approve` or `request_changes` to `item`, with audit and events."""
    status = item.review_status or ReviewStatus.DRAFT
    if action == "submit":
        if status in (ReviewStatus.IN_REVIEW, ReviewStatus.APPROVED):
            raise Conflict(f"This is already {status}.")
        item.review_status = ReviewStatus.IN_REVIEW
        item.submitted_by = principal.actor
        item.reviewed_by = None
        item.review_comment = None
        event_type = "message.review_requested"
    else:
        check_approver(principal, item, unit=unit)
        if status != ReviewStatus.IN_REVIEW:
            raise Conflict(f"Only a text in review can be reviewed; this is {status}.")
        item.reviewed_by = principal.actor
        item.review_comment = comment
        if action == "approve":
            item.review_status = ReviewStatus.APPROVED
            event_type = "message.approved"
        else:
            item.review_status = ReviewStatus.CHANGES_REQUESTED
            event_type = None
    await session.flush()
    await record(
        session,
        principal,
        action=f"{entity_type}.{AUDITED[action]}",
        entity_type=entity_type,
        entity_id=entity_id,
        details={"unit": unit, "review_status": item.review_status, "comment": comment},
    )
    if event_type is not None:
        await emit(
            session,
            type=event_type,
            message_id=message_id,
            data={**event, "review_status": item.review_status, "unit": unit},
        )
