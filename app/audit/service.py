"""The audit trail: one row per write, in the same transaction as the write."""

from datetime import datetime
from typing import Any

from sqlalchemy import CTE, ColumnClause, bindparam, column, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.audit.schemas import AuditEventOut
from app.core.database import utcnow
from app.core.ids import new_id
from app.core.observability import current_request_id
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import Principal

# Built once, on the table: the ORM's bulk-insert path and a statement per call cost about
# 0.5 ms per write (bench/RESULTS.md), and every write of the service records one event.
_TABLE = AuditEvent.__table__
_INSERT_EVENT = insert(_TABLE)
_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "actor_name",
    "action",
    "entity_type",
    "entity_id",
    "request_id",
    "details",
)


def event_values(
    principal: Principal,
    *,
    action: str,
    entity_type: str,
    entity_id: object,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The audit row of a write by `principal` (now, with the request's id)."""
    return {
        "id": new_id(),
        "occurred_at": utcnow(),
        "actor": principal.actor,
        "actor_name": principal.name,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "request_id": current_request_id(),
        "details": details,
    }


async def record(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    entity_type: str,
    entity_id: object,
    details: dict[str, Any] | None = None,
) -> None:
    """Write the audit event of a change, in the change's transaction."""
    values = event_values(
        principal, action=action, entity_type=entity_type, entity_id=entity_id, details=details
    )
    await session.execute(_INSERT_EVENT, values)


def record_with(source: Any, *, prefix: str = "audit_", values: Any = None) -> CTE:
    """`record` as a part of one PostgreSQL statement: an audit row for each row `source` (a
    data-modifying CTE, or a join of one) yields. Its values are parameters named `prefix` +
    the column (`{prefix + k: v for k, v in event_values(...).items()}`), or, with `values`,
    the columns of those names of `source`'s rows (a batch's items, `audit_columns`)."""
    values_of = (
        [bindparam(prefix + name, type_=_TABLE.c[name].type) for name in _COLUMNS]
        if values is None
        else [values[prefix + name] for name in _COLUMNS]
    )
    rows = select(*values_of).select_from(source)
    return insert(_TABLE).from_select(_COLUMNS, rows).returning(_TABLE.c.id).cte(f"{prefix}row")


def audit_columns(prefix: str = "audit_") -> list[ColumnClause[Any]]:
    """The typed columns of `record_with`'s values, named as its parameters: for a batch's
    items read from JSON (`jsonb_to_recordset`)."""
    return [column(prefix + name, _TABLE.c[name].type) for name in _COLUMNS]


async def list_events(
    session: AsyncSession,
    _principal: Principal,
    *,
    page: PageParams,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEventOut]:
    stmt = select(AuditEvent)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if since:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    stmt = keyset(stmt, page, [AuditEvent.occurred_at, AuditEvent.id])
    rows = (await session.execute(stmt)).scalars().all()
    return make_page(
        rows,
        page,
        lambda e: (e.occurred_at, e.id),
        lambda e: AuditEventOut.model_validate(e, from_attributes=True),
    )
