"""Migration 0012 on a database with subscriptions from before it: their secrets are re-encoded
to the same HMAC key, existing receivers keep verifying, and the downgrade gives the old
strings back."""

import asyncio
import base64
import secrets
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
import standardwebhooks
import svix.webhooks

from app.core.config import Settings
from app.core.database import Database, UTCDateTime, utcnow
from app.core.migrations import downgrade, upgrade
from app.webhooks.signing import new_secret
from brandcast.webhooks import standard_secret, verify_signature
from tests.webhooks.helpers import legacy_verified

BEFORE = "0011_feed_order"
AFTER = "0012_standard_webhooks"

# the table as it is at 0011 (the model may have moved on since)
webhooks_0011 = sa.table(
    "webhooks",
    sa.column("id", sa.Uuid()),
    sa.column("url", sa.String()),
    sa.column("events", sa.JSON()),
    sa.column("active", sa.Boolean()),
    sa.column("secret", sa.String()),
    sa.column("previous_secret", sa.String()),
    sa.column("previous_secret_expires_at", UTCDateTime()),
    sa.column("revision", sa.Integer()),
    sa.column("created_by", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
STEADY, ROTATING, ALREADY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def old_secret() -> str:
    """How secrets were made before 0012."""
    return "whsec_" + secrets.token_urlsafe(32)


def b64(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


async def _at_0011_with_subscriptions(url: str, hook_url: str) -> dict[uuid.UUID, dict]:
    """Migrate to 0011 and subscribe as the old code did; returns the rows written."""
    await asyncio.to_thread(upgrade, url, BEFORE)
    now = utcnow()
    base = {
        "url": hook_url,
        "events": ["*"],
        "active": True,
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "revision": 1,
        "created_by": "tests",
        "created_at": now,
        "updated_at": now,
    }
    rows = {
        STEADY: {**base, "id": STEADY, "secret": old_secret()},
        # rotated an hour ago: both old secrets sign
        ROTATING: {
            **base,
            "id": ROTATING,
            "secret": old_secret(),
            "previous_secret": old_secret(),
            "previous_secret_expires_at": now + timedelta(hours=23),
        },
        # already in the specification's form (a row written by hand): left alone
        ALREADY: {**base, "id": ALREADY, "secret": new_secret()},
    }
    db = Database(Settings(database_url=url))
    try:
        async with db.session_scope() as s:
            await s.execute(sa.insert(webhooks_0011), list(rows.values()))
    finally:
        await db.dispose()
    return rows


@pytest.fixture
async def legacy_rows(empty_database, receiver) -> dict[uuid.UUID, dict]:
    rows = await _at_0011_with_subscriptions(empty_database, receiver.url)
    await asyncio.to_thread(upgrade, empty_database, "head")
    return rows


@pytest.fixture
def database_url(empty_database, legacy_rows) -> str:
    """The app of these tests runs on the database migrated from 0011 with old rows."""
    return empty_database


async def _stored(db) -> dict[uuid.UUID, sa.Row]:
    async with db() as s:
        rows = (await s.execute(sa.text("SELECT * FROM webhooks"))).mappings().all()
    return {uuid.UUID(str(r["id"])): r for r in rows}


async def test_old_secrets_are_re_encoded_to_the_same_key(db, legacy_rows):
    stored = await _stored(db)
    for id_, field, flag in [
        (STEADY, "secret", "secret_is_legacy"),
        (ROTATING, "secret", "secret_is_legacy"),
        (ROTATING, "previous_secret", "previous_secret_is_legacy"),
    ]:
        old, new = legacy_rows[id_][field], stored[id_][field]
        # the spec key of the new string is the old key: the old string's bytes
        assert new == "whsec_" + base64.b64encode(old.encode()).decode()
        assert b64(new) == old.encode()
        assert standard_secret(old) == new  # receivers can work it out from what they hold
        assert bool(stored[id_][flag]) is True
        standardwebhooks.Webhook(new)  # a stock library takes it
    assert stored[STEADY]["previous_secret"] is None
    assert not stored[STEADY]["previous_secret_is_legacy"]
    assert stored[ALREADY]["secret"] == legacy_rows[ALREADY]["secret"]
    assert not stored[ALREADY]["secret_is_legacy"]


async def test_existing_receivers_keep_verifying_after_the_migration(
    admin, legacy_rows, receiver, dispatch
):
    listed = {w["id"]: w for w in (await admin.get("/v1/webhooks")).json()["items"]}
    assert listed[str(STEADY)]["legacy_signatures"] is True
    assert listed[str(ROTATING)]["legacy_signatures"] is True
    assert listed[str(ALREADY)]["legacy_signatures"] is False
    for id_ in (STEADY, ROTATING, ALREADY):
        assert (await admin.post(f"/v1/webhooks/{id_}/ping")).status_code == 202
    assert await dispatch() == 3
    got = {r.json["data"]["webhook_id"]: r for r in receiver.received}

    steady = got[str(STEADY)]
    old = legacy_rows[STEADY]["secret"]
    # a receiver that changed nothing: the old headers, checked the old way, with its string
    assert legacy_verified(steady, old)
    # a receiver that moved to a stock library, with the converted string
    standardwebhooks.Webhook(standard_secret(old)).verify(steady.body, steady.headers)
    svix.webhooks.Webhook(standard_secret(old)).verify(steady.body, steady.headers)
    # the shipped helper, with either string
    assert verify_signature(old, steady.body, steady.headers)
    assert verify_signature(standard_secret(old), steady.body, steady.headers)

    rotating = got[str(ROTATING)]
    assert len(rotating.headers["webhook-signature"].split(" ")) == 2
    assert rotating.headers["brandcast-signature"].count("v1=") == 2
    for field in ("secret", "previous_secret"):
        old = legacy_rows[ROTATING][field]
        assert legacy_verified(rotating, old)
        standardwebhooks.Webhook(standard_secret(old)).verify(rotating.body, rotating.headers)

    already = got[str(ALREADY)]
    standardwebhooks.Webhook(legacy_rows[ALREADY]["secret"]).verify(already.body, already.headers)
    assert not any(k.startswith("brandcast-") for k in already.headers)


async def test_downgrade_gives_the_old_strings_back(empty_database, receiver):
    url = empty_database
    rows = await _at_0011_with_subscriptions(url, receiver.url)
    await asyncio.to_thread(upgrade, url, AFTER)
    await asyncio.to_thread(downgrade, url, BEFORE)
    db = Database(Settings(database_url=url))
    try:
        async with db.session_scope() as s:
            back = (
                await s.execute(
                    sa.select(
                        webhooks_0011.c.id,
                        webhooks_0011.c.secret,
                        webhooks_0011.c.previous_secret,
                    )
                )
            ).all()
            columns = await s.run_sync(
                lambda sync: {
                    c["name"] for c in sa.inspect(sync.connection()).get_columns("webhooks")
                }
            )
    finally:
        await db.dispose()
    assert {r.id: (r.secret, r.previous_secret) for r in back} == {
        id_: (row["secret"], row["previous_secret"]) for id_, row in rows.items()
    }
    assert "secret_is_legacy" not in columns and "previous_secret_is_legacy" not in columns
    # and up again: the same conversion
    await asyncio.to_thread(upgrade, url, AFTER)
