"""Authentication dependency and the scope aliases routes declare: any credential in, one
`Principal` out."""

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.cache import SignInCache
from app.auth.jwt import JWTConfigError, JWTVerifier
from app.auth.ratelimit import Limiter, limiter_from_settings, retry_after_header
from app.auth.signin import SignedInEmployee, SignIn, sign_in_employee
from app.core.direct import Direct, direct, on_session
from app.core.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from app.core.principal import Principal, Scope
from app.core.session import SAFE_METHODS, SessionDep
from app.editors.service import with_grants
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


def _rate_limiter(request: Request) -> Limiter | None:
    state = request.app.state
    try:
        limiter: Limiter | None = state.rate_limiter
    except AttributeError:
        limiter = state.rate_limiter = limiter_from_settings(state.settings)
    return limiter


async def _enforce_rate_limit(request: Request, principal: Principal) -> None:
    limiter = _rate_limiter(request)
    if limiter is None:
        return
    wait = await limiter.acquire(f"{principal.kind}:{principal.id}")
    if wait is not None:
        retry_after = retry_after_header(wait)
        raise TooManyRequests(
            f"This credential made too many requests; retry in {retry_after} s.",
            headers={"Retry-After": retry_after},
        )


def client_address(request: Request) -> str:
    """The caller's network address, as the server (or its trusted proxy headers) saw it."""
    return request.client.host if request.client else "unknown"


async def limit_public(request: Request) -> None:
    """The rate limit of public routes (no credential): per client address, under a key that
    is a hash of it, so the limiter's memory holds no address either."""
    limiter = _rate_limiter(request)
    if limiter is None:
        return
    address = hashlib.sha256(client_address(request).encode()).hexdigest()[:24]
    wait = await limiter.acquire(f"address:{address}")
    if wait is not None:
        retry_after = retry_after_header(wait)
        raise TooManyRequests(
            f"Too many requests from this address; retry in {retry_after} s.",
            headers={"Retry-After": retry_after},
        )


# For public routes (short links): the rate limit per client address.
PublicRateLimit = Depends(limit_public)


def _sign_in_cache(request: Request) -> SignInCache:
    state = request.app.state
    try:
        return cast(SignInCache, state.sign_in_cache)
    except AttributeError:
        cache = SignInCache(state.settings.signin_cache_seconds)
        state.sign_in_cache = cache
        return cache


async def _signed_in(request: Request, conn: Direct, token: str) -> SignIn:
    """The employee an SSO token names: from the per-process cache, else verified and looked up."""
    cache = _sign_in_cache(request)
    found = cache.get(token)
    if found is None:
        found = await sign_in_employee(
            conn, request.app.state.settings, _jwt_verifier(request), token
        )
        cache.put(token, found)
    return found


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
        sign_in = await _signed_in(request, on_session(session), raw)
        caller = Caller(principal=sign_in.principal, employee=sign_in.employee)
    await _enforce_rate_limit(request, caller.principal)
    # editor grants make a principal scoped to a unit (read on every request: a withdrawn
    # grant takes effect at once; the hot /v1/me routes need none and skip this)
    scoped = await with_grants(session, caller.principal)
    if scoped is not caller.principal:
        caller = Caller(principal=scoped, employee=caller.employee)
    return caller


@dataclass(frozen=True, slots=True)
class EmployeeRequest:
    """An employee's request on a hot path: who, and the connection its statements run on."""

    principal: Principal
    employee: SignedInEmployee
    conn: Direct


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


async def employee_request(request: Request) -> AsyncIterator[EmployeeRequest]:
    """The hot paths' one dependency (the feed, a message, read, acknowledge): the bearer
    token, sign-in (cached), rate limit and a `Direct` connection in one step, where the
    general routes resolve a chain of five dependencies. API tokens get 403, as on /v1/me."""
    token = _bearer_token(request)
    if token.startswith(API_TOKEN_PREFIX):
        raise Forbidden("Only an employee signed in with an SSO token can use this operation.")
    cached = _sign_in_cache(request).get(token)
    if cached is not None:
        await _enforce_rate_limit(request, cached.principal)
    async with direct(request.app.state.db, write=request.method not in SAFE_METHODS) as conn:
        sign_in = cached or await _signed_in(request, conn, token)
        if cached is None:
            await _enforce_rate_limit(request, sign_in.principal)
        yield EmployeeRequest(sign_in.principal, sign_in.employee, conn)


# For the hot /v1/me routes; document them with `EMPLOYEE_SECURITY` (this dependency reads the
# header itself, so FastAPI does not know it is a bearer scheme).
HotEmployee = Annotated[EmployeeRequest, Depends(employee_request, scope="function")]
EMPLOYEE_SECURITY: dict[str, Any] = {"security": [{"bearer": []}]}


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


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    async def _require(principal: Authenticated) -> Principal:
        if not principal.has(scope):
            raise Forbidden(f"This credential lacks the `{scope.value}` scope.")
        return principal

    _require.__name__ = f"require_{scope.name.lower()}"
    return _require


def _scoped(scope: Scope) -> Any:
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
Admin = _scoped(Scope.ADMIN)
