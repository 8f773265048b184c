"""Due-date events: reminders and overdue once per message and batch; manual reminders."""

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.core.database import utcnow
from app.core.principal import Scope
from app.employees.models import Employee
from app.messages.models import Message
from app.receipts.models import DueNotice, Recipient
from app.receipts.reminders import emit_due_reminders
from app.webhooks.models import OutboxEvent
from app.webhooks.outbox import emit
from brandcast.webhooks import verify_signature

DUE = datetime(2030, 3, 10, 9, 0, tzinfo=utcnow().tzinfo)


async def add_message(db, *, status="published", requires_ack=True, **fields) -> uuid.UUID:
    values = {
        "category": "policy",
        "title": "Code of conduct",
        "locale": "en",
        "created_by": "tests",
        "status": status,
        "requires_acknowledgement": requires_ack,
        "acknowledgement_text": "I have read it" if requires_ack else None,
        "acknowledge_within_days": 7,
        "published_at": DUE - timedelta(days=7),
    }
    message = Message(**{**values, **fields})
    async with db() as s, s.begin():
        s.add(message)
    return message.id


async def add_recipients(db, message_id, n: int, *, due_at, active=True, acknowledged=0):
    """n recipients due at `due_at`; the first `acknowledged` of them acknowledged v1."""
    ids = []
    async with db() as s, s.begin():
        for i in range(n):
            employee = Employee(external_id=f"e-{uuid.uuid4().hex[:10]}", active=active)
            s.add(employee)
            await s.flush()
            s.add(
                Recipient(
                    message_id=message_id,
                    employee_id=employee.id,
                    targeted_at=due_at - timedelta(days=7),
                    published_at=due_at - timedelta(days=7),
                    due_at=due_at,
                    acknowledged_at=due_at - timedelta(days=1) if i < acknowledged else None,
                    acknowledged_version=1 if i < acknowledged else None,
                )
            )
            ids.append(employee.id)
    return ids


async def run(db, settings, now: datetime) -> int:
    async with db() as s, s.begin():
        return await emit_due_reminders(s, now=now, settings=settings)


async def events(db) -> list[OutboxEvent]:
    async with db() as s:
        return list((await s.execute(select(OutboxEvent).order_by(OutboxEvent.seq))).scalars())


async def test_reminder_then_overdue_exactly_once_with_late_joiners(db, settings):
    message_id = await add_message(db)
    await add_recipients(db, message_id, 5, due_at=DUE, acknowledged=2)
    await add_recipients(db, message_id, 2, due_at=DUE, active=False)  # leavers do not count
    other = await add_message(db, title="No recipients pending", acknowledgement_version=1)
    await add_recipients(db, other, 2, due_at=DUE, acknowledged=2)
    await add_message(db, status="archived")
    await add_message(db, requires_ack=False)

    assert await run(db, settings, DUE - timedelta(days=3)) == 0
    # the reminder time (due - 2 days) comes: one event for the message
    assert await run(db, settings, DUE - timedelta(days=2)) == 1
    for later in (timedelta(days=2), timedelta(days=1), timedelta(minutes=1)):
        assert await run(db, settings, DUE - later) == 0
    (reminder,) = await events(db)
    assert reminder.type == "acknowledgement.reminder_due"
    assert reminder.ordering_key == f"message:{message_id}"
    data = reminder.data
    assert data["message_id"] == str(message_id) and data["title"] == "Code of conduct"
    assert data["pending"] == 3 and data["batch"] == 1 and data["manual"] is False
    assert data["totals"] == {"recipients": 5, "acknowledged": 2, "pending": 3, "overdue": 0}
    assert data["recipients_url"] == f"/v1/messages/{message_id}/recipients?state=pending"

    # one more acknowledges; then the due date passes: one overdue event
    async with db() as s, s.begin():
        pending = (
            (
                await s.execute(
                    select(Recipient.employee_id)
                    .join(Employee, Employee.id == Recipient.employee_id)
                    .where(
                        Employee.active.is_(True),
                        Recipient.message_id == message_id,
                        Recipient.acknowledged_version.is_(None),
                    )
                )
            )
            .scalars()
            .first()
        )
        await s.execute(
            update(Recipient)
            .where(Recipient.message_id == message_id, Recipient.employee_id == pending)
            .values(acknowledged_version=1, acknowledged_at=DUE - timedelta(hours=1))
        )
    assert await run(db, settings, DUE + timedelta(seconds=1)) == 1
    assert await run(db, settings, DUE + timedelta(hours=1)) == 0
    overdue = (await events(db))[-1]
    assert overdue.type == "acknowledgement.overdue"
    assert overdue.data["pending"] == 2 and overdue.data["batch"] == 1
    assert overdue.data["totals"]["overdue"] == 2
    assert overdue.data["recipients_url"] == f"/v1/messages/{message_id}/recipients?state=overdue"

    # late joiners, with their own due dates: announced in a daily batch, not one by one
    await add_recipients(db, message_id, 2, due_at=DUE + timedelta(hours=3))
    await add_recipients(db, message_id, 1, due_at=DUE + timedelta(hours=20))
    assert await run(db, settings, DUE + timedelta(hours=21)) == 0  # within a day of batch 1
    assert await run(db, settings, DUE + timedelta(days=1, seconds=1)) == 1
    assert await run(db, settings, DUE + timedelta(days=1, hours=1)) == 0
    late = (await events(db))[-1]
    assert late.type == "acknowledgement.overdue"
    assert late.data["pending"] == 3 and late.data["batch"] == 2
    assert late.data["totals"]["overdue"] == 5
    # nothing is ever announced twice, however often the job runs
    for days in range(2, 6):
        assert await run(db, settings, DUE + timedelta(days=days)) == 0
    async with db() as s:
        notices = (
            (await s.execute(select(DueNotice).where(DueNotice.message_id == message_id)))
            .scalars()
            .all()
        )
    assert {(n.kind, n.batches) for n in notices} == {("reminder_due", 1), ("overdue", 2)}
    assert len(await events(db)) == 3


async def test_late_joiners_get_their_own_reminder(db, settings):
    message_id = await add_message(db)
    await add_recipients(db, message_id, 3, due_at=DUE)
    assert await run(db, settings, DUE - timedelta(days=2)) == 1
    await add_recipients(db, message_id, 1, due_at=DUE + timedelta(days=4))
    # overdue for the first three, and the late joiner's reminder (due in two days)
    assert await run(db, settings, DUE + timedelta(days=2)) == 2
    assert await run(db, settings, DUE + timedelta(days=2, seconds=1)) == 0
    kinds = [(e.type, e.data["pending"], e.data["batch"]) for e in await events(db)]
    assert kinds == [
        ("acknowledgement.reminder_due", 3, 1),
        ("acknowledgement.overdue", 3, 1),
        ("acknowledgement.reminder_due", 1, 2),
    ]


async def test_reacknowledgement_makes_earlier_acknowledgements_pending(db, settings):
    message_id = await add_message(db, acknowledgement_version=2, version=2)
    await add_recipients(db, message_id, 3, due_at=DUE, acknowledged=3)  # all acknowledged v1
    assert await run(db, settings, DUE + timedelta(minutes=1)) == 1
    (event,) = [e for e in await events(db) if e.type == "acknowledgement.overdue"]
    assert event.data["pending"] == 3


@pytest.fixture
async def writer(client_for):
    return await client_for(Scope.MESSAGES_WRITE)


async def test_manual_reminder_is_one_event_and_rate_limited(writer, db, settings):
    message_id = await add_message(db)
    await add_recipients(db, message_id, 4, due_at=utcnow() + timedelta(days=5), acknowledged=1)

    r = await writer.post(f"/v1/messages/{message_id}/reminders")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["message_id"] == str(message_id) and body["pending"] == 3
    (event,) = await events(db)
    assert str(event.id) == body["event_id"]
    assert event.type == "acknowledgement.reminder_due"
    assert event.data["manual"] is True and event.data["pending"] == 3
    assert event.data["requested_by"].startswith("token:")

    r = await writer.post(f"/v1/messages/{message_id}/reminders")
    assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
    assert 3500 <= int(r.headers["retry-after"]) <= 3601
    assert len(await events(db)) == 1

    async with db() as s, s.begin():
        await s.execute(
            update(DueNotice)
            .where(DueNotice.message_id == message_id)
            .values(last_emitted_at=utcnow() - timedelta(minutes=61))
        )
    assert (await writer.post(f"/v1/messages/{message_id}/reminders")).status_code == 202
    assert len(await events(db)) == 2
    # the scheduled reminder is independent of the manual one
    async with db() as s:
        actions = (
            (
                await s.execute(
                    select(AuditEvent.action).where(AuditEvent.entity_id == str(message_id))
                )
            )
            .scalars()
            .all()
        )
    assert actions.count("message.reminder_sent") == 2


async def test_manual_reminder_refusals(writer, db):
    r = await writer.post(f"/v1/messages/{uuid.uuid4()}/reminders")
    assert r.status_code == 404
    draft = await add_message(db, status="draft")
    assert (await writer.post(f"/v1/messages/{draft}/reminders")).status_code == 409
    no_ack = await add_message(db, requires_ack=False)
    assert (await writer.post(f"/v1/messages/{no_ack}/reminders")).status_code == 409
    done = await add_message(db)
    await add_recipients(db, done, 2, due_at=utcnow() + timedelta(days=1), acknowledged=2)
    r = await writer.post(f"/v1/messages/{done}/reminders")
    assert r.status_code == 409 and "acknowledged" in r.json()["detail"]
    expired = await add_message(db, expires_at=utcnow() - timedelta(hours=1))
    assert (await writer.post(f"/v1/messages/{expired}/reminders")).status_code == 409
    assert await events(db) == []


async def test_story_reaches_a_subscriber_that_was_down(
    db, settings, subscribe, receiver, dispatch
):
    """publish → acknowledge → overdue: received, verified and de-duplicated, in order, although
    the receiver answered 503 for a while."""
    hook = await subscribe(receiver.url)
    message_id = await add_message(db)
    await add_recipients(db, message_id, 3, due_at=DUE, acknowledged=1)
    async with db() as s, s.begin():
        await emit(s, type="message.published", data={"id": message_id}, message_id=message_id)
    async with db() as s, s.begin():
        await emit(s, type="acknowledgement.created", data={"version": 1}, message_id=message_id)
    assert await run(db, settings, DUE + timedelta(minutes=1)) == 1

    receiver.respond(503, 503, 503, (200, 0.0), 503)  # down, up for one, down again
    clock = utcnow()
    for _ in range(12):
        await dispatch(now=clock)
        clock += timedelta(hours=1)
    seen: dict[str, dict] = {}
    for got in receiver.received:
        h = got.headers
        assert verify_signature(hook["secret"], got.body, h)
        seen.setdefault(h["webhook-id"], got.json)  # the receiver's de-duplication
    assert [e["type"] for e in seen.values()] == [
        "message.published",
        "acknowledgement.created",
        "acknowledgement.overdue",
    ]
    assert list(seen.values())[-1]["data"]["pending"] == 2
    assert len(receiver.received) > len(seen)  # retried, so some arrived more than once
