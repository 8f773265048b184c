from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest


@pytest.fixture
def new_message(
    admin: httpx.AsyncClient, everyone: str
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create a draft to everyone through the API; keyword arguments override the defaults."""

    async def _new(**fields: Any) -> dict[str, Any]:
        body = {"category": "news", "title": "Hello", "audience_ids": [everyone], **fields}
        r = await admin.post("/v1/messages", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return _new


@pytest.fixture
def publish(admin: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    async def _publish(message_id: str, **body: Any) -> httpx.Response:
        return await admin.post(f"/v1/messages/{message_id}/publish", json=body)

    return _publish
