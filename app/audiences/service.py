"""Audiences: CRUD, membership (always one SQL statement), and the audiences of messages."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audiences.models import Audience, MessageAudience
from app.audiences.rules import AudienceSpec, Compiler, validate_rule
from app.audiences.schemas import (
    AudienceCreate,
    AudienceMember,
    AudienceOut,
    AudiencePreview,
    AudiencePreviewIn,
    AudienceUpdate,
)
from app.audit.service import record
from app.core import sql
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed, field_error
from app.core.http import check_if_match, etag_for
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal
from app.editors.access import check_inside
from app.editors.units import check_rule_inside, parse_unit, unit_rule
from app.employees.models import Employee
from app.messages.models import Message, Status

SAMPLE_SIZE = 20
# statuses whose recipients are (or are about to be) resolved from the audience
IN_USE = (Status.SCHEDULED, Status.PUBLISHED)


def compiler_for(session: AsyncSession) -> Compiler:
    """A rule compiler for this session's database, evaluating relative dates as of today."""
    return Compiler(dialect=sql.dialect_of(session), today=utcnow().date())


def spec_of(audience: Any) -> AudienceSpec:
    """The membership inputs of an audience row (entity or selected columns)."""
    unit = getattr(audience, "unit", None)
    return AudienceSpec(
        rule=audience.rule,
        include=audience.include_external_ids,
        exclude=audience.exclude_external_ids,
        unit_rule=unit_rule(parse_unit(unit)) if unit else None,
    )


async def _check_scope(
    session: AsyncSession,
    principal: Principal,
    rule: dict[str, Any] | None,
    include: Sequence[str] | None,
) -> None:
    """For a scoped principal: 403 naming its unit when the rule or the include list
    reaches outside it (the rule is ANDed with the unit anyway)."""
    if principal.unit is None:
        return
    if rule is not None:
        check_rule_inside(rule, parse_unit(principal.unit), principal.unit)
    await check_inside(session, principal, include or [])


def _member_columns():
    return (Employee.external_id, Employee.display_name, Employee.department, Employee.country)


def _member(row: Any) -> AudienceMember:
    return AudienceMember(
        external_id=row.external_id,
        display_name=row.display_name,
        department=row.department,
        country=row.country,
    )


async def _count(session: AsyncSession, spec: AudienceSpec) -> int:
    cond = compiler_for(session).members([spec])
    stmt = select(func.count()).select_from(Employee).where(cond)
    return (await session.execute(stmt)).scalar_one()


async def _counts(session: AsyncSession, specs: Sequence[AudienceSpec]) -> list[int]:
    """Member counts of several audiences in one pass over the employees."""
    if not specs:
        return []
    compiler = compiler_for(session)
    columns = [func.count().filter(compiler.matches(spec)) for spec in specs]
    row = (
        await session.execute(
            select(*columns).select_from(Employee).where(Employee.active == true())
        )
    ).one()
    return list(row)


def _out(audience: Audience, member_count: int) -> AudienceOut:
    return AudienceOut(
        id=audience.id,
        name=audience.name,
        key=audience.key,
        description=audience.description,
        rule=audience.rule,
        include_external_ids=audience.include_external_ids,
        exclude_external_ids=audience.exclude_external_ids,
        member_count=member_count,
        created_by=audience.created_by,
        created_at=audience.created_at,
        updated_at=audience.updated_at,
        etag=etag_for(audience.id, audience.revision),
    )


async def _load(
    session: AsyncSession, principal: Principal, audience_id: uuid.UUID, *, lock: bool = False
) -> Audience:
    audience = await session.get(Audience, audience_id, with_for_update=lock or None)
    if audience is None or (principal.unit is not None and audience.unit != principal.unit):
        raise NotFound("No audience with this id.")
    return audience


async def _ensure_key_free(
    session: AsyncSession, key: str | None, *, audience_id: uuid.UUID | None = None
) -> None:
    if key is None:
        return
    stmt = select(Audience.id).where(Audience.key == key)
    if audience_id is not None:
        stmt = stmt.where(Audience.id != audience_id)
    if (await session.execute(stmt)).first() is not None:
        raise Conflict(f"Another audience already has the key `{key}`.")


async def _flush(session: AsyncSession, key: str | None) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent writer took the key after our check
        raise Conflict(f"Another audience already has the key `{key}`.") from exc


async def create_audience(
    session: AsyncSession, principal: Principal, *, data: AudienceCreate
) -> AudienceOut:
    rule = validate_rule(data.rule)
    await _check_scope(session, principal, rule, data.include_external_ids)
    await _ensure_key_free(session, data.key)
    now = utcnow()
    audience = Audience(
        name=data.name,
        key=data.key,
        description=data.description,
        rule=rule,
        include_external_ids=data.include_external_ids,
        exclude_external_ids=data.exclude_external_ids,
        unit=principal.unit,
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(audience)
    await _flush(session, data.key)
    await record(
        session,
        principal,
        action="audience.created",
        entity_type="audience",
        entity_id=audience.id,
        details={"name": audience.name, "key": audience.key},
    )
    return _out(audience, await _count(session, spec_of(audience)))


async def get_audience(
    session: AsyncSession, principal: Principal, *, audience_id: uuid.UUID
) -> AudienceOut:
    audience = await _load(session, principal, audience_id)
    return _out(audience, await _count(session, spec_of(audience)))


async def list_audiences(
    session: AsyncSession, principal: Principal, *, page: PageParams, key: str | None = None
) -> Page[AudienceOut]:
    stmt = select(Audience)
    if principal.unit is not None:
        stmt = stmt.where(Audience.unit == principal.unit)
    if key is not None:
        stmt = stmt.where(Audience.key == key)
    stmt = keyset(stmt, page, [Audience.created_at, Audience.id])
    rows = (await session.execute(stmt)).scalars().all()
    shown = rows[: page.limit]
    counts = await _counts(session, [spec_of(a) for a in shown])
    by_id = dict(zip((a.id for a in shown), counts, strict=True))
    return make_page(rows, page, lambda a: (a.created_at, a.id), lambda a: _out(a, by_id[a.id]))


async def update_audience(
    session: AsyncSession,
    principal: Principal,
    *,
    audience_id: uuid.UUID,
    data: AudienceUpdate,
    if_match: str | None = None,
) -> AudienceOut:
    audience = await _load(session, principal, audience_id, lock=True)
    check_if_match(if_match, etag_for(audience.id, audience.revision))
    given = data.model_dump(exclude_unset=True)
    if "rule" in given:
        given["rule"] = validate_rule(given["rule"])
    await _check_scope(session, principal, given.get("rule"), given.get("include_external_ids"))
    changed = sorted(k for k, v in given.items() if getattr(audience, k) != v)
    if changed:
        if "key" in changed:
            await _ensure_key_free(session, given["key"], audience_id=audience.id)
        for name in changed:
            setattr(audience, name, given[name])
        audience.revision += 1
        audience.updated_at = utcnow()
        await _flush(session, audience.key)
        await record(
            session,
            principal,
            action="audience.updated",
            entity_type="audience",
            entity_id=audience.id,
            details={"changed": changed},
        )
    return _out(audience, await _count(session, spec_of(audience)))


async def delete_audience(
    session: AsyncSession,
    principal: Principal,
    *,
    audience_id: uuid.UUID,
    if_match: str | None = None,
) -> None:
    """Delete an audience unless a scheduled or published message goes to it."""
    audience = await _load(session, principal, audience_id, lock=True)
    check_if_match(if_match, etag_for(audience.id, audience.revision))
    # lock the messages that use it, so none is published between this check and the delete
    users = (
        await session.execute(
            select(Message.id, Message.status)
            .join(MessageAudience, MessageAudience.message_id == Message.id)
            .where(MessageAudience.audience_id == audience.id)
            .order_by(Message.id)
            .with_for_update(of=Message)
        )
    ).all()
    blocking = [str(m.id) for m in users if m.status in IN_USE]
    if blocking:
        shown = ", ".join(blocking[:5]) + (" …" if len(blocking) > 5 else "")
        raise Conflict(
            f"{len(blocking)} scheduled or published message(s) go to this audience ({shown}); "
            "archive them first.",
            message_ids=blocking[:100],
        )
    await session.execute(delete(MessageAudience).where(MessageAudience.audience_id == audience.id))
    await session.delete(audience)
    await session.flush()
    await record(
        session,
        principal,
        action="audience.deleted",
        entity_type="audience",
        entity_id=audience_id,
        details={"name": audience.name, "key": audience.key},
    )


async def preview_audience(
    session: AsyncSession, principal: Principal, *, data: AudiencePreviewIn
) -> AudiencePreview:
    """Who a rule and lists would reach now: a count and a small sample (for a scoped
    principal, within its unit)."""
    rule = validate_rule(data.rule)
    await _check_scope(session, principal, rule, data.include_external_ids)
    spec = AudienceSpec(
        rule=rule,
        include=data.include_external_ids,
        exclude=data.exclude_external_ids,
        unit_rule=unit_rule(parse_unit(principal.unit)) if principal.unit else None,
    )
    cond = compiler_for(session).members([spec])
    count = (
        await session.execute(select(func.count()).select_from(Employee).where(cond))
    ).scalar_one()
    sample = (
        await session.execute(
            select(*_member_columns()).where(cond).order_by(Employee.external_id).limit(SAMPLE_SIZE)
        )
    ).all()
    return AudiencePreview(count=count, sample=[_member(r) for r in sample])


async def list_members(
    session: AsyncSession, principal: Principal, *, audience_id: uuid.UUID, page: PageParams
) -> Page[AudienceMember]:
    audience = await _load(session, principal, audience_id)
    cond = compiler_for(session).members([spec_of(audience)])
    stmt = keyset(
        select(*_member_columns()).where(cond), page, [Employee.external_id], descending=False
    )
    rows = (await session.execute(stmt)).all()
    return make_page(rows, page, lambda r: (r.external_id,), _member)


# -- the audiences of messages (called by the messages and receipts areas) -------------------


async def set_message_audiences(
    session: AsyncSession, *, message_id: uuid.UUID, audience_ids: Sequence[uuid.UUID]
) -> None:
    """Replace the audiences of a message (order kept, duplicates dropped).

    Unknown ids -> 422 at `body.audience_ids[i]`. Whether the message's status allows the
    change is the caller's rule.
    """
    wanted = list(dict.fromkeys(audience_ids))
    if wanted:
        known = set(
            (await session.execute(select(Audience.id).where(Audience.id.in_(wanted))))
            .scalars()
            .all()
        )
        unknown = [
            field_error(f"body.audience_ids[{i}]", "No audience with this id.")
            for i, audience_id in enumerate(audience_ids)
            if audience_id not in known
        ]
        if unknown:
            raise ValidationFailed(unknown)
    await session.execute(delete(MessageAudience).where(MessageAudience.message_id == message_id))
    if wanted:
        await session.execute(
            insert(MessageAudience),
            [
                {"message_id": message_id, "audience_id": audience_id, "position": i}
                for i, audience_id in enumerate(wanted)
            ],
        )


async def get_message_audience_ids(
    session: AsyncSession, *, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The audience ids of each message (every given id is a key), in one query."""
    result: dict[uuid.UUID, list[uuid.UUID]] = {m: [] for m in message_ids}
    if not result:
        return result
    rows = await session.execute(
        select(MessageAudience.message_id, MessageAudience.audience_id)
        .where(MessageAudience.message_id.in_(list(result)))
        .order_by(MessageAudience.message_id, MessageAudience.position)
    )
    for message_id, audience_id in rows:
        result[message_id].append(audience_id)
    return result


async def message_audience_specs(
    session: AsyncSession, *, message_id: uuid.UUID
) -> list[tuple[uuid.UUID, AudienceSpec]]:
    """The id and membership inputs of every audience a message goes to, in its order."""
    rows = await session.execute(
        select(
            Audience.id,
            Audience.rule,
            Audience.include_external_ids,
            Audience.exclude_external_ids,
            Audience.unit,
        )
        .join(MessageAudience, MessageAudience.audience_id == Audience.id)
        .where(MessageAudience.message_id == message_id)
        .order_by(MessageAudience.position)
    )
    return [(r.id, spec_of(r)) for r in rows]
