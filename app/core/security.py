"""Authentication dependency and the scope aliases routes declare."""

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from app.core.jwt import JWTConfigError, JWTVerifier
from app.core.principal import Principal, Scope
from app.core.ratelimit import RateLimiter, retry_after_header
from app.core.session import SessionDep
from app.me.service import SignedInEmployee, find_active_employee
from app.tokens.service import authenticate_token

logger = logging.getLogger("brandcast.security")

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`bc_<prefix>_<secret>`) or an employee's SSO JWT.",
)

API_TOKEN_PREFIX = "bc_"
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


@dataclass(frozen=True)
class Caller:
    """Who is calling; for an employee, also the profile columns loaded at sign-in."""

    principal: Principal
    employee: SignedInEmployee | None = None


def _jwt_verifier(request: Request) -> JWTVerifier:
    # Built on first use and kept for the app's life: parsed keys and the JWKS cache live in it.
    state = request.app.state
    verifier = getattr(state, "jwt_verifier", None)
    if verifier is None:
        try:
            verifier = JWTVerifier(state.settings)
        except JWTConfigError as exc:
            logger.error("employee sign-in is misconfigured: %s", exc)
            raise ServiceUnavailable("Employee sign-in is not configured correctly.") from None
        state.jwt_verifier = verifier
    return verifier


def _rate_limiter(request: Request) -> RateLimiter | None:
    state = request.app.state
    try:
        return state.rate_limiter
    except AttributeError:
        state.rate_limiter = RateLimiter.from_settings(state.settings)
        return state.rate_limiter


def _enforce_rate_limit(request: Request, principal: Principal) -> None:
    limiter = _rate_limiter(request)
    if limiter is None:
        return
    wait = limiter.hit(f"{principal.kind}:{principal.id}")
    if wait is not None:
        retry_after = retry_after_header(wait)
        raise TooManyRequests(
            f"This credential made too many requests; retry in {retry_after} s.",
            headers={"Retry-After": retry_after},
        )


async def _sign_in_employee(
    session: AsyncSession, settings: Settings, verifier: JWTVerifier, token: str
) -> Caller:
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
    employee = await find_active_employee(session, value=value, by_email=claim == "email")
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
    return Caller(principal=principal, employee=employee)


async def identify(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """Turn the bearer credential into a Caller; API tokens are told apart from JWTs by prefix.

    Rate limiting applies here, once per request, keyed by the credential it names.
    """
    if credentials is None or not credentials.credentials:
        raise Unauthorized()
    raw = credentials.credentials
    if raw.startswith(API_TOKEN_PREFIX):
        caller = Caller(principal=await authenticate_token(session, raw))
    else:
        caller = await _sign_in_employee(
            session, request.app.state.settings, _jwt_verifier(request), raw
        )
    _enforce_rate_limit(request, caller.principal)
    return caller


async def authenticate(caller: Annotated[Caller, Depends(identify)]) -> Principal:
    """The caller's Principal, whichever credential it presented."""
    return caller.principal


Authenticated = Annotated[Principal, Depends(authenticate)]


async def require_employee(caller: Annotated[Caller, Depends(identify)]) -> Caller:
    if caller.employee is None:
        raise Forbidden("Only an employee signed in with an SSO token can use this operation.")
    return caller


async def _employee_principal(caller: Annotated[Caller, Depends(require_employee)]) -> Principal:
    return caller.principal


# For /v1/me routes: the caller must be an employee (403 for API tokens).
EmployeeCaller = Annotated[Principal, Depends(_employee_principal)]
# The same, with the profile columns sign-in already loaded.
SignedIn = Annotated[Caller, Depends(require_employee)]


def require_scope(scope: Scope):
    async def _require(principal: Authenticated) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"This credential lacks the `{scope.value}` scope.")
        return principal

    _require.__name__ = f"require_{scope.name.lower()}"
    return _require


def _scoped(scope: Scope):
    return Annotated[Principal, Security(require_scope(scope), scopes=[scope.value])]


MessagesRead = _scoped(Scope.MESSAGES_READ)
MessagesWrite = _scoped(Scope.MESSAGES_WRITE)
AudiencesRead = _scoped(Scope.AUDIENCES_READ)
AudiencesWrite = _scoped(Scope.AUDIENCES_WRITE)
EmployeesRead = _scoped(Scope.EMPLOYEES_READ)
EmployeesWrite = _scoped(Scope.EMPLOYEES_WRITE)
ReceiptsRead = _scoped(Scope.RECEIPTS_READ)
TokensAdmin = _scoped(Scope.TOKENS_ADMIN)
WebhooksAdmin = _scoped(Scope.WEBHOOKS_ADMIN)
AuditRead = _scoped(Scope.AUDIT_READ)
