from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.core.config import Settings
from app.main import create_app
from tests.receipts.helpers import World


@pytest.fixture
async def world(db, admin) -> World:
    return World(db, admin)


@pytest.fixture
async def client_with(
    settings: Settings,
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """A client of an app on the same test database with some settings changed."""
    cleanups: list[tuple[LifespanManager, httpx.AsyncClient]] = []

    async def _make(token: str, **overrides: Any) -> httpx.AsyncClient:
        manager = LifespanManager(create_app(Settings(**{**settings.model_dump(), **overrides})))
        await manager.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        )
        cleanups.append((manager, client))
        return client

    yield _make
    for manager, client in reversed(cleanups):
        await client.aclose()
        await manager.__aexit__(None, None, None)
