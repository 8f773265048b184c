"""Employee sign-in: an SSO token's claims to the active employee it names and their scopes.

Runs on every employee request, so the profile columns `GET /v1/me` shows are loaded by the
same one query, and its statements are built once (bench/RESULTS.md).
"""

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast, get_args

from sqlalchemy import Select, bindparam, select

from app.auth.jwt import JWTVerifier
from app.core.config import EmployeeField, Settings
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
_EMPLOYEES = Employee.metadata.tables[Employee.__tablename__].c
PROFILE_COLUMNS = tuple(_EMPLOYEES[name] for name in MeOut.model_fields)


@dataclass(frozen=True)
class SignedInEmployee:
    """The active employee a token names, with the columns of their profile."""

    id: uuid.UUID
    record: Row

    @property
    def external_id(self) -> str:
        return cast(str, self.record["external_id"])

    @property
    def display_name(self) -> str | None:
        return cast(str | None, self.record["display_name"])


def _sign_in_statement(key: Any) -> Select[Any]:
    return select(_EMPLOYEES.id, *PROFILE_COLUMNS).where(
        key == bindparam("value"), _EMPLOYEES.active.is_(True)
    )


# One statement per column a claim can be matched against; each column is unique, so indexed.
def _sign_in_by(field: EmployeeField) -> Prepared:
    return Prepared(lambda _: _sign_in_statement(_EMPLOYEES[field]))


_SIGN_IN = {field: _sign_in_by(field) for field in get_args(EmployeeField)}
# E-mail and SCIM user name are stored lower-cased; the HRIS key is compared as it is.
_FOLDED: frozenset[EmployeeField] = frozenset({"email", "user_name"})
_PROFILE = Prepared(lambda _: _sign_in_statement(_EMPLOYEES.id))


async def find_active_employee(
    conn: Direct, *, value: str, field: EmployeeField = "external_id"
) -> SignedInEmployee | None:
    """The active employee whose `field` is `value` (case-insensitively for e-mail and user
    name); one query."""
    row = await conn.fetchrow(
        _SIGN_IN[field], {"value": value.lower() if field in _FOLDED else value}
    )
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
    employee = await find_active_employee(conn, value=value, field=settings.jwt_employee_lookup)
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
