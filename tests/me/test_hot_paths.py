"""What the hot paths keep in memory never shows stale data: the content cache follows every
revision of a message, and a cached sign-in ends within its few seconds."""

import uuid

from sqlalchemy import update

from app.auth.cache import SignInCache
from app.messages.models import Message
from tests.me.test_acknowledgements import ACK, sha256_of
from tests.receipts.helpers import World, as_employee

FEED = "/v1/me/messages"


async def _feed_body(anon, external_id: str) -> str:
    r = await anon.get(FEED, params={"include": "body"}, headers=as_employee(external_id))
    assert r.status_code == 200, r.text
    return r.json()["items"][0]["body"]


async def test_an_edit_through_the_api_reaches_the_feed_and_the_evidence(db, admin, anon):
    world = World(db, admin)
    await world.people("E-1")
    message_id = await world.message(["E-1"], title="Policy", body="Old text", **ACK)
    assert await _feed_body(anon, "E-1") == "Old text"  # now in the content cache

    r = await admin.patch(f"/v1/messages/{message_id}", json={"body": "New text"})
    assert r.status_code == 200, r.text
    assert await _feed_body(anon, "E-1") == "New text"
    one = await anon.get(f"{FEED}/{message_id}", headers=as_employee("E-1"))
    assert (one.json()["body"], one.json()["version"]) == ("New text", 2)

    ack = await anon.post(f"{FEED}/{message_id}/acknowledgement", headers=as_employee("E-1"))
    assert ack.status_code == 201, ack.text
    assert ack.json()["version"] == 2
    assert ack.json()["content_sha256"] == sha256_of("Policy", "New text", "en")


async def test_a_change_made_by_another_replica_is_picked_up(db, admin, anon):
    world = World(db, admin)
    await world.people("E-1")
    message_id = await world.message(["E-1"], title="Policy", body="Old text", **ACK)
    assert await _feed_body(anon, "E-1") == "Old text"

    # another process changes the message: this one's cache still holds the old revision
    async with db() as s, s.begin():
        await s.execute(
            update(Message)
            .where(Message.id == uuid.UUID(message_id))
            .values(body="Changed elsewhere", version=2, revision=Message.revision + 1)
        )
    assert await _feed_body(anon, "E-1") == "Changed elsewhere"

    # the acknowledgement finds out by itself too (its statement checks the revision)
    await world.people("E-2")
    other = await world.message(["E-2"], title="Other", body="First", **ACK)
    assert await _feed_body(anon, "E-2") == "First"
    async with db() as s, s.begin():
        await s.execute(
            update(Message)
            .where(Message.id == uuid.UUID(other))
            .values(body="Second", version=2, revision=Message.revision + 1)
        )
    ack = await anon.post(f"{FEED}/{other}/acknowledgement", headers=as_employee("E-2"))
    assert ack.status_code == 201, ack.text
    assert (ack.json()["version"], ack.json()["content_sha256"]) == (
        2,
        sha256_of("Other", "Second", "en"),
    )


async def test_a_deactivated_employee_is_refused_within_the_cache_time(db, admin, anon, app):
    world = World(db, admin)
    await world.people("E-1")
    await world.message(["E-1"])
    now = [1_000.0]
    app.state.sign_in_cache = SignInCache(5, clock=lambda: now[0])
    headers = as_employee("E-1")
    assert (await anon.get(FEED, headers=headers)).status_code == 200

    await world.set_employee("E-1", active=False)
    now[0] += 4.9  # within the 5 s the sign-in is cached: still served
    assert (await anon.get(FEED, headers=headers)).status_code == 200
    now[0] += 0.2  # past them: refused, on every route
    for path in (FEED, "/v1/me"):
        r = await anon.get(path, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["detail"] == "The token names no active employee."


def test_the_sign_in_cache_never_outlives_the_token():
    now = [1_000.0]
    cache = SignInCache(5, clock=lambda: now[0])
    sign_in = type("SignIn", (), {"expires_at": 1_002.0})()
    cache.put("token", sign_in)  # type: ignore[arg-type]
    now[0] = 1_001.9
    assert cache.get("token") is sign_in
    now[0] = 1_002.0  # the token's `exp`, before the 5 s
    assert cache.get("token") is None
    off = SignInCache(0)
    off.put("token", sign_in)  # type: ignore[arg-type]
    assert off.get("token") is None and len(off) == 0
