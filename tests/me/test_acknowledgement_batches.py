"""Concurrent acknowledgements share statements on PostgreSQL (`app.core.batching`): each
request still gets its own answer, and each acknowledgement its own row, audit row and event."""

import asyncio
import re
import uuid

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.receipts.models import Acknowledgement, Recipient
from app.webhooks.models import OutboxEvent
from tests.conftest import PG_URL
from tests.receipts.helpers import World, as_employee

FEED = "/v1/me/messages"
ACK = {
    "requires_acknowledgement": True,
    "acknowledgement_text": "I have read and understood.",
    "acknowledge_within_days": 14,
}


@pytest.fixture
async def world(db, admin) -> World:
    return World(db, admin)


async def coalesced(anon, work: str = "acknowledgement") -> tuple[float, float]:
    """A coalesced work's statements and the items they carried, from /metrics."""
    text = (await anon.get("/metrics")).text

    def value(name: str) -> float:
        found = re.search(rf'^{name}\{{work="{work}"\}} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    return value("brandcast_coalesced_statements_total"), value("brandcast_coalesced_items_total")


async def test_many_employees_acknowledging_at_once_each_get_their_own_record(world, anon, db):
    people = [f"E-{n}" for n in range(60)]
    await world.people(*people)
    message_id = await world.message(people, **ACK)
    statements_before, writes_before = await coalesced(anon)

    responses = await asyncio.gather(
        *(anon.post(f"{FEED}/{message_id}/acknowledgement", headers=as_employee(p)) for p in people)
    )

    assert [r.status_code for r in responses] == [201] * 60, [r.text for r in responses]
    async with db() as s:
        rows = {
            a.employee_id: a
            for a in (
                await s.execute(
                    select(Acknowledgement).where(
                        Acknowledgement.message_id == uuid.UUID(message_id)
                    )
                )
            ).scalars()
        }
        audit = (
            await s.execute(
                select(AuditEvent.entity_id, AuditEvent.actor).where(
                    AuditEvent.action == "acknowledgement.created"
                )
            )
        ).all()
        events = (
            (
                await s.execute(
                    select(OutboxEvent.data).where(OutboxEvent.type == "acknowledgement.created")
                )
            )
            .scalars()
            .all()
        )
        receipts = (
            await s.execute(
                select(Recipient.employee_id, Recipient.acknowledged_at).where(
                    Recipient.message_id == uuid.UUID(message_id)
                )
            )
        ).all()
    assert len(rows) == 60
    for person, response in zip(people, responses, strict=True):
        body = response.json()
        row = rows[world.ids[person]]
        # the answer is the caller's own record, not a neighbour's in the same statement
        assert body["id"] == str(row.id)
        assert uuid.UUID(body["id"]).version == 7  # time-ordered (app/core/ids.py)
        assert response.headers["location"] == f"{FEED}/{message_id}/acknowledgement"
    assert sorted(entity for entity, _ in audit) == sorted(str(r.id) for r in rows.values())
    assert sorted(actor for _, actor in audit) == sorted(f"employee:{p}" for p in people)
    assert sorted((e["id"], e["employee_external_id"]) for e in events) == sorted(
        (str(rows[world.ids[p]].id), p) for p in people
    )
    assert dict(receipts) == {employee: row.acknowledged_at for employee, row in rows.items()}
    statements, writes = await coalesced(anon)
    if PG_URL:  # SQLite writes each in the request's transaction
        assert writes - writes_before == 60
        assert statements - statements_before < 60  # some of them shared a statement
    else:
        assert (statements, writes) == (statements_before, writes_before)


async def test_requests_in_one_batch_get_each_their_own_answer(world, anon, db):
    await world.people("E-1", "E-2", "E-3", "E-4", "E-5", "E-gone")
    await world.set_employee("E-gone", active=False)
    asks = await world.message(["E-1", "E-2", "E-3"], **ACK)
    asks_nothing = await world.message(["E-4"])
    closed = await world.message(["E-5"], **ACK)
    await world.admin.post(f"/v1/messages/{closed}/archive")

    calls = [
        ("E-1", asks),
        ("E-1", asks),  # twice: one record, created once
        ("E-2", asks),
        ("E-3", asks),
        ("E-4", asks),  # not sent to them
        ("E-4", asks_nothing),
        ("E-5", closed),
        ("E-2", str(uuid.uuid4())),  # no such message
        ("E-gone", asks),  # deactivated: signed out
        ("E-nobody", asks),  # no such employee
    ] * 3
    responses = await asyncio.gather(
        *(
            anon.post(f"{FEED}/{message}/acknowledgement", headers=as_employee(person))
            for person, message in calls
        )
    )

    by_call: dict[tuple[str, str], list[int]] = {}
    for call, response in zip(calls, responses, strict=True):
        by_call.setdefault(call, []).append(response.status_code)
    assert sorted(by_call[("E-1", asks)]) == [200] * 5 + [201]
    assert sorted(by_call[("E-2", asks)]) == [200, 200, 201]
    assert sorted(by_call[("E-3", asks)]) == [200, 200, 201]
    assert by_call[("E-4", asks)] == [404] * 3
    assert by_call[("E-4", asks_nothing)] == [409] * 3
    assert by_call[("E-5", closed)] == [409] * 3
    assert [s for (p, m), s in by_call.items() if p == "E-2" and m != asks] == [[404] * 3]
    assert by_call[("E-gone", asks)] == by_call[("E-nobody", asks)] == [401] * 3
    ids = {r.json()["id"] for (person, _), r in zip(calls, responses, strict=True) if r.is_success}
    async with db() as s:
        stored = (
            (
                await s.execute(
                    select(Acknowledgement.id).where(Acknowledgement.message_id == uuid.UUID(asks))
                )
            )
            .scalars()
            .all()
        )
    assert sorted(map(str, stored)) == sorted(ids) and len(stored) == 3
