"""Real deliveries to a real receiver, verified by stock Standard Webhooks libraries.

Each delivery the receiver got is checked with `standardwebhooks.Webhook(secret).verify` and
`svix.webhooks.Webhook(secret).verify`, exactly as a receiver would call them (raw body, the
request's headers), and with the helper Brandcast ships.
"""

import base64
import re
import uuid
from datetime import timedelta

import httpx
import pytest
import standardwebhooks
import svix.webhooks
from sqlalchemy import update

from app.core.database import utcnow
from app.webhooks.models import Webhook
from app.webhooks.signing import from_legacy, new_secret
from brandcast.webhooks import verify_signature
from tests.webhooks.helpers import deliveries, legacy_verified

SIGNATURE = re.compile(r"v1,[A-Za-z0-9+/]{43}=")


def accepted(secret: str, got) -> dict:
    """Every stock verifier accepts the delivery; returns the payload."""
    payload = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    svix.webhooks.Webhook(secret).verify(got.body, got.headers)
    assert verify_signature(secret, got.body, got.headers)
    return payload


def refused(secret: str, got) -> bool:
    for verifier in (standardwebhooks.Webhook(secret), svix.webhooks.Webhook(secret)):
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            verifier.verify(got.body, got.headers)
    assert not verify_signature(secret, got.body, got.headers)
    return True


def signatures(got) -> list[str]:
    return got.headers["webhook-signature"].split(" ")


async def ping(admin: httpx.AsyncClient, hook: dict) -> dict:
    r = await admin.post(f"/v1/webhooks/{hook['id']}/ping")
    assert r.status_code == 202, r.text
    return r.json()


async def test_a_published_message_reaches_a_stock_receiver(
    admin, everyone, subscribe, receiver, dispatch
):
    hook = await subscribe(receiver.url, ["message.published"])
    r = await admin.post(
        "/v1/messages", json={"category": "news", "title": "Hello", "audience_ids": [everyone]}
    )
    assert r.status_code == 201, r.text
    message = r.json()
    r = await admin.post(f"/v1/messages/{message['id']}/publish", json={})
    assert r.status_code == 200, r.text
    before = int(utcnow().timestamp())

    assert await dispatch() == 1
    (got,) = receiver.received
    payload = accepted(hook["secret"], got)
    assert payload["type"] == "message.published" and payload["data"]["message_id"] == message["id"]
    # webhook-id is the event id (the envelope's id); the timestamp is this attempt's
    assert got.headers["webhook-id"] == payload["id"]
    assert before - 5 <= int(got.headers["webhook-timestamp"]) <= before + 5
    assert [SIGNATURE.fullmatch(s) is not None for s in signatures(got)] == [True]
    assert not any(k.startswith("brandcast-") for k in got.headers)
    assert refused(new_secret(), got)

    # tampering with anything signed is refused
    for name, value in [
        ("webhook-id", str(uuid.uuid4())),
        ("webhook-timestamp", str(int(got.headers["webhook-timestamp"]) + 1)),
    ]:
        forged = type(got)(got.path, {**got.headers, name: value}, got.body)
        assert refused(hook["secret"], forged)
    assert refused(hook["secret"], type(got)(got.path, got.headers, got.body + b" "))


async def test_a_ping_verifies(admin, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url, ["message.archived"])
    queued = await ping(admin, hook)
    assert await dispatch() == 1
    (got,) = receiver.received
    payload = accepted(hook["secret"], got)
    assert payload["type"] == "ping" and payload["data"] == {"webhook_id": hook["id"]}
    assert got.headers["webhook-id"] == queued["event_id"] == payload["id"]


async def test_a_retry_carries_the_same_webhook_id(admin, db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    queued = await ping(admin, hook)
    receiver.respond(500, 503)
    t0 = utcnow()
    assert await dispatch(now=t0) == 1
    (row,) = await deliveries(db, hook["id"])
    assert await dispatch(now=row.next_attempt_at) == 1
    (row,) = await deliveries(db, hook["id"])
    assert await dispatch(now=row.next_attempt_at) == 1
    (row,) = await deliveries(db, hook["id"])
    assert (row.status, row.attempt) == ("delivered", 3)

    assert len(receiver.received) == 3
    for got in receiver.received:  # every attempt is signed afresh, and verifies
        accepted(hook["secret"], got)
    assert {g.headers["webhook-id"] for g in receiver.received} == {queued["event_id"]}


async def test_a_redelivery_carries_the_same_webhook_id(admin, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    queued = await ping(admin, hook)
    assert await dispatch() == 1
    r = await admin.post(f"/v1/webhooks/{hook['id']}/deliveries/{queued['id']}/redeliver")
    assert r.status_code == 202, r.text
    assert r.json()["event_id"] == queued["event_id"]
    assert await dispatch() == 1

    first, again = receiver.received
    assert accepted(hook["secret"], first) == accepted(hook["secret"], again)
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == queued["event_id"]


async def test_a_rotation_signs_with_both_secrets_until_the_overlap_ends(
    admin, subscribe, receiver, dispatch
):
    hook = await subscribe(receiver.url)
    r = await admin.post(f"/v1/webhooks/{hook['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    new, old = r.json()["secret"], hook["secret"]
    assert len(base64.b64decode(new[6:], validate=True)) == 32

    await ping(admin, hook)
    t0 = utcnow()
    assert await dispatch(now=t0) == 1
    got = receiver.received[-1]
    assert len(signatures(got)) == 2 and all(SIGNATURE.fullmatch(s) for s in signatures(got))
    # each secret alone verifies: receivers switch at their own pace
    accepted(new, got)
    accepted(old, got)
    assert refused(new_secret(), got)

    # after the overlap (24 hours) only the new secret signs
    await ping(admin, hook)
    assert await dispatch(now=t0 + timedelta(hours=24, seconds=1)) == 1
    got = receiver.received[-1]
    assert len(signatures(got)) == 1
    accepted(new, got)
    assert refused(old, got)


async def test_a_converted_legacy_secret_keeps_old_and_new_receivers_verifying(
    admin, db, subscribe, receiver, dispatch
):
    """A subscription as migration 0012 leaves it (tests/webhooks/test_standard_webhooks_
    migration.py runs the migration itself): the old headers go along until a rotation's
    overlap ends."""
    hook = await subscribe(receiver.url)
    old = "whsec_" + "0Ab-_" * 8 + "xyz"  # the shape of a pre-0012 secret: 43 URL-safe chars
    async with db() as s, s.begin():
        await s.execute(
            update(Webhook)
            .where(Webhook.id == uuid.UUID(hook["id"]))
            .values(secret=from_legacy(old), secret_is_legacy=True)
        )
    assert (await admin.get(f"/v1/webhooks/{hook['id']}")).json()["legacy_signatures"] is True

    await ping(admin, hook)
    assert await dispatch() == 1
    got = receiver.received[-1]
    accepted(from_legacy(old), got)  # stock libraries, with the converted string
    assert verify_signature(old, got.body, got.headers)  # the helper takes the old one too
    assert legacy_verified(got, old)  # and an unchanged old receiver still verifies
    assert got.headers["brandcast-event-id"] == got.headers["webhook-id"]

    r = await admin.post(f"/v1/webhooks/{hook['id']}/rotate-secret")
    new = r.json()["secret"]
    assert r.json()["legacy_signatures"] is True  # the old secret still signs
    await ping(admin, hook)
    t0 = utcnow()
    assert await dispatch(now=t0) == 1
    got = receiver.received[-1]
    accepted(new, got)
    accepted(from_legacy(old), got)
    assert legacy_verified(got, old)
    assert got.headers["brandcast-signature"].count("v1=") == 1  # the new one is spec-only
    assert not legacy_verified(got, new)

    await ping(admin, hook)
    assert await dispatch(now=t0 + timedelta(hours=24, seconds=1)) == 1
    got = receiver.received[-1]
    accepted(new, got)
    assert not any(k.startswith("brandcast-") for k in got.headers)
    async with db() as s, s.begin():  # the overlap's end, as the API sees it
        await s.execute(
            update(Webhook)
            .where(Webhook.id == uuid.UUID(hook["id"]))
            .values(previous_secret_expires_at=t0 - timedelta(seconds=1))
        )
    assert (await admin.get(f"/v1/webhooks/{hook['id']}")).json()["legacy_signatures"] is False


async def test_a_secret_that_cannot_sign_is_a_failed_attempt_not_a_crash(
    admin, db, subscribe, receiver, dispatch
):
    hook = await subscribe(receiver.url)
    async with db() as s, s.begin():  # written by hand, not by Brandcast
        await s.execute(
            update(Webhook).where(Webhook.id == uuid.UUID(hook["id"])).values(secret="whsec_!")
        )
    await ping(admin, hook)
    assert await dispatch() == 1
    (row,) = await deliveries(db, hook["id"])
    assert row.status == "pending" and row.response_status is None
    assert row.error == "cannot sign: the part after whsec_ is not base64"
    assert receiver.received == []
