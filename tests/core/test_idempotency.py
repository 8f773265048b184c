"""Idempotency-Key on creates: a retry answers the first response and makes nothing new."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.audiences.models import Audience
from app.core.database import utcnow
from app.core.idempotency import IdempotencyKey
from app.core.principal import Scope
from app.messages.models import Message
from tests.messages.helpers import assert_problem

DRAFT = {"category": "news", "title": "Canteen closes early on Friday"}


async def count(db, model) -> int:
    async with db() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_retried_create_answers_the_first_response(admin, db):
    headers = {"Idempotency-Key": "3f1c9d3e-create-message-1"}
    first = await admin.post("/v1/messages", json=DRAFT, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    again = await admin.post("/v1/messages", json=DRAFT, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(db, Message) == 1

    # a new key is a new request; no key at all is never deduplicated
    other = await admin.post("/v1/messages", json=DRAFT, headers={"Idempotency-Key": "second"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    for _ in range(2):
        assert (await admin.post("/v1/messages", json=DRAFT)).status_code == 201
    assert await count(db, Message) == 4


async def test_the_same_key_with_another_body_or_path_is_refused(admin, db):
    headers = {"Idempotency-Key": "k-1"}
    assert (await admin.post("/v1/messages", json=DRAFT, headers=headers)).status_code == 201
    changed = {**DRAFT, "title": "Canteen closes early on Thursday"}
    r = await admin.post("/v1/messages", json=changed, headers=headers)
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["loc"] == "header.Idempotency-Key"
    assert "another request" in problem["errors"][0]["msg"]
    r = await admin.post(
        "/v1/audiences", json={"name": "All", "rule": {"all": []}}, headers=headers
    )
    assert_problem(r, 422)
    assert await count(db, Message) == 1
    assert await count(db, Audience) == 0


async def test_keys_belong_to_the_credential_that_sent_them(admin, client_for, db):
    other = await client_for(Scope.MESSAGES_WRITE)
    headers = {"Idempotency-Key": "shared-by-accident"}
    mine = await admin.post("/v1/messages", json=DRAFT, headers=headers)
    theirs = await other.post("/v1/messages", json=DRAFT, headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


async def test_a_failed_request_does_not_keep_its_key(admin, db):
    body = {"name": "Sales", "key": "sales", "rule": {"all": []}}
    taken = await admin.post("/v1/audiences", json=body)
    assert taken.status_code == 201
    headers = {"Idempotency-Key": "audience-sales"}
    assert_problem(await admin.post("/v1/audiences", json=body, headers=headers), 409)
    async with db() as s:
        assert (await s.execute(select(func.count()).select_from(IdempotencyKey))).scalar() == 0

    assert (await admin.delete(f"/v1/audiences/{taken.json()['id']}")).status_code == 204
    retried = await admin.post("/v1/audiences", json=body, headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "clé"])
async def test_malformed_keys(admin, db, key):
    r = await admin.post("/v1/messages", json=DRAFT, headers={"Idempotency-Key": key.encode()})
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["loc"] == "header.Idempotency-Key"  # as documented
    assert await count(db, Message) == 0


async def test_concurrent_duplicates_make_one_message(admin, db):
    headers = {"Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        *(admin.post("/v1/messages", json=DRAFT, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 7
    assert await count(db, Message) == 1


async def test_keys_expire_after_a_day(app, admin, db):
    headers = {"Idempotency-Key": "yesterday"}
    first = await admin.post("/v1/messages", json=DRAFT, headers=headers)
    async with db() as s, s.begin():
        await s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    again = await admin.post("/v1/messages", json=DRAFT, headers=headers)
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert await count(db, Message) == 2

    # the scheduler forgets expired keys; a fresh one stays
    async with db() as s, s.begin():
        await s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    await admin.post("/v1/messages", json=DRAFT, headers={"Idempotency-Key": "today"})
    results = await app.state.scheduler.run_once()
    assert results["idempotency-keys"] == 1
    async with db() as s:
        assert (await s.execute(select(IdempotencyKey.key))).scalars().all() == ["today"]
