"""Authentication dependency and the scope aliases routes declare: any credential in, one
`Principal` out."""

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.jwt import JWTConfigError, JWTVerifier
from app.auth.ratelimit import RateLimiter, retry_after_header
from app.auth.signin import SignedInEmployee, sign_in_employee
from app.core.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from app.core.principal import Principal, Scope
from app.core.session import SessionDep
from app.tokens.service import authenticate_token

logger = logging.getLogger("brandcast.security")

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`bc_<prefix>_<secret>`) or an employee's SSO JWT.",
)

API_TOKEN_PREFIX = "bc_"


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
        principal, employee = await sign_in_employee(
            session, request.app.state.settings, _jwt_verifier(request), raw
        )
        caller = Caller(principal=principal, employee=employee)
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
