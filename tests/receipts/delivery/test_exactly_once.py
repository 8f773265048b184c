"""Several senders at once (separate engines and connection pools, as in several replicas)
send every e-mail exactly once; a sender that dies mid-batch loses nothing."""

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from app.core.config import Settings
from app.core.database import Database, utcnow
from app.receipts.channels.email import Templates
from app.receipts.models import Channel, Delivery
from app.receipts.sender import EmailSender, claim, run_sender, send_once
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


class _FreezesWith:
    """A sender's database: a transaction begun once `frozen` is set waits until `gone` is,
    then fails (the process is no more: what it had not written is lost)."""

    def __init__(self, db: Database, frozen: asyncio.Event, gone: asyncio.Event) -> None:
        self._db, self._frozen, self._gone = db, frozen, gone

    @contextlib.asynccontextmanager
    async def session_scope(self, *, write: bool = True):
        if self._frozen.is_set():
            await self._gone.wait()
            raise ConnectionError("the sender's process is gone")
        async with self._db.session_scope(write=write) as session:
            yield session


async def test_a_sender_that_froze_mid_batch_resends_only_its_unrecorded_emails(
    world, smtp, send, app, settings
):
    """The duplicate window: a sender that stops after 25 e-mails of a batch, its results
    written in groups of 10 or more, leaves at most the unwritten ones (the group queuing, and
    the one being written) to go out again, each the same e-mail (the same Message-ID)."""
    await _publish(world)
    every = 10
    frozen_settings = Settings(
        **{
            **settings.model_dump(),
            "smtp_max_connections": 1,
            "delivery_record_every": every,
            "delivery_record_ms": 10_000,
        }
    )
    frozen = EmailSender(frozen_settings, Templates())
    real_send = frozen.pool.send
    sent = 0
    froze, gone = asyncio.Event(), asyncio.Event()
    one_at_a_time = asyncio.Lock()

    async def send_then_freeze(sender: str, recipient: str, data: bytes):
        nonlocal sent
        async with one_at_a_time:
            if sent == 25:
                froze.set()
                await asyncio.Event().wait()  # the process stops here for good
            result = await real_send(sender, recipient, data)
            sent += 1
            return result

    frozen.pool.send = send_then_freeze  # type: ignore[method-assign]
    # a frozen process writes nothing more either: its recorder's transactions that begin
    # after the freeze never do (not left to a timer that a slow machine can outrun)
    task = asyncio.create_task(
        send_once(_FreezesWith(app.state.db, froze, gone), frozen_settings, frozen)
    )
    await froze.wait()
    try:
        later = utcnow() + timedelta(seconds=settings.delivery_lease_seconds + 1)
        assert await send(now=later) >= PEOPLE - 25
    finally:
        gone.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await frozen.close()
    by_address: dict[str, list[str]] = {}
    for r in smtp.sink.received:
        by_address.setdefault(r.rcpt_tos[0], []).append(r.message["Message-ID"])
    assert len(by_address) == PEOPLE
    twice = {a: ids for a, ids in by_address.items() if len(ids) > 1}
    assert all(len(ids) == 2 and ids[0] == ids[1] for ids in twice.values())
    async with world.db() as s:
        states = dict(
            (await s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
        )
        attempts = Counter((await s.execute(select(Delivery.attempts))).scalars().all())
    assert states == {"sent": PEOPLE}
    # claimed once: written by the frozen sender; the others were claimed again after its lease
    recorded = attempts[1]
    # what it sent and had not written went out once more; at least its first group was
    # written (it was full at 10), at most all 25 (a group grows past 10 while a write is slow)
    assert len(twice) == 25 - recorded
    assert every <= recorded <= 25


async def test_a_sender_that_cannot_record_its_results_stops_and_loses_nothing(
    world, smtp, send, app, settings
):
    """The database goes away after the claim: the batch still goes out, the sender's pass
    ends (it does not wait for ever on results it cannot write), and the rows, still
    `sending`, come back after the lease: sent again with the same Message-ID."""
    await _publish(world)
    lost, gone = asyncio.Event(), asyncio.Event()
    gone.set()
    sender = EmailSender(settings, Templates())
    database = _FreezesWith(app.state.db, lost, gone)
    real_claim_scope = database.session_scope

    @contextlib.asynccontextmanager
    async def claim_then_lose(*, write: bool = True):
        async with real_claim_scope(write=write) as session:
            yield session
        lost.set()  # every transaction after the claim fails

    database.session_scope = claim_then_lose  # type: ignore[method-assign]
    try:
        counts = await asyncio.wait_for(send_once(database, settings, sender), timeout=60)
    finally:
        await sender.close()
    assert counts == {}  # nothing could be recorded
    first = {r.rcpt_tos[0]: r.message["Message-ID"] for r in smtp.sink.received}
    assert len(first) == PEOPLE
    async with world.db() as s:
        states = dict(
            (await s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
        )
    assert states == {"sending": PEOPLE}

    later = utcnow() + timedelta(seconds=settings.delivery_lease_seconds + 1)
    assert await send(now=later) == PEOPLE
    again = [r for r in smtp.sink.received if r.message["Message-ID"] in first.values()]
    assert len(again) == 2 * PEOPLE  # each twice, the same e-mail
    async with world.db() as s:
        states = dict(
            (await s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
        )
    assert states == {"sent": PEOPLE}
