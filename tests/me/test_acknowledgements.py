"""Reads and acknowledgements by the calling employee: idempotent, evidenced, concurrent-safe."""

import asyncio
import hashlib
import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from app.audit.models import AuditEvent
from app.core.database import utcnow
from app.core.principal import Scope
from app.receipts.models import Acknowledgement, Recipient
from app.webhooks.models import OutboxEvent
from tests.conftest import PG_URL
from tests.messages.helpers import assert_problem
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


def sha256_of(title: str, body: str, locale: str) -> str:
    canonical = json.dumps(
        {"title": title, "body": body, "locale": locale},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def acknowledgements(db, message_id: str) -> list[Acknowledgement]:
    async with db() as s:
        rows = await s.execute(
            select(Acknowledgement)
            .where(Acknowledgement.message_id == uuid.UUID(message_id))
            .order_by(Acknowledgement.acknowledgement_version)
        )
        return list(rows.scalars())


async def audit_actions(db, action: str) -> list[AuditEvent]:
    async with db() as s:
        rows = await s.execute(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.scalars())


def z(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- reads ---------------------------------------------------------------------------------


async def test_read_keeps_the_first_time(world, anon, db):
    await world.people("E-1")
    message_id = await world.message(["E-1"])
    me = as_employee("E-1")

    r = await anon.post(f"{FEED}/{message_id}/read", headers=me)
    assert r.status_code == 204 and r.content == b""
    first = (await world.recipient(message_id, "E-1")).read_at
    assert first is not None

    assert (await anon.post(f"{FEED}/{message_id}/read", headers=me)).status_code == 204
    assert (await world.recipient(message_id, "E-1")).read_at == first
    item = (await anon.get(f"{FEED}/{message_id}", headers=me)).json()
    assert item["read_at"] == z(first)
    [event] = await audit_actions(db, "message.read")
    assert (event.actor, event.entity_type, event.entity_id) == (
        "employee:E-1",
        "receipt",
        message_id,
    )


async def test_reading_an_archived_message_is_still_recorded(world, anon):
    await world.people("E-1")
    message_id = await world.message(["E-1"])
    await world.admin.post(f"/v1/messages/{message_id}/archive")
    assert (
        await anon.post(f"{FEED}/{message_id}/read", headers=as_employee("E-1"))
    ).status_code == 204
    assert (await world.recipient(message_id, "E-1")).read_at is not None


async def test_non_recipients_get_404_everywhere(world, anon, db, client_for):
    await world.people("E-1", "E-2")
    message_id = await world.message(["E-2"], **ACK)
    draft = await world.draft(**ACK)
    async with db() as s, s.begin():  # targeted but never published
        await s.execute(
            insert(Recipient).values(
                message_id=uuid.UUID(draft),
                employee_id=world.ids["E-1"],
                targeted_at=utcnow(),
                published_at=utcnow(),
            )
        )
    me = as_employee("E-1")
    for target in (message_id, draft, str(uuid.uuid4())):
        assert_problem(await anon.get(f"{FEED}/{target}", headers=me), 404)
        assert_problem(await anon.post(f"{FEED}/{target}/read", headers=me), 404)
        assert_problem(await anon.post(f"{FEED}/{target}/acknowledgement", headers=me), 404)
        assert_problem(await anon.get(f"{FEED}/{target}/acknowledgement", headers=me), 404)
    assert (await world.recipient(message_id, "E-2")).read_at is None
    assert await acknowledgements(db, message_id) == []
    assert_problem(await anon.get(f"{FEED}/not-a-uuid", headers=me), 422)

    token = await client_for(Scope.ADMIN)
    assert_problem(await token.post(f"{FEED}/{message_id}/read"), 403)
    assert_problem(await token.post(f"{FEED}/{message_id}/acknowledgement"), 403)


# --- acknowledgements ----------------------------------------------------------------------


async def test_acknowledge_once_with_evidence(world, anon, db):
    await world.people("E-1")
    message_id = await world.message(["E-1"], title="Code of conduct", body="Be kind.", **ACK)
    me = as_employee("E-1")

    r = await anon.post(f"{FEED}/{message_id}/acknowledgement", headers=me)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/v1/me/messages/{message_id}/acknowledgement"
    body = r.json()
    assert body == {
        "id": body["id"],
        "message_id": message_id,
        "version": 1,
        "statement": "I have read and understood.",
        "locale": "en",
        "content_sha256": sha256_of("Code of conduct", "Be kind.", "en"),
        "acknowledged_at": body["acknowledged_at"],
        "quiz_attempt_id": None,  # no comprehension check
        "edition_id": None,
    }

    [row] = await acknowledgements(db, message_id)
    assert (str(row.id), row.employee_id, row.version, row.acknowledgement_version) == (
        body["id"],
        world.ids["E-1"],
        1,
        1,
    )
    assert (row.statement, row.locale, row.content_sha256) == (
        body["statement"],
        "en",
        body["content_sha256"],
    )
    assert z(row.acknowledged_at) == body["acknowledged_at"]
    recipient = await world.recipient(message_id, "E-1")
    assert recipient.acknowledged_at == row.acknowledged_at
    assert recipient.acknowledged_version == 1
    assert recipient.read_at == row.acknowledged_at  # acknowledging implies reading

    again = await anon.post(f"{FEED}/{message_id}/acknowledgement", headers=me)
    assert again.status_code == 200
    assert "location" not in again.headers
    assert again.json() == body
    got = await anon.get(f"{FEED}/{message_id}/acknowledgement", headers=me)
    assert (got.status_code, got.json()) == (200, body)
    assert len(await acknowledgements(db, message_id)) == 1
    [event] = await audit_actions(db, "acknowledgement.created")
    assert (event.entity_type, event.entity_id, event.details["message_id"]) == (
        "acknowledgement",
        body["id"],
        message_id,
    )

    item = (await anon.get(f"{FEED}/{message_id}", headers=me)).json()
    assert item["acknowledged_at"] == body["acknowledged_at"]
    assert item["read_at"] == body["acknowledged_at"]


async def test_acknowledgement_keeps_an_earlier_read_time(world, anon):
    await world.people("E-1")
    message_id = await world.message(["E-1"], **ACK)
    me = as_employee("E-1")
    await anon.post(f"{FEED}/{message_id}/read", headers=me)
    read_at = (await world.recipient(message_id, "E-1")).read_at
    assert (await anon.post(f"{FEED}/{message_id}/acknowledgement", headers=me)).status_code == 201
    assert (await world.recipient(message_id, "E-1")).read_at == read_at


async def test_acknowledgement_records_the_locale_shown(world, anon, db):
    await world.people("E-1")
    translations = {
        "es": {"title": "Código de conducta", "body": "Sé amable."},
        "fr-CA": {"title": "Code de conduite", "body": "Soyez gentil."},
    }
    spanish = await world.message(
        ["E-1"], title="Code", body="Be kind.", translations=translations, **ACK
    )
    french = await world.message(
        ["E-1"], title="Code", body="Be kind.", translations=translations, **ACK
    )
    headers = {**as_employee("E-1"), "Accept-Language": "es-MX,es;q=0.9"}

    r = await anon.post(f"{FEED}/{spanish}/acknowledgement", headers=headers)
    assert r.status_code == 201
    assert r.json()["locale"] == "es"
    assert r.json()["content_sha256"] == sha256_of("Código de conducta", "Sé amable.", "es")

    # the client may name the locale it showed; it goes before the negotiated ones
    r = await anon.post(
        f"{FEED}/{french}/acknowledgement", headers=headers, json={"locale": "fr_ca"}
    )
    assert r.status_code == 201
    assert r.json()["locale"] == "fr-CA"
    assert r.json()["content_sha256"] == sha256_of("Code de conduite", "Soyez gentil.", "fr-CA")

    r = await anon.post(f"{FEED}/{french}/acknowledgement", headers=headers, json={"x": 1})
    assert_problem(r, 422)
    r = await anon.post(f"{FEED}/{french}/acknowledgement", headers=headers, json={"locale": "??"})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "body.locale"


async def test_acknowledging_what_asks_none_or_is_closed_is_409(world, anon, db):
    await world.people("E-1")
    me = as_employee("E-1")
    plain = await world.message(["E-1"])
    r = await anon.post(f"{FEED}/{plain}/acknowledgement", headers=me)
    assert_problem(r, 409, detail_contains="no acknowledgement")

    archived = await world.message(["E-1"], **ACK)
    await world.admin.post(f"/v1/messages/{archived}/archive")
    assert_problem(await anon.post(f"{FEED}/{archived}/acknowledgement", headers=me), 409)

    expired = await world.message(
        ["E-1"], expires_at=(utcnow() + timedelta(hours=1)).isoformat(), **ACK
    )
    await world.set_message(expired, expires_at=utcnow() - timedelta(seconds=1))
    assert_problem(await anon.post(f"{FEED}/{expired}/acknowledgement", headers=me), 409)

    for message_id in (plain, archived, expired):
        assert await acknowledgements(db, message_id) == []
        assert (await world.recipient(message_id, "E-1")).acknowledged_at is None

    # what was acknowledged before the message closed stays answerable, idempotently
    done = await world.message(["E-1"], **ACK)
    first = await anon.post(f"{FEED}/{done}/acknowledgement", headers=me)
    await world.admin.post(f"/v1/messages/{done}/archive")
    again = await anon.post(f"{FEED}/{done}/acknowledgement", headers=me)
    assert (again.status_code, again.json()) == (200, first.json())


async def test_concurrent_acknowledgements_make_exactly_one(world, anon, db):
    await world.people("E-1")
    message_id = await world.message(["E-1"], **ACK)
    me = as_employee("E-1")

    responses = await asyncio.gather(
        *(anon.post(f"{FEED}/{message_id}/acknowledgement", headers=me) for _ in range(50))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await acknowledgements(db, message_id)) == 1
    assert len(await audit_actions(db, "acknowledgement.created")) == 1
    async with db() as s:
        events = (
            (
                await s.execute(
                    select(OutboxEvent.data).where(OutboxEvent.type == "acknowledgement.created")
                )
            )
            .scalars()
            .all()
        )
    assert len(events) == 1  # one event for one acknowledgement, however many requests
    assert events[0]["message_id"] == message_id
    assert events[0]["employee_external_id"] == "E-1"
    assert events[0]["id"] == responses[0].json()["id"]


async def test_concurrent_reads_keep_one_time(world, anon, db):
    await world.people("E-1")
    message_id = await world.message(["E-1"])
    me = as_employee("E-1")
    responses = await asyncio.gather(
        *(anon.post(f"{FEED}/{message_id}/read", headers=me) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {204}
    assert len(await audit_actions(db, "message.read")) == 1


async def test_reacknowledgement(world, anon, db):
    await world.people("E-1")
    message_id = await world.message(["E-1"], title="Policy", body="v1 text", **ACK)
    me = as_employee("E-1")
    ack_url = f"{FEED}/{message_id}/acknowledgement"
    first = (await anon.post(ack_url, headers=me)).json()

    # an edit without re-acknowledgement: a new version, the acknowledgement stays current
    r = await world.admin.patch(f"/v1/messages/{message_id}", json={"body": "v2 text"})
    assert r.status_code == 200, r.text
    item = (await anon.get(f"{FEED}/{message_id}", headers=me)).json()
    assert (item["version"], item["acknowledged_at"]) == (2, first["acknowledged_at"])
    again = await anon.post(ack_url, headers=me)
    assert (again.status_code, again.json()) == (200, first)

    r = await world.admin.patch(
        f"/v1/messages/{message_id}",
        json={"body": "v3 text", "require_reacknowledgement": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["acknowledgement_version"] == 3

    item = (await anon.get(f"{FEED}/{message_id}", headers=me)).json()
    assert (item["version"], item["body"], item["acknowledged_at"]) == (3, "v3 text", None)
    listed = await anon.get(FEED, params={"state": "unacknowledged"}, headers=me)
    assert [i["id"] for i in listed.json()["items"]] == [message_id]
    assert_problem(await anon.get(ack_url, headers=me), 404, detail_contains="current version")

    r = await anon.post(ack_url, headers=me)
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["id"] != first["id"]
    assert second["version"] == 3
    assert second["content_sha256"] == sha256_of("Policy", "v3 text", "en")

    old, new = await acknowledgements(db, message_id)
    assert (old.acknowledgement_version, old.version, str(old.id)) == (1, 1, first["id"])
    assert old.content_sha256 == first["content_sha256"] == sha256_of("Policy", "v1 text", "en")
    assert (new.acknowledgement_version, new.version) == (3, 3)
    recipient = await world.recipient(message_id, "E-1")
    assert recipient.acknowledged_version == 3
    item = (await anon.get(f"{FEED}/{message_id}", headers=me)).json()
    assert item["acknowledged_at"] == second["acknowledged_at"]
    async with db() as s:
        total = await s.scalar(select(func.count()).select_from(Acknowledgement))
    assert total == 2


# --- concurrent acknowledgements share statements on PostgreSQL (app.core.batching) -------


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
