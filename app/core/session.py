"""The per-request session: one transaction, committed before the response is sent."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db = request.app.state.db
    async with db.session_scope(write=request.method not in SAFE_METHODS) as session:
        yield session


# scope="function": the commit happens before the response leaves, so a 2xx means committed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A writing transaction whatever the method (a GET that records something, like a click)."""
    async with request.app.state.db.session_scope(write=True) as session:
        yield session


WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
