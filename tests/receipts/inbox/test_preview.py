"""`GET /v1/messages/{id}/delivery-preview`: what publishing would do, before it does."""

from app.core.principal import Scope
from tests.receipts.helpers import person
from tests.receipts.inbox.conftest import at


async def test_preview_counts_each_rule_and_matches_what_the_sender_then_does(
    world, prefs, send, smtp, mails
):
    await world.people(
        person("DIGEST-1", country="ES"),
        person("DIGEST-2", country="ES"),
        person("QUIET-1", country="ES"),
        person("PLAIN-1", country="ES"),
        person("PLAIN-2"),
        person("CAP-1"),
        person("NONEWS-1"),
        person("NOMAIL-1", email=None),
        person("LEFT-1", active=False),
    )
    for p in ("DIGEST-1", "DIGEST-2"):
        await prefs(p, digest="daily")
    await prefs("QUIET-1", quiet_hours={"start": "21:00", "end": "07:00"})
    await prefs("NONEWS-1", email={"news": False})
    for n in range(3):
        await world.message(["CAP-1"], title=f"Earlier {n}", channels=["email"])
    await send(at(7, 10))
    everyone = [
        "DIGEST-1", "DIGEST-2", "QUIET-1", "PLAIN-1", "PLAIN-2", "CAP-1", "NONEWS-1",
        "NOMAIL-1", "LEFT-1",
    ]  # fmt: skip
    draft = await world.draft(title="Next", channels=["email"])
    await world.send_to(draft, everyone)
    r = await world.admin.get(
        f"/v1/messages/{draft}/delivery-preview", params={"at": "2030-01-07T21:00:00Z"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["recipients"] == 8 and body["feed"] == 8 and body["chat"] is None
    assert body["email"] == {
        "now": 2,  # PLAIN-1, PLAIN-2 (22:00 in Madrid is outside PLAIN-1's default: none)
        "digest": 2,
        "held_by_cap": 1,
        "held_by_quiet_hours": 1,
        "cancelled": 1,
        "no_address": 1,
    }
    # the sender then does exactly that
    await world.publish(draft)
    await send(at(7, 21))
    states = {}
    for p in everyone[:-1]:
        rows = [m for m in await mails(p) if m["message_id"] == draft]
        states[p] = rows[0]["state"] if rows else None
    assert [p for p, s in states.items() if s == "sent"] == ["PLAIN-1", "PLAIN-2"]
    assert states["NONEWS-1"] == "cancelled" and states["CAP-1"] == "held"


async def test_preview_of_a_critical_or_feed_only_message(world, prefs):
    await world.people(person("DIGEST-1", country="ES"), "E-2")
    await prefs("DIGEST-1", digest="daily", quiet_hours={"start": "00:00", "end": "23:59"})
    critical = await world.draft(title="Alarm", channels=["email"], priority="critical")
    await world.send_to(critical, ["DIGEST-1", "E-2"])
    r = await world.admin.get(f"/v1/messages/{critical}/delivery-preview")
    assert r.json()["email"]["now"] == 2
    feed_only = await world.draft(title="Feed")
    await world.send_to(feed_only, ["DIGEST-1", "E-2"])
    r = await world.admin.get(f"/v1/messages/{feed_only}/delivery-preview")
    assert r.json()["email"] is None and r.json()["feed"] == 2


async def test_preview_needs_receipts_read_and_a_message(world, client_for):
    draft = await world.draft(title="Next", channels=["email"])
    narrow = await client_for(Scope.MESSAGES_WRITE)
    assert (await narrow.get(f"/v1/messages/{draft}/delivery-preview")).status_code == 403
    r = await world.admin.get("/v1/messages/00000000-0000-0000-0000-000000000000/delivery-preview")
    assert r.status_code == 404
    r = await world.admin.get(f"/v1/messages/{draft}/delivery-preview", params={"at": "soon"})
    assert r.status_code == 422


async def test_times_out_of_range_are_422(world):
    draft = await world.draft(title="Next", channels=["email"])
    for path, name in (
        (f"/v1/messages/{draft}/delivery-preview", "at"),
        ("/v1/reports/delivery", "since"),
        ("/v1/reports/delivery", "until"),
    ):
        for value in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
            r = await world.admin.get(path, params={name: value})
            assert r.status_code == 422, (path, value, r.text)
            assert name in r.text
