"""Advocacy fixtures: employees, employee clients, shareable messages published to them."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.feedback.conftest import as_employee, people  # noqa: F401  (fixtures)
from tests.me.conftest import client_with, hs256  # noqa: F401  (a fixture)

SHARE_URL = "https://www.brand.example/our-promise"
SIGNATURE = "#LifeAtBrand"
# a browser's user agent: clicks without one (or from preview bots) are not counted
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        run_scheduler=False,
        jwt_algorithms="HS256",
        jwt_secret=TEST_JWT_SECRET,
        rate_limit_per_minute=0,
        signin_cache_seconds=0,
        public_url="http://test",
        share_blocked_words="Competitor Corp, darn",
    )


@pytest.fixture
async def browser(app) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous visitor with a browser's user agent (from the ASGI client's address)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
        headers={"User-Agent": BROWSER},
    ) as client:
        yield client


def shareable(**fields: Any) -> dict[str, Any]:
    """The sharing fields of a message."""
    return {
        "shareable": True,
        "share_url": SHARE_URL,
        "share_signature": SIGNATURE,
        "share_texts": {
            "en": {"linkedin": "Proud of our promise.", "generic": "Our promise, kept."},
            "es": {"generic": "Nuestra promesa, cumplida."},
        },
        **fields,
    }


@pytest.fixture
def published(admin: httpx.AsyncClient, everyone: str) -> Callable[..., Awaitable[str]]:
    """Create and publish a shareable message to every active employee; returns its id."""

    async def _publish(**fields: Any) -> str:
        body = {"category": "brand_promise", "title": "Our promise", "audience_ids": [everyone]}
        r = await admin.post("/v1/messages", json={**body, **shareable(), **fields})
        assert r.status_code == 201, r.text
        message_id = r.json()["id"]
        r = await admin.post(f"/v1/messages/{message_id}/publish", json={})
        assert r.status_code == 200, r.text
        return message_id

    return _publish


async def share(client: httpx.AsyncClient, message_id: str, **body: Any) -> dict[str, Any]:
    """Share as `client`; the 201 body."""
    r = await client.post(
        f"/v1/me/messages/{message_id}/shares", json={"network": "linkedin", **body}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def opt_in(client: httpx.AsyncClient, value: bool = True) -> None:
    """THE one way tests set an employee's leaderboard opt-in: `advocacy_leaderboard` in
    `PUT /v1/me/preferences` (the other preferences left to their defaults)."""
    r = await client.put("/v1/me/preferences", json={"advocacy_leaderboard": value})
    assert r.status_code == 200, r.text
    assert r.json()["advocacy_leaderboard"] is value
    assert (await client.get("/v1/me/preferences")).json()["advocacy_leaderboard"] is value


def code_of(link: str) -> str:
    assert link.startswith("http://test/s/"), link
    return link.rsplit("/", 1)[1]
