"""Actions ("you said, we did"): the communications side (create, edit, step through the
status flow, link to what prompted them) and what employees see of them.

Who is concerned by an action — written once, in `_concerns`:
- a `comment` link: the comment's author (named comments keep `author_id`; the author of an
  anonymous comment is found only through the secret their client holds, `lookup_mine`);
- a `pulse` link: the employees who answered that message's pulse question;
- a `unit` link: the employees currently in that unit.
Employees see only actions that concern them, and of each only the links that do.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.actions.models import (
    NEXT_STATUSES,
    Action,
    ActionLink,
    ActionStatus,
    ActionUpdate,
    LinkKind,
)
from app.actions.schemas import (
    ActionCreate,
    ActionOut,
    ActionPatch,
    ActionSummary,
    ActionUpdateIn,
    ActionUpdateOut,
    LinkIn,
    LinkOut,
    MyActionLink,
    MyActionOut,
    unit_of,
)
from app.audit.service import record
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed, field_error
from app.core.http import check_if_match, etag_for
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal
from app.employees.models import Employee
from app.feedback.models import Comment, PulseAnswer
from app.feedback.service import secret_sha256
from app.messages.models import Message
from app.receipts.access import delivery_for
from app.reports.aggregates import GroupBy
from app.webhooks.models import EventType
from app.webhooks.outbox import emit

# --- communications side ------------------------------------------------------------------


async def _resolve_links(session: AsyncSession, links: Sequence[LinkIn]) -> list[dict[str, Any]]:
    """The rows of `links`, each target checked (422 naming the link that names nothing)."""
    comment_ids = {link.comment_id for link in links if link.comment_id is not None}
    message_ids = {link.message_id for link in links if link.message_id is not None}
    comments = {
        row.id: row
        for row in await session.execute(
            select(Comment.id, Comment.message_id, Comment.created_at).where(
                Comment.id.in_(comment_ids)
            )
        )
    }
    messages = {
        row.id: row
        for row in await session.execute(
            select(Message.id, Message.published_at, Message.pulse_question).where(
                Message.id.in_(message_ids)
            )
        )
    }
    errors, rows, seen = [], [], set()
    for position, link in enumerate(links):
        where = f"body.links[{position}]"
        row: dict[str, Any] = {"kind": link.kind.value}
        if link.kind is LinkKind.COMMENT:
            comment = comments.get(link.comment_id)
            if comment is None:
                errors.append(field_error(f"{where}.comment_id", "no comment with this id"))
                continue
            row |= {
                "comment_id": comment.id,
                "message_id": comment.message_id,
                "feedback_at": comment.created_at,
            }
        elif link.kind is LinkKind.PULSE:
            message = messages.get(link.message_id)
            if message is None or message.pulse_question is None:
                errors.append(
                    field_error(f"{where}.message_id", "no message with a pulse question")
                )
                continue
            row |= {"message_id": message.id, "feedback_at": message.published_at}
        else:
            assert link.unit is not None
            row |= {"unit_kind": link.unit.kind.value, "unit_value": link.unit.value}
        key = (row["kind"], row.get("comment_id"), row.get("message_id"), row.get("unit_value"))
        if key in seen:
            continue
        seen.add(key)
        rows.append(row)
    if errors:
        raise ValidationFailed(errors)
    return rows


def _link_key(row: Any) -> tuple[Any, ...]:
    return (row.kind, row.comment_id, row.message_id, row.unit_kind, row.unit_value)


async def _add_links(
    session: AsyncSession, action_id: uuid.UUID, rows: list[dict[str, Any]], now: datetime
) -> int:
    existing = {
        _link_key(link)
        for link in (
            await session.execute(select(ActionLink).where(ActionLink.action_id == action_id))
        ).scalars()
    }
    added = 0
    for row in rows:
        link = ActionLink(action_id=action_id, linked_at=now, **row)
        if _link_key(link) in existing:
            continue
        session.add(link)
        added += 1
    await session.flush()
    return added


async def _load(session: AsyncSession, action_id: uuid.UUID, *, lock: bool = False) -> Action:
    stmt = select(Action).where(Action.id == action_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    action = (await session.execute(stmt)).scalar_one_or_none()
    if action is None:
        raise NotFound("No action with this id.")
    return action


def _update_out(update: ActionUpdate) -> ActionUpdateOut:
    return ActionUpdateOut(
        status=update.status,
        previous_status=update.previous_status,
        text=update.text,
        created_at=update.created_at,
    )


async def _outs(session: AsyncSession, actions: Sequence[Action]) -> list[ActionOut]:
    ids = [a.id for a in actions]
    links: dict[uuid.UUID, list[LinkOut]] = defaultdict(list)
    updates: dict[uuid.UUID, list[ActionUpdateOut]] = defaultdict(list)
    if ids:
        for (link,) in await session.execute(
            select(ActionLink)
            .where(ActionLink.action_id.in_(ids))
            .order_by(ActionLink.linked_at, ActionLink.id)
        ):
            links[link.action_id].append(
                LinkOut(
                    id=link.id,
                    kind=link.kind,
                    comment_id=link.comment_id,
                    message_id=link.message_id,
                    unit=unit_of(link.unit_kind, link.unit_value),
                    feedback_at=link.feedback_at,
                    linked_at=link.linked_at,
                )
            )
        for (update,) in await session.execute(
            select(ActionUpdate)
            .where(ActionUpdate.action_id.in_(ids))
            .order_by(ActionUpdate.created_at, ActionUpdate.id)
        ):
            updates[update.action_id].append(_update_out(update))
    return [
        ActionOut(
            id=a.id,
            title=a.title,
            description=a.description,
            owner_unit=unit_of(a.owner_unit_kind, a.owner_unit),
            status=a.status,
            decline_reason=a.decline_reason,
            links=links[a.id],
            updates=updates[a.id],
            created_at=a.created_at,
            updated_at=a.updated_at,
            closed_at=a.closed_at,
            created_by=a.created_by,
            etag=etag_for(a.id, a.revision),
        )
        for a in actions
    ]


def _event_data(action: Action, **extra: Any) -> dict[str, Any]:
    return {
        "action_id": action.id,
        "title": action.title,
        "status": action.status,
        "owner_unit": {"kind": action.owner_unit_kind, "value": action.owner_unit},
        "url": f"/v1/actions/{action.id}",
        **extra,
    }


async def _changed(
    session: AsyncSession,
    principal: Principal,
    action: Action,
    *,
    now: datetime,
    audit: str,
    details: dict[str, Any],
    **event: Any,
) -> None:
    """A change of an action: a new revision, its audit event and `action.updated`."""
    action.revision += 1
    action.updated_at = now
    await session.flush()
    await record(
        session,
        principal,
        action=audit,
        entity_type="action",
        entity_id=action.id,
        details=details,
    )
    await emit(session, type=EventType.ACTION_UPDATED.value, data=_event_data(action, **event))


async def create_action(
    session: AsyncSession, principal: Principal, *, data: ActionCreate
) -> ActionOut:
    now = utcnow()
    rows = await _resolve_links(session, data.links)
    action = Action(
        title=data.title,
        description=data.description,
        owner_unit_kind=data.owner_unit.kind.value,
        owner_unit=data.owner_unit.value,
        status=ActionStatus.PLANNED,
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    await session.flush()
    await _add_links(session, action.id, rows, now)
    session.add(
        ActionUpdate(
            action_id=action.id,
            status=ActionStatus.PLANNED,
            created_by=principal.actor,
            created_at=now,
        )
    )
    await session.flush()
    await record(
        session,
        principal,
        action="action.created",
        entity_type="action",
        entity_id=action.id,
        details={"title": action.title, "links": len(rows)},
    )
    await emit(
        session, type=EventType.ACTION_CREATED.value, data=_event_data(action, links=len(rows))
    )
    return (await _outs(session, [action]))[0]


async def get_action(
    session: AsyncSession, _principal: Principal, *, action_id: uuid.UUID
) -> ActionOut:
    return (await _outs(session, [await _load(session, action_id)]))[0]


async def list_actions(
    session: AsyncSession,
    _principal: Principal,
    *,
    page: PageParams,
    status: ActionStatus | None = None,
    message_id: uuid.UUID | None = None,
) -> Page[ActionOut]:
    """Actions newest first; `message_id`: those linked to that message (its comments or
    its pulse)."""
    stmt = select(Action)
    if status is not None:
        stmt = stmt.where(Action.status == status.value)
    if message_id is not None:
        stmt = stmt.where(
            exists().where(ActionLink.action_id == Action.id, ActionLink.message_id == message_id)
        )
    rows = (
        (await session.execute(keyset(stmt, page, [Action.created_at, Action.id]))).scalars().all()
    )
    outs = {o.id: o for o in await _outs(session, rows[: page.limit])}
    return make_page(rows, page, lambda a: (a.created_at, a.id), lambda a: outs[a.id])


async def update_action(
    session: AsyncSession,
    principal: Principal,
    *,
    action_id: uuid.UUID,
    data: ActionPatch,
    if_match: str | None,
) -> ActionOut:
    action = await _load(session, action_id, lock=True)
    check_if_match(if_match, etag_for(action.id, action.revision))
    changes: dict[str, Any] = {}
    if data.title is not None:
        changes["title"] = data.title
    if data.description is not None:
        changes["description"] = data.description
    if data.owner_unit is not None:
        changes["owner_unit_kind"] = data.owner_unit.kind.value
        changes["owner_unit"] = data.owner_unit.value
    changes = {k: v for k, v in changes.items() if getattr(action, k) != v}
    if changes:
        for name, value in changes.items():
            setattr(action, name, value)
        fields = sorted(changes)
        await _changed(
            session,
            principal,
            action,
            now=utcnow(),
            audit="action.edited",
            details={"fields": fields},
            change="edited",
            fields=fields,
        )
    return (await _outs(session, [action]))[0]


async def add_update(
    session: AsyncSession,
    principal: Principal,
    *,
    action_id: uuid.UUID,
    data: ActionUpdateIn,
    if_match: str | None = None,
) -> ActionOut:
    """A step of the action: a status change along `planned → in_progress → done | declined`
    (409 otherwise), an update text, or both."""
    action = await _load(session, action_id, lock=True)
    check_if_match(if_match, etag_for(action.id, action.revision))
    now = utcnow()
    previous = action.status
    status = data.status.value if data.status is not None else previous
    if status != previous:
        if status not in NEXT_STATUSES[previous]:
            raise Conflict(
                f"An action that is `{previous}` cannot become `{status}`"
                + (
                    f"; it may become {', '.join(f'`{s}`' for s in sorted(NEXT_STATUSES[previous]))}."
                    if NEXT_STATUSES[previous]
                    else f": `{previous}` is final."
                )
            )
        action.status = status
        if status in (ActionStatus.DONE, ActionStatus.DECLINED):
            action.closed_at = now
        if status == ActionStatus.DECLINED:
            action.decline_reason = data.reason
    elif data.status is not None and data.text is None:
        raise Conflict(f"The action is already `{status}`; give a `text` to post an update.")
    session.add(
        ActionUpdate(
            action_id=action.id,
            status=status,
            previous_status=previous if status != previous else None,
            text=data.text,
            created_by=principal.actor,
            created_at=now,
        )
    )
    await _changed(
        session,
        principal,
        action,
        now=now,
        audit="action.updated",
        details={"status": status, "previous_status": previous},
        change="status" if status != previous else "update",
        previous_status=previous,
        text=data.text,
        decline_reason=action.decline_reason,
    )
    return (await _outs(session, [action]))[0]


async def add_links(
    session: AsyncSession, principal: Principal, *, action_id: uuid.UUID, links: Sequence[LinkIn]
) -> ActionOut:
    action = await _load(session, action_id, lock=True)
    now = utcnow()
    added = await _add_links(session, action.id, await _resolve_links(session, links), now)
    if added:
        await _changed(
            session,
            principal,
            action,
            now=now,
            audit="action.linked",
            details={"added": added},
            change="links",
            links_added=added,
        )
    return (await _outs(session, [action]))[0]


async def remove_link(
    session: AsyncSession, principal: Principal, *, action_id: uuid.UUID, link_id: uuid.UUID
) -> None:
    action = await _load(session, action_id, lock=True)
    link = (
        await session.execute(
            select(ActionLink).where(ActionLink.id == link_id, ActionLink.action_id == action_id)
        )
    ).scalar_one_or_none()
    if link is None:
        raise NotFound("This action has no link with this id.")
    await session.delete(link)
    await _changed(
        session,
        principal,
        action,
        now=utcnow(),
        audit="action.unlinked",
        details={"link_id": str(link_id)},
        change="links",
        link_removed=link_id,
    )


# --- employee side ------------------------------------------------------------------------


def _concerns(employee_id: Any) -> Any:
    """The one definition of "this link concerns the employee" (see the module docstring)."""
    me = select(Employee).where(Employee.id == employee_id).subquery()
    in_unit = or_(
        *(
            and_(ActionLink.unit_kind == unit.value, ActionLink.unit_value == me.c[unit.value])
            for unit in GroupBy
        )
    )
    return or_(
        and_(
            ActionLink.kind == LinkKind.COMMENT.value,
            exists().where(Comment.id == ActionLink.comment_id, Comment.author_id == employee_id),
        ),
        and_(
            ActionLink.kind == LinkKind.PULSE.value,
            exists().where(
                PulseAnswer.message_id == ActionLink.message_id,
                PulseAnswer.employee_id == employee_id,
            ),
        ),
        and_(ActionLink.kind == LinkKind.UNIT.value, exists(select(me.c.id).where(in_unit))),
    )


async def _my_outs(
    session: AsyncSession, actions: Sequence[Action], links: Sequence[ActionLink]
) -> list[MyActionOut]:
    about: dict[uuid.UUID, list[MyActionLink]] = defaultdict(list)
    for link in links:
        about[link.action_id].append(
            MyActionLink(
                kind=link.kind,
                message_id=link.message_id,
                comment_id=link.comment_id,
                unit=unit_of(link.unit_kind, link.unit_value),
            )
        )
    outs = {o.id: o for o in await _outs(session, actions)}
    return [
        MyActionOut(
            **outs[a.id].model_dump(include=set(MyActionOut.model_fields) - {"about"}),
            about=about[a.id],
        )
        for a in actions
    ]


async def list_mine(
    session: AsyncSession, principal: Principal, *, page: PageParams
) -> Page[MyActionOut]:
    """The actions linked to what the caller said (named comments, pulse answers, their unit),
    most recently changed first."""
    concerned = _concerns(principal.employee_id)
    stmt = select(Action).where(exists().where(ActionLink.action_id == Action.id, concerned))
    rows = (
        (await session.execute(keyset(stmt, page, [Action.updated_at, Action.id]))).scalars().all()
    )
    shown = rows[: page.limit]
    links = (
        (
            await session.execute(
                select(ActionLink)
                .where(ActionLink.action_id.in_([a.id for a in shown]), concerned)
                .order_by(ActionLink.linked_at, ActionLink.id)
            )
        )
        .scalars()
        .all()
    )
    outs = {o.id: o for o in await _my_outs(session, shown, links)}
    return make_page(rows, page, lambda a: (a.updated_at, a.id), lambda a: outs[a.id])


async def lookup_mine(
    session: AsyncSession, _principal: Principal, *, secrets: Sequence[str]
) -> list[MyActionOut]:
    """The actions linked to the anonymous comments whose author secrets the caller's client
    presents. Nothing of the request is stored: the pairing exists only while it runs."""
    hashes = sorted({secret_sha256(s) for s in secrets})
    links = (
        (
            await session.execute(
                select(ActionLink)
                .join(Comment, Comment.id == ActionLink.comment_id)
                .where(
                    ActionLink.kind == LinkKind.COMMENT.value,
                    Comment.author_secret_sha256.in_(hashes),
                )
                .order_by(ActionLink.linked_at, ActionLink.id)
            )
        )
        .scalars()
        .all()
    )
    ids = {link.action_id for link in links}
    actions = (
        (
            await session.execute(
                select(Action)
                .where(Action.id.in_(ids))
                .order_by(Action.updated_at.desc(), Action.id.desc())
            )
        )
        .scalars()
        .all()
    )
    return await _my_outs(session, actions, links)


async def about_message(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID
) -> list[ActionSummary]:
    """The actions about a message sent to the caller that concern them, most recently
    changed first (404 unless the message was sent to them)."""
    await delivery_for(session, principal, message_id=message_id, now=utcnow())
    rows = await session.execute(
        select(Action.id, Action.title, Action.status, Action.updated_at)
        .where(
            exists().where(
                ActionLink.action_id == Action.id,
                ActionLink.message_id == message_id,
                _concerns(principal.employee_id),
            )
        )
        .order_by(Action.updated_at.desc(), Action.id.desc())
    )
    return [
        ActionSummary(id=r.id, title=r.title, status=r.status, updated_at=r.updated_at)
        for r in rows
    ]
