"""`GET /v1/reports/delivery` against hand counts."""

import re

from sqlalchemy import update

from app.core.principal import Scope
from app.receipts.models import Delivery
from tests.receipts.helpers import person
from tests.receipts.inbox.conftest import at

LINK = re.compile(r"http://test/r/[A-Za-z0-9_-]+")
SPAIN = [f"ES-{n}" for n in range(5)]
MEXICO = [f"MX-{n}" for n in range(5)]


async def _arrange(world, prefs, send, smtp, anon) -> list[str]:
    await world.people(
        *(person(p, country="ES") for p in SPAIN), *(person(p, country="MX") for p in MEXICO)
    )
    for p in MEXICO:
        await prefs(p, digest="daily")
    ids = [
        await world.message(SPAIN + MEXICO, title=f"News {n}", channels=["email"]) for n in range(4)
    ]
    for message_id in ids:
        await world.set_message(message_id, published_at=at(7, 9))
    async with world.db() as s, s.begin():
        await s.execute(update(Delivery).values(planned_at=at(7, 9)))
    await send(at(7, 10))  # Spain: 3 each, the 4th held by the cap; Mexico: held for the digest
    await send(at(7, 15))  # 09:00 in Mexico City: five digests
    for address in ("es-0@example.com", "es-1@example.com", "mx-0@example.com"):
        link = LINK.search(smtp.sink.to(address)[0].part("plain")).group(0)
        assert (await anon.get(link)).status_code == 303
    await world.set_recipients(ids[3], ["ES-4"], read_at=at(7, 16), read_channel="feed")
    return ids


PERIOD = {"since": "2030-01-07T00:00:00Z", "until": "2030-01-08T00:00:00Z"}


async def test_the_report_matches_hand_counts(world, prefs, send, smtp, anon):
    await _arrange(world, prefs, send, smtp, anon)
    r = await world.admin.get("/v1/reports/delivery", params=PERIOD)
    assert r.status_code == 200, r.text
    body = r.json()
    total = body["total"]
    assert {k: total[k] for k in ("employees", "emails", "planned", "held")} == {
        "employees": 10,
        "emails": 20,  # Spain 5 x 3, Mexico 5 digests
        "planned": 40,
        "held": 25,
    }
    assert (total["held_by_cap"], total["held_by_quiet_hours"], total["held_for_digest"]) == (
        5,
        0,
        20,
    )
    assert (total["digests"], total["digests_opened"], total["digest_open_rate"]) == (5, 1, 0.2)
    assert (total["recipients"], total["read_by_email"], total["read_in_feed"]) == (40, 3, 1)
    assert total["held_share"] == 0.625 and total["emails_per_employee"] == 2.0
    assert body["emails_per_employee"] == {"p50": 1.0, "p90": 3.0, "max": 3}
    assert body["groups"] == []

    r = await world.admin.get("/v1/reports/delivery", params={**PERIOD, "group_by": "country"})
    groups = {g["group"]: g for g in r.json()["groups"]}
    assert set(groups) == {"ES", "MX"}
    assert (groups["ES"]["emails"], groups["ES"]["held_by_cap"]) == (15, 5)
    assert groups["ES"]["emails_per_employee"] == 3.0
    assert (groups["MX"]["emails"], groups["MX"]["held_for_digest"]) == (5, 20)


async def test_small_groups_are_merged(world, prefs, send, smtp, anon, client_for, app):
    await _arrange(world, prefs, send, smtp, anon)
    r = await world.admin.get("/v1/reports/delivery", params={**PERIOD, "group_by": "department"})
    assert [g["group"] for g in r.json()["groups"]] == ["(unknown)"]
    reader = await client_for(Scope.RECEIPTS_READ)
    r = await reader.get("/v1/reports/delivery", params={**PERIOD, "group_by": "country"})
    assert r.status_code == 200
    # a minimum above each country merges them all into "(other)"
    app.state.settings.min_group_size = 6
    r = await world.admin.get("/v1/reports/delivery", params={**PERIOD, "group_by": "country"})
    assert [(g["group"], g["employees"]) for g in r.json()["groups"]] == [("(other)", 10)]


async def test_report_needs_receipts_read_and_a_sane_period(world, client_for):
    narrow = await client_for(Scope.MESSAGES_READ)
    assert (await narrow.get("/v1/reports/delivery")).status_code == 403
    r = await world.admin.get(
        "/v1/reports/delivery", params={"since": PERIOD["until"], "until": PERIOD["since"]}
    )
    assert r.status_code == 422 and "since" in r.text
    r = await world.admin.get(
        "/v1/reports/delivery",
        params={"since": "2020-01-01T00:00:00Z", "until": PERIOD["until"]},
    )
    assert r.status_code == 422
    r = await world.admin.get("/v1/reports/delivery", params={"group_by": "shoe_size"})
    assert r.status_code == 422
    r = await world.admin.get("/v1/reports/delivery")
    assert r.status_code == 200 and r.json()["total"]["employees"] == 0
