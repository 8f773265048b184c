"""Authentication dependency and the scope aliases routes declare."""

from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.errors import Forbidden, Unauthorized
from app.core.principal import Principal, Scope
from app.core.session import SessionDep
from app.tokens.service import authenticate_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`bc_<prefix>_<secret>`) or an employee's SSO JWT.",
)

API_TOKEN_PREFIX = "bc_"


async def authenticate(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Turn the bearer credential into a Principal; API tokens are told apart by prefix."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized()
    raw = credentials.credentials
    if raw.startswith(API_TOKEN_PREFIX):
        return await authenticate_token(session, raw)
    raise Unauthorized("Employee SSO tokens are not accepted by this deployment yet.")


Authenticated = Annotated[Principal, Depends(authenticate)]


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
