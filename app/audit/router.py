from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditEventOut
from app.auth.dependencies import AuditRead
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep

router = APIRouter(prefix="/v1/audit-events", tags=["audit"])


@router.get("", operation_id="listAuditEvents", summary="List audit events, newest first")
async def list_audit_events(
    session: SessionDep,
    principal: AuditRead,
    page: Pagination,
    entity_type: Annotated[str | None, Query(max_length=50, examples=["message"])] = None,
    entity_id: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[
        str | None,
        Query(max_length=300, description="e.g. `token:<id>` or `employee:<external_id>`"),
    ] = None,
    action: Annotated[str | None, Query(max_length=100, examples=["message.published"])] = None,
    since: Annotated[
        datetime | None, Query(description="Inclusive lower bound (RFC 3339).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Exclusive upper bound (RFC 3339).")
    ] = None,
) -> Page[AuditEventOut]:
    return await service.list_events(
        session,
        principal,
        page=page,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
    )
