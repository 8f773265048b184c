import asyncio
import logging
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.audit.models import AuditEvent
from app.cli import cli
from app.core.config import get_settings
from app.core.database import utcnow
from app.core.scheduler import Scheduler
from app.messages.models import Message, MessageVersion
from app.messages.service import publish_due
from tests.conftest import PG_URL


async def _schedule(new_message, publish, *, in_: timedelta, **fields) -> str:
    message = await new_message(**fields)
    r = await publish(message["id"], publish_at=(utcnow() + in_).isoformat())
    assert r.json()["status"] == "scheduled", r.text
    return message["id"]


async def _state(db, message_id: str):
    async with db() as s:
        message = await s.get(Message, uuid.UUID(message_id))
        versions = (
            await s.execute(select(func.count()).where(MessageVersion.message_id == message.id))
        ).scalar_one()
        published_events = (
            (
                await s.execute(
                    select(AuditEvent.actor).where(
                        AuditEvent.entity_id == message_id, AuditEvent.action == "message.published"
                    )
                )
            )
            .scalars()
            .all()
        )
    return message, versions, published_events


async def test_publish_due_publishes_due_messages_exactly_once(app, db, new_message, publish):
    soon = [await _schedule(new_message, publish, in_=timedelta(hours=1)) for _ in range(3)]
    later = await _schedule(new_message, publish, in_=timedelta(hours=5))
    draft = (await new_message())["id"]
    now = utcnow() + timedelta(hours=2)

    async with app.state.db.session_scope() as s:
        first = await publish_due(s, now=now)
    async with app.state.db.session_scope() as s:
        second = await publish_due(s, now=now)
    assert sorted(first) == sorted(uuid.UUID(i) for i in soon)
    assert second == []

    for message_id in soon:
        message, versions, events = await _state(db, message_id)
        assert message.status == "published"
        assert message.published_at == now
        assert message.publish_at < now  # the planned time is kept
        assert versions == 1
        assert events == ["system:scheduler"]
    for message_id, status in ((later, "scheduled"), (draft, "draft")):
        message, versions, events = await _state(db, message_id)
        assert (message.status, versions, events) == (status, 0, [])


async def test_scheduled_message_that_expired_unpublished_is_archived(
    app, db, new_message, publish
):
    message_id = await _schedule(
        new_message,
        publish,
        in_=timedelta(hours=1),
        expires_at=(utcnow() + timedelta(hours=2)).isoformat(),
    )
    async with app.state.db.session_scope() as s:
        assert await publish_due(s, now=utcnow() + timedelta(hours=3)) == []
    message, versions, _ = await _state(db, message_id)
    assert message.status == "archived"
    assert versions == 0
    async with db() as s:
        details = (
            await s.execute(
                select(AuditEvent.details).where(
                    AuditEvent.entity_id == message_id, AuditEvent.action == "message.archived"
                )
            )
        ).scalar_one()
    assert details["reason"] == "expired before its scheduled publication"


async def test_one_failing_message_does_not_hold_back_the_others(
    app, db, new_message, publish, monkeypatch, caplog
):
    ids = [await _schedule(new_message, publish, in_=timedelta(minutes=1)) for _ in range(3)]
    broken = uuid.UUID(ids[1])
    from app.messages import service

    real = service.materialize_recipients

    async def flaky(session, *, message_id, **kwargs):
        if message_id == broken:
            raise RuntimeError("recipient resolution failed")
        return await real(session, message_id=message_id, **kwargs)

    monkeypatch.setattr(service, "materialize_recipients", flaky)
    with caplog.at_level(logging.ERROR, logger="brandcast.messages"):
        async with app.state.db.session_scope() as s:
            done = await publish_due(s, now=utcnow() + timedelta(minutes=2))
    assert sorted(done) == sorted(uuid.UUID(i) for i in (ids[0], ids[2]))
    assert str(broken) in caplog.text
    message, versions, events = await _state(db, ids[1])
    assert (message.status, versions, events) == ("scheduled", 0, [])

    monkeypatch.setattr(service, "materialize_recipients", real)
    async with app.state.db.session_scope() as s:
        assert await publish_due(s, now=utcnow() + timedelta(minutes=2)) == [broken]


@pytest.mark.skipif(not PG_URL, reason="row locks with SKIP LOCKED need PostgreSQL")
async def test_two_concurrent_passes_on_postgresql_split_the_work(app, db, new_message, publish):
    ids = {
        uuid.UUID(await _schedule(new_message, publish, in_=timedelta(minutes=1))) for _ in range(6)
    }
    now = utcnow() + timedelta(minutes=2)

    # a pass holding its row locks makes another pass skip those rows instead of waiting
    async with app.state.db.session_scope() as first:
        claimed = await publish_due(first, now=now, limit=4)
        async with app.state.db.session_scope() as second:
            rest = await asyncio.wait_for(publish_due(second, now=now), timeout=10)
    assert len(claimed) == 4 and len(rest) == 2
    assert set(claimed) | set(rest) == ids

    # and racing passes publish each due message exactly once
    more = {
        uuid.UUID(await _schedule(new_message, publish, in_=timedelta(minutes=1)))
        for _ in range(10)
    }

    async def one_pass():
        async with app.state.db.session_scope() as s:
            return await publish_due(s, now=now)

    results = await asyncio.gather(*(one_pass() for _ in range(3)))
    flat = [i for r in results for i in r]
    assert sorted(flat) == sorted(more)
    for message_id in more:
        _, versions, events = await _state(db, str(message_id))
        assert versions == 1 and len(events) == 1


async def test_scheduler_runs_jobs_in_the_background_and_survives_errors(
    app, db, new_message, publish, caplog
):
    message_id = await _schedule(new_message, publish, in_=timedelta(seconds=1))
    calls: list[str] = []

    async def broken(_session):
        calls.append("broken")
        raise RuntimeError("boom")

    async def due(session):
        calls.append("due")
        return await publish_due(session, now=utcnow() + timedelta(seconds=2))

    scheduler = Scheduler(app.state.db, interval=0.05)
    scheduler.add("broken", broken)
    scheduler.add("publish-due", due)
    with caplog.at_level(logging.ERROR, logger="brandcast.scheduler"):
        scheduler.start()
        try:
            for _ in range(100):
                if calls.count("due") >= 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            await scheduler.stop()
    assert calls.count("broken") >= 2  # the loop went on after the failure
    assert "scheduled job broken failed" in caplog.text
    message, _, events = await _state(db, message_id)
    assert message.status == "published"
    assert events == ["system:scheduler"]
    await scheduler.stop()  # stopping twice is harmless


async def test_run_once_reports_each_job(app):
    scheduler = Scheduler(app.state.db, interval=60)

    async def fails(_session):
        raise RuntimeError("nope")

    async def works(_session):
        return [1, 2]

    scheduler.add("fails", fails)
    scheduler.add("works", works)
    assert await scheduler.run_once() == {"fails": None, "works": [1, 2]}


async def test_app_registers_its_periodic_jobs(app):
    # publishing first: the dispatcher then delivers the events the same pass produced
    assert [job.name for job in app.state.scheduler.jobs] == [
        "publish-due",
        "due-reminders",
        "idempotency-keys",
        "alignment-fold",
        "deliveries-send",
        "webhooks-dispatch",
    ]


async def test_cli_publish_due(settings, db, new_message, publish, monkeypatch):
    ids = [await _schedule(new_message, publish, in_=timedelta(seconds=1)) for _ in range(2)]
    await asyncio.sleep(1.1)
    monkeypatch.setenv("BRANDCAST_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = await asyncio.to_thread(runner.invoke, cli, ["publish-due"])
        assert result.exit_code == 0, result.output
        assert (
            result.stdout.strip().splitlines()[-1]
            == "published 2 message(s); announced 0 expired message(s)"
        )
        again = await asyncio.to_thread(runner.invoke, cli, ["publish-due"])
        assert (
            again.stdout.strip().splitlines()[-1]
            == "published 0 message(s); announced 0 expired message(s)"
        )
    finally:
        get_settings.cache_clear()
    for message_id in ids:
        message, versions, events = await _state(db, message_id)
        assert (message.status, versions, events) == ("published", 1, ["system:scheduler"])
