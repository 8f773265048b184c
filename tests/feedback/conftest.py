"""Feedback fixtures: employees, employee clients, and messages published to them."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from app.core.database import utcnow
from app.employees.models import Employee
from tests.me.conftest import hs256


@pytest.fixture
def people(db) -> Callable[..., Awaitable[list[uuid.UUID]]]:
    """Insert employees (one statement): `await people("S1", "S2", department="Sales")`."""

    async def _add(*external_ids: str, **fields: Any) -> list[uuid.UUID]:
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "external_id": x,
                "email": f"{x.lower()}@example.com",
                "display_name": f"Person {x}",
                "active": True,
                "customer_facing": False,
                "attributes": {},
                "revision": 1,
                "created_at": now,
                "updated_at": now,
                **fields,
            }
            for x in external_ids
        ]
        async with db() as s, s.begin():
            await s.execute(insert(Employee), rows)
        return [r["id"] for r in rows]

    return _add


@pytest.fixture
async def as_employee(app) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """A client signed in as the employee with this `external_id` (an HS256 SSO token)."""
    clients: list[httpx.AsyncClient] = []

    def _make(external_id: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://test",
            headers={"Authorization": f"Bearer {hs256(external_id)}"},
        )
        clients.append(client)
        return client

    yield _make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def everyone(admin: httpx.AsyncClient) -> str:
    r = await admin.post("/v1/audiences", json={"name": "Everyone", "rule": {"all": []}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def published(admin: httpx.AsyncClient, everyone: str) -> Callable[..., Awaitable[str]]:
    """Create and publish a message to every active employee; returns its id."""

    async def _publish(**fields: Any) -> str:
        body = {"category": "brand_promise", "title": "Our promise", "audience_ids": [everyone]}
        r = await admin.post("/v1/messages", json={**body, **fields})
        assert r.status_code == 201, r.text
        message_id = r.json()["id"]
        r = await admin.post(f"/v1/messages/{message_id}/publish", json={})
        assert r.status_code == 200, r.text
        return message_id

    return _publish
