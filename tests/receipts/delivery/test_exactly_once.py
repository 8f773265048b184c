"""Several senders at once (separate engines and connection pools, as in several replicas)
send every e-mail exactly once; a sender that dies mid-batch loses nothing."""

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from app.core.config import Settings
from app.core.database import Database, utcnow
from app.receipts.channels.email import Templates
from app.receipts.models import Channel, Delivery
from app.receipts.sender import claim, run_sender
from tests.receipts.helpers import person

PEOPLE = 60


async def _publish(world) -> str:
    await world.people(*(person(f"P-{n:03d}") for n in range(PEOPLE)))
    return await world.message([f"P-{n:03d}" for n in range(PEOPLE)], channels=["email"])


async def test_two_senders_send_every_email_exactly_once(world, smtp, settings: Settings):
    await _publish(world)
    small = Settings(**{**settings.model_dump(), "delivery_batch_size": 7})
    senders = [Database(small), Database(small)]
    try:
        handled = await asyncio.gather(
            *(run_sender(db, small, Templates()) for db in senders),
            *(run_sender(db, small, Templates()) for db in senders),
        )
    finally:
        for db in senders:
            await db.dispose()
    assert sum(handled) == PEOPLE
    counts = Counter(r.rcpt_tos[0] for r in smtp.sink.received)
    assert len(counts) == PEOPLE and set(counts.values()) == {1}
    assert len({r.message["Message-ID"] for r in smtp.sink.received}) == PEOPLE
    async with world.db() as s:
        states = dict(
            (await s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
        )
    assert states == {"sent": PEOPLE}


async def test_a_sender_that_died_mid_batch_leaves_its_claims_to_the_next(
    world, smtp, send, app, settings
):
    await _publish(world)
    # a sender claims a batch and dies before sending any of it
    async with app.state.db.session_scope() as session:
        assert await claim(session, settings, channel=Channel.EMAIL, now=utcnow()) is not None
    assert await send() == 0  # the lease still holds them
    later = utcnow() + timedelta(seconds=settings.delivery_lease_seconds + 1)
    assert await send(now=later) == PEOPLE
    counts = Counter(r.rcpt_tos[0] for r in smtp.sink.received)
    assert len(counts) == PEOPLE and set(counts.values()) == {1}
    async with world.db() as s:
        attempts = (await s.execute(select(Delivery.attempts).distinct())).scalars().all()
    assert attempts == [2]  # the dead claim counted as an attempt
