"""Editor grants: a role over one unit, and what a grant makes of a principal.

A grantee holds all its grants over ONE unit (a second unit is a 409): a scoped principal is
then the unit's key and its roles. An employee's grants replace the scopes of their SSO roles
with the roles' own (`ROLE_SCOPES`); an API token keeps what it was minted with, but only the
scopes a scoped principal may hold (`SCOPED_SCOPES`). Every list, get and write of messages,
audiences, members and figures then goes through `app.editors.access`.
"""

import dataclasses
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core.errors import Conflict, NotFound, ValidationFailed, field_error
from app.core.pagination import Page, PageParams, keyset, make_page
from app.core.principal import SCOPED_SCOPES, Principal, Scope
from app.editors.models import EditorGrant, GrantRole
from app.editors.schemas import EditorGrantCreate, EditorGrantOut
from app.editors.units import normalize_scope, parse_unit, unit_key
from app.employees.models import Employee
from app.tokens.models import ApiToken

ROLE_SCOPES: dict[str, frozenset[Scope]] = {
    GrantRole.LOCAL_EDITOR: frozenset(
        {
            Scope.MESSAGES_READ,
            Scope.MESSAGES_WRITE,
            Scope.AUDIENCES_READ,
            Scope.AUDIENCES_WRITE,
            Scope.RECEIPTS_READ,
        }
    ),
    GrantRole.APPROVER: frozenset({Scope.MESSAGES_READ, Scope.AUDIENCES_READ, Scope.RECEIPTS_READ}),
}


def _out(grant: EditorGrant, external_id: str | None) -> EditorGrantOut:
    return EditorGrantOut(
        id=grant.id,
        employee_external_id=external_id,
        token_id=grant.token_id,
        role=GrantRole(grant.role),
        unit=grant.unit,
        scope=parse_unit(grant.unit),
        created_by=grant.created_by,
        created_at=grant.created_at,
    )


async def create_grant(
    session: AsyncSession, principal: Principal, *, data: EditorGrantCreate
) -> EditorGrantOut:
    scope = normalize_scope(data.scope)
    unit = unit_key(scope)
    grantee: Any
    if data.employee_external_id is not None:
        employee_id = (
            await session.execute(
                select(Employee.id).where(Employee.external_id == data.employee_external_id)
            )
        ).scalar_one_or_none()
        if employee_id is None:
            raise ValidationFailed(
                [field_error("body.employee_external_id", "No employee with this HRIS key.")]
            )
        grantee = EditorGrant.employee_id == employee_id
        values: dict[str, Any] = {"employee_id": employee_id}
    else:
        token = await session.get(ApiToken, data.token_id)
        if token is None or token.revoked_at is not None:
            raise ValidationFailed(
                [field_error("body.token_id", "No live API token with this id.")]
            )
        grantee = EditorGrant.token_id == data.token_id
        values = {"token_id": data.token_id}
    held = (
        (await session.execute(select(EditorGrant).where(grantee).with_for_update()))
        .scalars()
        .all()
    )
    for other in held:
        if other.unit != unit:
            raise Conflict(
                f"This grantee already holds a grant over the unit `{other.unit}`; a grantee "
                "works in one unit. Delete that grant first.",
            )
        if other.role == data.role:
            raise Conflict(f"This grantee is already `{data.role}` of `{unit}`.")
    grant = EditorGrant(**values, role=data.role, unit=unit, created_by=principal.actor)
    session.add(grant)
    await session.flush()
    await record(
        session,
        principal,
        action="editor_grant.created",
        entity_type="editor_grant",
        entity_id=grant.id,
        details={"role": grant.role, "unit": unit, **{k: str(v) for k, v in values.items()}},
    )
    return _out(grant, data.employee_external_id)


def _listed() -> Any:
    return select(EditorGrant, Employee.external_id).outerjoin(
        Employee, Employee.id == EditorGrant.employee_id
    )


async def list_grants(
    session: AsyncSession, _principal: Principal, *, page: PageParams
) -> Page[EditorGrantOut]:
    stmt = keyset(_listed(), page, [EditorGrant.created_at, EditorGrant.id])
    rows = (await session.execute(stmt)).all()
    return make_page(
        rows, page, lambda r: (r[0].created_at, r[0].id), lambda r: _out(r[0], r.external_id)
    )


async def delete_grant(session: AsyncSession, principal: Principal, *, grant_id: uuid.UUID) -> None:
    grant = await session.get(EditorGrant, grant_id, with_for_update=True)
    if grant is None:
        raise NotFound("No editor grant with this id.")
    details = {"role": grant.role, "unit": grant.unit}
    await session.delete(grant)
    await session.flush()
    await record(
        session,
        principal,
        action="editor_grant.deleted",
        entity_type="editor_grant",
        entity_id=grant_id,
        details=details,
    )


async def with_grants(session: AsyncSession, principal: Principal) -> Principal:
    """The principal as its editor grants make it (unchanged without any): one query."""
    if principal.kind == "employee" and principal.employee_id is not None:
        grantee = EditorGrant.employee_id == principal.employee_id
    elif principal.kind == "token":
        grantee = EditorGrant.token_id == uuid.UUID(principal.id)
    else:
        return principal
    rows = (await session.execute(select(EditorGrant.role, EditorGrant.unit).where(grantee))).all()
    if not rows:
        return principal
    roles = frozenset(r.role for r in rows)
    if principal.kind == "employee":
        scopes = frozenset().union(*(ROLE_SCOPES[r] for r in roles))
    else:
        scopes = principal.effective_scopes() & SCOPED_SCOPES
    return dataclasses.replace(principal, scopes=scopes, unit=rows[0].unit, roles=roles)
