"""One digest per employee and period: two schedulers at once (separate engines, as two
replicas), a build that crashes mid-run, a digest sender that dies after its claim."""

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.database import Database
from app.receipts import digests
from app.receipts.channels.email import Templates
from app.receipts.models import Delivery, Digest
from app.receipts.sender import run_sender
from tests.receipts.helpers import person
from tests.receipts.inbox.conftest import at

PEOPLE = 40


async def _arrange(world, prefs) -> None:
    people = [f"P-{n:03d}" for n in range(PEOPLE)]
    await world.people(*(person(p, country="ES") for p in people))
    for p in people:
        await prefs(p, digest="daily")
    for n in range(3):
        await world.message(people, title=f"News {n}", channels=["email"])


async def _states(world) -> dict[str, int]:
    async with world.db() as s:
        return dict(
            (await s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
        )


async def test_two_schedulers_build_and_send_each_digest_once(
    world, smtp, send, prefs, settings: Settings
):
    await _arrange(world, prefs)
    await send(at(7, 12))
    assert await _states(world) == {"held": 3 * PEOPLE}
    small = Settings(**{**settings.model_dump(), "delivery_batch_size": 7})
    replicas = [Database(small), Database(small)]
    try:
        await asyncio.gather(
            *(run_sender(db, small, Templates(), now=at(8, 8)) for db in replicas),
            *(run_sender(db, small, Templates(), now=at(8, 8, 1)) for db in replicas),
        )
    finally:
        for db in replicas:
            await db.dispose()
    counts = Counter(r.rcpt_tos[0] for r in smtp.sink.received)
    assert len(counts) == PEOPLE and set(counts.values()) == {1}
    assert await _states(world) == {"digested": 3 * PEOPLE}
    async with world.db() as s:
        rows = (await s.execute(select(Digest.state, Digest.items))).all()
    assert len(rows) == PEOPLE and set(rows) == {("sent", 3)}


async def test_concurrent_builds_make_one_digest_per_employee(world, prefs, send, settings, smtp):
    await _arrange(world, prefs)
    await send(at(7, 12))
    replicas = [Database(settings) for _ in range(3)]

    async def build(db: Database) -> int:
        async with db.session_scope() as session:
            return await digests.build_digests(session, settings, now=at(8, 8))

    try:
        created = await asyncio.gather(*(build(db) for db in replicas))
    finally:
        for db in replicas:
            await db.dispose()
    assert sum(created) == PEOPLE
    async with world.db() as s:
        per_employee = (
            await s.execute(select(Digest.employee_id, func.count()).group_by(Digest.employee_id))
        ).all()
    assert len(per_employee) == PEOPLE and {n for _, n in per_employee} == {1}
    assert await _states(world) == {"held": 3 * PEOPLE}  # they join their digest when sent
    await send(at(8, 8, 1))
    assert await _states(world) == {"digested": 3 * PEOPLE}
    counts = Counter(r.rcpt_tos[0] for r in smtp.sink.received)
    assert len(counts) == PEOPLE and set(counts.values()) == {1}


async def test_a_build_that_crashes_mid_run_leaves_nothing_half_done(
    world, prefs, send, settings, app, smtp
):
    await _arrange(world, prefs)
    await send(at(7, 12))

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        async with app.state.db.session_scope() as session:
            await digests.build_digests(session, settings, now=at(8, 8))
            raise Crash
    async with world.db() as s:
        assert await s.scalar(select(func.count()).select_from(Digest)) == 0
    assert await _states(world) == {"held": 3 * PEOPLE}
    await send(at(8, 8, 5))
    assert len(smtp.sink.received) == PEOPLE


async def test_a_digest_sender_that_died_after_its_claim_is_replaced_after_the_lease(
    world, prefs, send, settings, app, smtp
):
    await _arrange(world, prefs)
    await send(at(7, 12))
    async with app.state.db.session_scope() as session:
        await digests.build_digests(session, settings, now=at(8, 8))
    async with app.state.db.session_scope() as session:
        assert await digests._claim(session, settings, at(8, 8)) is not None  # then it dies
    await send(at(8, 8, 1))
    assert smtp.sink.received == []  # the lease holds them
    await send(at(8, 8, 6))  # the lease (300 s) ran out
    counts = Counter(r.rcpt_tos[0] for r in smtp.sink.received)
    assert len(counts) == PEOPLE and set(counts.values()) == {1}
