"""Shares and clicks as figures: per message, network and unit (the minimum-group rule), the
caller's own, and the leaderboard of those who opted in."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from app.advocacy.models import AdvocacyProfile, Share
from app.core.database import utcnow
from app.core.principal import Scope
from tests.advocacy.conftest import BROWSER, code_of, opt_in, share


@pytest.fixture
async def company(people):
    """Sales: 6 people, Support: 6, Legal: 2."""
    await people(*(f"S{i}" for i in range(6)), department="Sales", country="ES")
    await people(*(f"P{i}" for i in range(6)), department="Support", country="FR")
    await people("L0", "L1", department="Legal", country="FR")


async def _click(app, link: str, address: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 1)),
        base_url="http://test",
        headers={"User-Agent": BROWSER},
    ) as client:
        assert (await client.get(f"/s/{code_of(link)}")).status_code == 302


async def test_stats_show_shares_and_clicks_per_network_and_unit(
    company, published, as_employee, admin, app
):
    message_id = await published()
    links = []
    for person in ("S0", "S1", "S2", "S3", "S4"):  # five sharers in Sales
        links.append((await share(as_employee(person), message_id))["link"])
    await share(as_employee("S0"), message_id, network="x", text="Again")
    for person in ("P0", "P1", "P2", "P3", "P4"):  # five in Support
        await share(as_employee(person), message_id)
    await _click(app, links[0], "10.0.0.1")
    await _click(app, links[0], "10.0.0.2")
    await _click(app, links[1], "10.0.0.1")

    stats = (await admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert stats["advocacy"] == {
        "sharers": 10,
        "shares": 11,
        "clicks": 3,
        "networks": {"linkedin": {"shares": 10, "clicks": 3}, "x": {"shares": 1, "clicks": 0}},
    }
    grouped = (
        await admin.get(f"/v1/messages/{message_id}/stats", params={"group_by": "department"})
    ).json()
    by_key = {g["key"]: g for g in grouped["groups"]}
    # reach: Legal's two recipients would be alone in (other), so Support joins them
    assert list(by_key) == ["Sales", "(other)"]
    assert by_key["Sales"]["advocacy"] == {"sharers": 5, "shares": 6, "clicks": 3}
    assert by_key["(other)"]["advocacy"] == {"sharers": 5, "shares": 5, "clicks": 0}


async def test_too_few_sharers_outside_a_unit_hide_it_too(company, published, as_employee, admin):
    message_id = await published()
    for person in ("S0", "S1", "S2", "S3", "S4", "P0", "L0"):
        await share(as_employee(person), message_id)
    grouped = (
        await admin.get(f"/v1/messages/{message_id}/stats", params={"group_by": "department"})
    ).json()
    by_key = {g["key"]: g["advocacy"] for g in grouped["groups"]}
    # Sales' five sharers alone would leave two in (other), which the total would give away:
    # Sales joins (other), which then holds everyone
    assert by_key == {"Sales": None, "(other)": {"sharers": 7, "shares": 7, "clicks": 0}}
    # with fewer sharers than the minimum in all, no unit shows any
    few = await published(title="Another")
    for person in ("S0", "S1"):
        await share(as_employee(person), few)
    grouped = (
        await admin.get(f"/v1/messages/{few}/stats", params={"group_by": "department"})
    ).json()
    assert [g["advocacy"] for g in grouped["groups"]] == [None, None]
    assert grouped["advocacy"]["sharers"] == 2  # the message's own total, as its reads


async def test_brand_alignment_reports_advocacy_per_unit(company, published, as_employee, admin):
    message_id = await published()
    for person in ("S0", "S1", "S2", "S3", "S4", "S5", "P0", "P1", "P2", "P3"):
        await share(as_employee(person), message_id)
    report = (await admin.get("/v1/reports/brand-alignment", params={"group_by": "country"})).json()
    assert report["total"]["advocacy"] == {"sharers": 10, "shares": 10, "clicks": 0}
    units = {u["unit"]: u["advocacy"] for u in report["units"]}
    # FR's four sharers are too few: FR is not shown, and ES would give it away (the total
    # minus ES), so neither is ES: all are in (other)
    assert units == {"ES": None, "FR": None, "(other)": report["total"]["advocacy"]}
    await share(as_employee("P4"), message_id)
    report = (await admin.get("/v1/reports/brand-alignment", params={"group_by": "country"})).json()
    units = {u["unit"]: u["advocacy"] for u in report["units"]}
    assert units == {
        "ES": {"sharers": 6, "shares": 6, "clicks": 0},
        "FR": {"sharers": 5, "shares": 5, "clicks": 0},
    }
    # a message outside the brand categories does not count
    news = await published(category="news")
    await share(as_employee("L1"), news)
    again = (await admin.get("/v1/reports/brand-alignment", params={"group_by": "country"})).json()
    assert again["total"]["advocacy"]["shares"] == 11


async def test_my_advocacy_lists_my_shares_and_their_clicks_only(
    company, published, as_employee, app
):
    message_id = await published()
    mine = as_employee("S0")
    first = await share(mine, message_id, text="One")
    second = await share(mine, message_id, network="x", text="Two")
    other = await share(as_employee("S1"), message_id, text="Not mine")
    await _click(app, first["link"], "10.0.0.1")
    await _click(app, first["link"], "10.0.0.2")
    await _click(app, other["link"], "10.0.0.3")

    body = (await mine.get("/v1/me/advocacy")).json()
    assert (body["shares"], body["clicks"], body["leaderboard_opt_in"]) == (2, 2, False)
    assert {i["id"]: i["clicks"] for i in body["items"]} == {first["id"]: 2, second["id"]: 0}
    assert body["items"][0]["link"].startswith("http://test/s/")
    page = (await mine.get("/v1/me/advocacy", params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (
        await mine.get("/v1/me/advocacy", params={"limit": 1, "cursor": page["next_cursor"]})
    ).json()
    assert {page["items"][0]["id"], rest["items"][0]["id"]} == {first["id"], second["id"]}
    assert rest["next_cursor"] is None
    assert (await mine.get("/v1/me/advocacy", params={"limit": 500})).status_code == 422


async def test_the_leaderboard_shows_only_those_who_opted_in(
    company, published, as_employee, admin, app, client_for, anon
):
    message_id = await published()
    links = {p: (await share(as_employee(p), message_id))["link"] for p in ("S0", "S1", "P0")}
    await share(as_employee("S1"), message_id, network="x", text="More")
    await _click(app, links["S0"], "10.0.0.1")
    await _click(app, links["S0"], "10.0.0.2")
    await _click(app, links["P0"], "10.0.0.1")

    assert (await admin.get("/v1/advocacy/leaderboard")).json()["items"] == []  # nobody opted in
    await opt_in(as_employee("S0"))
    await opt_in(as_employee("S1"))
    await opt_in(as_employee("S1"))  # twice is once
    board = (await as_employee("L0").get("/v1/advocacy/leaderboard")).json()
    assert [(r["rank"], r["display_name"], r["shares"], r["clicks"]) for r in board["items"]] == [
        (1, "Person S0", 1, 2),
        (2, "Person S1", 2, 0),
    ]
    # P0 has clicks but never opted in: not there, not even as a rank
    assert "Person P0" not in str(board)
    await opt_in(as_employee("S0"), False)
    board = (await admin.get("/v1/advocacy/leaderboard")).json()
    assert [r["display_name"] for r in board["items"]] == ["Person S1"]
    assert (await as_employee("S0").get("/v1/me/advocacy")).json()["leaderboard_opt_in"] is False
    assert (await as_employee("S1").get("/v1/me/advocacy")).json()["leaderboard_opt_in"] is True
    # the period
    future = (utcnow() + timedelta(days=1)).isoformat()
    r = await admin.get("/v1/advocacy/leaderboard", params={"since": future})
    assert r.status_code == 422
    r = await admin.get(
        "/v1/advocacy/leaderboard", params={"until": (utcnow() - timedelta(days=1)).isoformat()}
    )
    assert r.json()["items"] == []
    # who may look
    assert (await anon.get("/v1/advocacy/leaderboard")).status_code == 401
    narrow = await client_for(Scope.MESSAGES_READ)
    assert (await narrow.get("/v1/advocacy/leaderboard")).status_code == 403
    reporting = await client_for(Scope.RECEIPTS_READ)
    assert (await reporting.get("/v1/advocacy/leaderboard")).status_code == 200
    assert (
        await reporting.get("/v1/advocacy/leaderboard", params={"limit": 101})
    ).status_code == 422


async def test_opting_in_is_for_employees_and_takes_a_boolean(company, as_employee, admin):
    employee = as_employee("S0")
    assert (
        await admin.put("/v1/me/preferences", json={"advocacy_leaderboard": True})
    ).status_code == 403
    for bad in ({"advocacy_leaderboard": "yes"}, {"advocacy_leaderboard": 1}, {"rank": 1}):
        r = await employee.put("/v1/me/preferences", json=bad)
        assert r.status_code == 422, bad
    # nobody is put on the leaderboard by someone else: an admin may only take them off it
    r = await admin.put("/v1/employees/S0/preferences", json={"advocacy_leaderboard": True})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.advocacy_leaderboard", r.json()
    assert (await employee.get("/v1/me/advocacy")).json()["leaderboard_opt_in"] is False
    await opt_in(employee)
    kept = await admin.put("/v1/employees/S0/preferences", json={"advocacy_leaderboard": True})
    assert kept.status_code == 200 and kept.json()["advocacy_leaderboard"] is True
    taken_off = await admin.put("/v1/employees/S0/preferences", json={})
    assert taken_off.status_code == 200 and taken_off.json()["advocacy_leaderboard"] is False
    assert (await employee.get("/v1/me/advocacy")).json()["leaderboard_opt_in"] is False


async def test_erasure_forgets_the_words_and_the_opt_in_but_keeps_the_counts(
    company, published, as_employee, admin, db
):
    message_id = await published()
    await share(as_employee("S0"), message_id, text="My own words")
    await opt_in(as_employee("S0"))
    r = await admin.delete("/v1/employees/S0", params={"erase": "true"})
    assert r.status_code in (200, 204), r.text
    async with db() as s:
        texts = (await s.execute(select(Share.text))).scalars().all()
        profiles = (await s.execute(select(AdvocacyProfile))).scalars().all()
    assert texts == [""] and profiles == []
    stats = (await admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert stats["advocacy"]["shares"] == 1
    assert (await admin.get("/v1/advocacy/leaderboard")).json()["items"] == []
