import uuid

from fastapi import APIRouter, Response

from app.auth.dependencies import TokensAdmin
from app.core.http import created
from app.core.pagination import Page, Pagination
from app.core.session import SessionDep
from app.tokens import service
from app.tokens.schemas import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post(
    "", status_code=201, operation_id="createToken", summary="Mint an API token (shown once)"
)
async def create_token(
    data: TokenCreate, session: SessionDep, principal: TokensAdmin, response: Response
) -> TokenCreated:
    token = await service.mint(session, principal, data=data)
    created(response, f"/v1/tokens/{token.id}")
    return token


@router.get("", operation_id="listTokens", summary="List API tokens (never their secrets)")
async def list_tokens(
    session: SessionDep, principal: TokensAdmin, page: Pagination
) -> Page[TokenOut]:
    return await service.list_tokens(session, principal, page=page)


@router.delete(
    "/{token_id}", status_code=204, operation_id="revokeToken", summary="Revoke an API token"
)
async def revoke_token(token_id: uuid.UUID, session: SessionDep, principal: TokensAdmin) -> None:
    await service.revoke(session, principal, token_id=token_id)
