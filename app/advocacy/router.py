import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AwareDatetime

from app.advocacy import clicks, rules, service
from app.advocacy.schemas import (
    BlockedWordsIn,
    BlockedWordsOut,
    LeaderboardOut,
    MyAdvocacyOut,
    ShareIn,
    ShareOut,
)
from app.auth.dependencies import (
    Admin,
    Authenticated,
    MessagesRead,
    PublicRateLimit,
    SignedIn,
    client_address,
)
from app.core.config import AppSettings
from app.core.errors import Forbidden
from app.core.http import created
from app.core.pages import NO_STORE, page, page_responses
from app.core.pagination import Pagination
from app.core.principal import Scope
from app.core.request_checks import BROWSER_PAGE
from app.core.session import SessionDep, WriteSessionDep
from app.messages.locales import preferences

# Employee side: sharing and the caller's own figures.
me_router = APIRouter(prefix="/v1/me", tags=["me"])
# Company side: the guard rails and the leaderboard.
router = APIRouter(prefix="/v1/advocacy", tags=["advocacy"])
# The short links: public, answered with redirects and pages, never with JSON.
links_router = APIRouter(tags=["advocacy"])

AcceptLanguage = Annotated[
    str | None,
    Header(
        alias="Accept-Language",
        description="Preferred locales for the suggested text; then the caller's own locale.",
    ),
]


@me_router.post(
    "/messages/{message_id}/shares",
    status_code=201,
    operation_id="shareMessage",
    summary="Share a shareable message: the final text and your personal short link",
    responses={
        404: {"description": "No message with this id was sent to you."},
        409: {"description": "The message is closed, or not one employees may share."},
        422: {"description": "A blocked word (named), or too long for the network."},
        503: {"description": "Sharing is not configured (`BRANDCAST_PUBLIC_URL`)."},
    },
)
async def share_message(
    message_id: uuid.UUID,
    data: ShareIn,
    session: SessionDep,
    caller: SignedIn,
    settings: AppSettings,
    response: Response,
    accept_language: AcceptLanguage = None,
) -> ShareOut:
    assert caller.employee is not None
    share = await service.share_message(
        session,
        caller.principal,
        message_id=message_id,
        network=data.network,
        text=data.text,
        prefs=preferences(accept_language, caller.employee.record["locale"]),
        settings=settings,
    )
    created(response, "/v1/me/advocacy")
    return share


@me_router.get(
    "/advocacy",
    operation_id="getMyAdvocacy",
    summary="Your shares, newest first, with the clicks on their links",
)
async def my_advocacy(
    session: SessionDep, caller: SignedIn, page: Pagination, settings: AppSettings
) -> MyAdvocacyOut:
    return await service.my_advocacy(session, caller.principal, page=page, settings=settings)


@router.get(
    "/leaderboard",
    operation_id="getAdvocacyLeaderboard",
    summary="The employees who opted in, by the clicks and shares of their shares",
    description="For employees (SSO token) and API tokens with `receipts:read`. Employees who "
    "did not opt in (`PUT /v1/me/preferences`, `advocacy_leaderboard`) never appear, not even as a rank.",
)
async def leaderboard(
    session: SessionDep,
    principal: Authenticated,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Shares made at or after this time; default `until` - 30 days."),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Shares made before this time; default now.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="How many employees.")] = 20,
) -> LeaderboardOut:
    if principal.employee_id is None and not principal.has(Scope.RECEIPTS_READ):
        raise Forbidden(f"This credential lacks the `{Scope.RECEIPTS_READ.value}` scope.")
    return await service.leaderboard(session, principal, since=since, until=until, limit=limit)


@router.get(
    "/blocked-words",
    operation_id="getShareBlockedWords",
    summary="The words and phrases no share may contain",
)
async def get_blocked_words(
    session: SessionDep, principal: MessagesRead, settings: AppSettings
) -> BlockedWordsOut:
    return await service.get_blocked_words(session, principal, settings=settings)


@router.put(
    "/blocked-words",
    operation_id="setShareBlockedWords",
    summary="Replace the blocked words and phrases (those of the setting stay)",
)
async def set_blocked_words(
    data: BlockedWordsIn, session: SessionDep, principal: Admin, settings: AppSettings
) -> BlockedWordsOut:
    return await service.set_blocked_words(session, principal, words=data.words, settings=settings)


_LINK_RESPONSES = page_responses(
    (302, "To the message's public page (`share_url` with campaign parameters)."),
    not_found="An unknown code: a plain page.",
)
UNKNOWN_LINK = page("Link not found", "This link is not valid, or what it pointed to is gone.")


def _answer(followed: clicks.Followed | None) -> Response:
    if followed is None:
        return HTMLResponse(UNKNOWN_LINK, status_code=404, headers=NO_STORE)
    return RedirectResponse(followed.target, 302, headers=NO_STORE)


@links_router.get(
    "/s/{code}",
    operation_id="followShareLink",
    openapi_extra=BROWSER_PAGE,
    summary="A share's short link: counts a click, then redirects to the message's public page",
    response_class=RedirectResponse,
    status_code=302,
    responses=_LINK_RESPONSES,
    dependencies=[PublicRateLimit],
)
async def follow_share_link(code: str, request: Request, session: WriteSessionDep) -> Response:
    user_agent = request.headers.get("user-agent")
    visitor = (
        None
        if rules.is_preview_bot(user_agent)
        else clicks.Visitor(address=client_address(request), user_agent=user_agent or "")
    )
    return _answer(await clicks.follow(session, code=code, visitor=visitor))


@links_router.head(
    "/s/{code}",
    operation_id="checkShareLink",
    openapi_extra=BROWSER_PAGE,
    summary="What link checkers send: the same redirect, counting no click",
    response_class=RedirectResponse,
    status_code=302,
    responses=_LINK_RESPONSES,
    dependencies=[PublicRateLimit],
)
async def check_share_link(code: str, session: SessionDep) -> Response:
    return _answer(await clicks.follow(session, code=code, visitor=None))
