"""Short links `/s/{code}`: a redirect only to the message's page, clicks counted once per
visitor and hour, no personal data kept."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from app.advocacy import clicks as clicks_module
from app.advocacy.models import MessageSharing, Share, ShareClick, ShareClickKey
from tests.advocacy.conftest import BROWSER, SHARE_URL, code_of, share

T0 = datetime(2026, 12, 3, 10, 5, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """The clicks' clock: `clock.now` is what `utcnow()` answers there."""

    class Clock:
        now = T0

    monkeypatch.setattr(clicks_module, "utcnow", lambda: Clock.now)
    return Clock


@pytest.fixture
def visitor(app):
    """A browser at another address: `visitor("10.0.0.7", user_agent=...)`."""
    made: list[httpx.AsyncClient] = []

    def _make(address: str, user_agent: str = BROWSER) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=app, raise_app_exceptions=False, client=(address, 40000)
            ),
            base_url="http://test",
            headers={"User-Agent": user_agent},
        )
        made.append(client)
        return client

    yield _make


async def _clicks(admin, message_id: str) -> int:
    stats = (await admin.get(f"/v1/messages/{message_id}/stats")).json()
    return stats["advocacy"]["clicks"]


async def _shared(people, as_employee, published, **fields) -> tuple[str, str]:
    await people("E-1")
    message_id = await published(**fields)
    link = (await share(as_employee("E-1"), message_id, network="x", text="Look"))["link"]
    return message_id, code_of(link)


async def test_redirects_to_the_share_url_with_campaign_parameters(
    people, as_employee, published, browser, clock
):
    message_id, code = await _shared(people, as_employee, published)
    r = await browser.get(f"/s/{code}")
    assert r.status_code == 302
    target = r.headers["location"]
    assert target.startswith(SHARE_URL + "?")
    assert parse_qs(urlsplit(target).query) == {
        "utm_source": ["x"],
        "utm_medium": ["employee_advocacy"],
        "utm_campaign": [message_id],
    }
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"


async def test_a_share_url_with_a_query_and_fragment_keeps_them(
    people, as_employee, published, browser, clock
):
    url = "https://www.brand.example/p?lang=es&utm_source=newsletter&empty=#top"
    message_id, code = await _shared(people, as_employee, published, share_url=url)
    target = (await browser.get(f"/s/{code}")).headers["location"]
    parts = urlsplit(target)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "www.brand.example",
        "/p",
        "top",
    )
    assert parse_qs(parts.query, keep_blank_values=True) == {
        "lang": ["es"],
        "empty": [""],
        "utm_source": ["x"],  # replaced, not doubled
        "utm_medium": ["employee_advocacy"],
        "utm_campaign": [message_id],
    }


async def test_clicks_count_once_per_visitor_and_hour(
    people, as_employee, published, browser, visitor, clock, admin
):
    message_id, code = await _shared(people, as_employee, published)
    for _ in range(3):
        assert (await browser.get(f"/s/{code}")).status_code == 302
    assert await _clicks(admin, message_id) == 1
    # another address, or another browser at the same address: other visitors
    assert (await visitor("10.0.0.7").get(f"/s/{code}")).status_code == 302
    other_browser = visitor("127.0.0.1", "Mozilla/5.0 (Macintosh) Safari/605")
    assert (await other_browser.get(f"/s/{code}")).status_code == 302
    assert await _clicks(admin, message_id) == 3
    # the same visitor in the next hour counts again, once
    clock.now = T0 + timedelta(minutes=55)
    await browser.get(f"/s/{code}")
    await browser.get(f"/s/{code}")
    assert await _clicks(admin, message_id) == 4
    # query parameters a link tracker adds do not matter
    r = await browser.get(f"/s/{code}", params={"fbclid": "x1"})
    assert r.status_code == 302 and "fbclid" not in r.headers["location"]


async def test_head_and_preview_bots_are_answered_but_not_counted(
    people, as_employee, published, browser, visitor, clock, admin, anon
):
    message_id, code = await _shared(people, as_employee, published)
    r = await browser.head(f"/s/{code}")
    assert r.status_code == 302 and r.headers["location"].startswith(SHARE_URL)
    for agent in (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "Twitterbot/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "WhatsApp/2.23.20.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ):
        r = await visitor("10.1.1.1", agent).get(f"/s/{code}")
        assert r.status_code == 302, agent
    # no user agent at all (a script): redirected, not counted
    r = await anon.get(f"/s/{code}", headers={"User-Agent": ""})
    assert r.status_code == 302
    assert await _clicks(admin, message_id) == 0


async def test_nothing_personal_is_stored_and_yesterdays_key_is_deleted(
    people, as_employee, published, browser, clock, db
):
    _, code = await _shared(people, as_employee, published)
    await browser.get(f"/s/{code}")
    async with db() as s:
        row = (await s.execute(select(ShareClick))).scalar_one()
        first_key = (await s.execute(select(ShareClickKey))).scalar_one()
    assert len(row.visitor) == 16
    assert b"127.0.0.1" not in row.visitor and BROWSER.encode()[:8] not in row.visitor
    assert row.clicked_at == T0.replace(minute=0)  # the hour, nothing finer
    clock.now = T0 + timedelta(days=1)
    await browser.get(f"/s/{code}")
    async with db() as s:
        keys = (await s.execute(select(ShareClickKey))).scalars().all()
        clicks = (await s.execute(select(ShareClick))).scalars().all()
        counted = (await s.execute(select(Share.clicks))).scalar_one()
    # the next day: a new key, yesterday's key and hashes gone, the count kept on the share
    assert [k.day for k in keys] == [(T0 + timedelta(days=1)).date()]
    assert keys[0].key != first_key.key
    assert [c.clicked_at for c in clicks] == [(T0 + timedelta(days=1)).replace(minute=0)]
    assert clicks[0].visitor != row.visitor  # the same person, unlinkable across days
    assert counted == 2


@pytest.mark.parametrize(
    "path",
    [
        "/s/unknowncode123",
        "/s/x",
        "/s/" + "A" * 40,
        "/s/abc%0D%0ALocation:%20https:%2F%2Fevil.example",
        "/s/abc%0d%0aSet-Cookie:%20a=b",
        "/s/%2F%2Fevil.example",
        "/s//evil.example",
        "/s/..%2F..%2Fv1%2Fmessages",
        "/s/%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC",
        "/s/https:%2F%2Fevil.example",
    ],
)
async def test_unknown_and_hostile_codes_are_a_plain_404_without_location(browser, path, clock):
    r = await browser.get(path)
    assert r.status_code == 404, path
    assert r.headers["content-type"].startswith("text/html")
    assert "location" not in r.headers
    assert "evil" not in r.text and "Traceback" not in r.text


async def test_a_hostile_code_next_to_a_real_one_never_redirects_elsewhere(
    people, as_employee, published, browser, clock
):
    _, code = await _shared(people, as_employee, published)
    for suffix in (
        "%0D%0ALocation:%20https://evil.example",
        "%2F%2Fevil.example",
        "?u=//evil.example",
        "/x",
    ):
        r = await browser.get(f"/s/{code}{suffix}")
        assert r.status_code in (302, 404), suffix
        if r.status_code == 302:
            assert r.headers["location"].startswith(SHARE_URL + "?"), suffix
    assert (await browser.get("/s/%00")).status_code == 422  # NUL: refused everywhere
    r = await browser.post(f"/s/{code}")
    assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")


async def test_the_target_is_the_messages_url_as_it_is_now(
    people, as_employee, published, browser, clock, db, admin
):
    message_id, code = await _shared(people, as_employee, published)
    new_url = "https://campaign.brand.example/spring"
    r = await admin.patch(f"/v1/messages/{message_id}", json={"share_url": new_url})
    assert r.status_code == 200
    assert (await browser.get(f"/s/{code}")).headers["location"].startswith(new_url + "?")
    # a message deleted away (drafts only) or without URL: the link is dead
    async with db() as s, s.begin():
        await s.execute(
            update(MessageSharing)
            .where(MessageSharing.message_id == uuid.UUID(message_id))
            .values(share_url=None, shareable=False)
        )
    assert (await browser.get(f"/s/{code}")).status_code == 404


async def test_short_links_are_rate_limited_per_address(
    people, as_employee, published, client_with, clock
):
    _, code = await _shared(people, as_employee, published)
    limited = await client_with(rate_limit_per_minute=60, rate_limit_burst=3)
    answers = [
        (await limited.get(f"/s/{code}", headers={"User-Agent": BROWSER})).status_code
        for _ in range(4)
    ]
    assert answers == [302, 302, 302, 429]
    r = await limited.head(f"/s/{code}")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    r = await limited.get(f"/s/{code}")
    assert r.headers["content-type"].startswith("text/html")


async def test_concurrent_clicks_of_one_visitor_count_once(
    people, as_employee, published, browser, visitor, clock, admin
):
    message_id, code = await _shared(people, as_employee, published)
    answers = await asyncio.gather(*(browser.get(f"/s/{code}") for _ in range(6)))
    assert [r.status_code for r in answers] == [302] * 6
    others = [visitor(f"10.2.0.{i}") for i in range(4)]
    answers = await asyncio.gather(*(c.get(f"/s/{code}") for c in others))
    assert [r.status_code for r in answers] == [302] * 4
    assert await _clicks(admin, message_id) == 5
