"""Message lifecycle changes leave events in the outbox, in the same transaction."""

from datetime import timedelta

from sqlalchemy import select

from app.core.database import utcnow
from app.messages.service import announce_expired
from app.webhooks.models import OutboxEvent
from tests.messages.helpers import iso


async def _events(db) -> list[tuple[str, dict]]:
    async with db() as s:
        rows = (await s.execute(select(OutboxEvent).order_by(OutboxEvent.seq))).scalars().all()
    return [(e.type, e.data) for e in rows]


async def test_lifecycle_events(admin, db, new_message, publish):
    message = await new_message(requires_acknowledgement=True, acknowledgement_text="Understood")
    assert (await publish(message["id"])).status_code == 200
    r = await admin.patch(
        f"/v1/messages/{message['id']}",
        json={"body": "New text", "require_reacknowledgement": True},
    )
    assert r.status_code == 200
    assert (await admin.post(f"/v1/messages/{message['id']}/archive")).status_code == 200

    events = await _events(db)
    assert [t for t, _ in events] == ["message.published", "message.updated", "message.archived"]
    published, updated, archived = (d for _, d in events)
    assert published["message_id"] == message["id"]
    assert published["url"] == f"/v1/messages/{message['id']}"
    assert published["status"] == "published" and published["version"] == 1
    assert updated["version"] == 2 and updated["requires_reacknowledgement"] is True
    assert archived["previous_status"] == "published"
    assert "body" not in published  # subscribers get a summary and a link, not the content


async def test_scheduling_emits_scheduled(db, new_message, publish):
    message = await new_message()
    r = await publish(message["id"], publish_at="2099-01-01T00:00:00Z")
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    assert [t for t, _ in await _events(db)] == ["message.scheduled"]


async def test_metadata_edits_and_refused_changes_emit_nothing(admin, db, new_message, publish):
    message = await new_message()
    assert (
        await admin.patch(f"/v1/messages/{message['id']}", json={"tags": ["x"]})
    ).status_code == 200
    assert (await admin.post(f"/v1/messages/{message['id']}/archive")).status_code == 409
    assert await _events(db) == []
    assert (await publish(message["id"])).status_code == 200
    assert (await publish(message["id"])).status_code == 409
    assert [t for t, _ in await _events(db)] == ["message.published"]


async def test_expiry_is_announced_once(admin, db, new_message, publish):
    message = await new_message(expires_at=iso(utcnow() + timedelta(seconds=1)))
    assert (await publish(message["id"])).status_code == 200
    async with db() as s, s.begin():
        assert await announce_expired(s, now=utcnow()) == 0  # not yet
    async with db() as s, s.begin():
        assert await announce_expired(s, now=utcnow() + timedelta(seconds=2)) == 1
    async with db() as s, s.begin():
        assert await announce_expired(s, now=utcnow() + timedelta(seconds=3)) == 0
    expired = [d for t, d in await _events(db) if t == "message.expired"]
    assert [d["message_id"] for d in expired] == [message["id"]]
