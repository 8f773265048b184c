"""Employee sign-in: an SSO token's claims to the active employee it names and their scopes.

Runs on every employee request, so the profile columns `GET /v1/me` shows are loaded by the
same one query, and its statements are built once (bench/RESULTS.md).
"""

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, bindparam, select

from app.auth.jwt import JWTVerifier
from app.core.config import Settings
from app.core.direct import Direct, Prepared, Row
from app.core.errors import Unauthorized
from app.core.principal import Principal, Scope
from app.employees.models import Employee
from app.me.schemas import MeOut

MAX_EMPLOYEE_CLAIM_LENGTH = 320


class Role(StrEnum):
    """Roles an SSO token may carry in its roles claim."""

    COMMS_EDITOR = "comms_editor"
    COMMS_ADMIN = "comms_admin"


ROLE_SCOPES: dict[str, frozenset[Scope]] = {
    Role.COMMS_EDITOR: frozenset(
        {
            Scope.MESSAGES_READ,
            Scope.MESSAGES_WRITE,
            Scope.AUDIENCES_READ,
            Scope.AUDIENCES_WRITE,
            Scope.RECEIPTS_READ,
        }
    ),
    Role.COMMS_ADMIN: frozenset({Scope.ADMIN}),
}


def scopes_for_roles(roles: Any) -> frozenset[Scope]:
    """Scopes granted by a roles claim: a list, or one space- or comma-separated string."""
    if isinstance(roles, str):
        names = re.split(r"[\s,]+", roles)
    elif isinstance(roles, list):
        names = [r for r in roles if isinstance(r, str)]
    else:
        names = []
    return frozenset().union(*(ROLE_SCOPES.get(name, frozenset()) for name in names))


# Exactly what `MeOut` shows, so signing in also answers `GET /v1/me` without a second query.
# Table columns, not the entity's attributes: selects of them skip the ORM's result setup.
_EMPLOYEES = Employee.__table__.c
PROFILE_COLUMNS = tuple(_EMPLOYEES[name] for name in MeOut.model_fields)


@dataclass(frozen=True)
class SignedInEmployee:
    """The active employee a token names, with the columns of their profile."""

    id: uuid.UUID
    record: Row

    @property
    def external_id(self) -> str:
        return self.record["external_id"]

    @property
    def display_name(self) -> str | None:
        return self.record["display_name"]


def _sign_in_statement(key: Any) -> Select:
    return select(_EMPLOYEES.id, *PROFILE_COLUMNS).where(
        key == bindparam("value"), _EMPLOYEES.active.is_(True)
    )


_SIGN_IN = {
    False: Prepared(lambda _: _sign_in_statement(_EMPLOYEES.external_id)),
    True: Prepared(lambda _: _sign_in_statement(_EMPLOYEES.email)),
}
_PROFILE = Prepared(lambda _: _sign_in_statement(_EMPLOYEES.id))


async def find_active_employee(
    conn: Direct, *, value: str, by_email: bool = False
) -> SignedInEmployee | None:
    """The active employee whose `external_id` (or lower-cased e-mail) is `value`; one query."""
    row = await conn.fetchrow(_SIGN_IN[by_email], {"value": value.lower() if by_email else value})
    return SignedInEmployee(id=row["id"], record=row) if row is not None else None


async def profile_of(conn: Direct, employee_id: uuid.UUID) -> SignedInEmployee | None:
    """The active employee with this id and their profile columns (None when gone)."""
    row = await conn.fetchrow(_PROFILE, {"value": employee_id})
    return SignedInEmployee(id=row["id"], record=row) if row is not None else None


@dataclass(frozen=True, slots=True)
class SignIn:
    """An employee signed in with an SSO token, until the token's `exp` (Unix seconds)."""

    principal: Principal
    employee: SignedInEmployee
    expires_at: float | None


async def sign_in_employee(
    conn: Direct, settings: Settings, verifier: JWTVerifier, token: str
) -> SignIn:
    """The principal and profile of the active employee a valid SSO token names (else 401)."""
    claims = await verifier.verify(token)
    claim = settings.jwt_employee_claim
    value = claims.get(claim)
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_EMPLOYEE_CLAIM_LENGTH
        or "\x00" in value  # PostgreSQL text cannot hold NUL: it names nobody
    ):
        raise Unauthorized(f"The token does not name an employee in its `{claim}` claim.")
    employee = await find_active_employee(conn, value=value, by_email=claim == "email")
    if employee is None:
        raise Unauthorized("The token names no active employee.")
    principal = Principal(
        kind="employee",
        id=str(employee.id),
        name=employee.display_name or employee.external_id,
        scopes=scopes_for_roles(claims.get(settings.jwt_roles_claim)),
        employee_id=employee.id,
        external_id=employee.external_id,
    )
    exp = claims.get("exp")
    return SignIn(principal, employee, float(exp) if isinstance(exp, int | float) else None)
