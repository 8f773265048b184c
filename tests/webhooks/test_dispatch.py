"""The outbox and the dispatcher against a real receiver on 127.0.0.1."""

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
import standardwebhooks
from sqlalchemy import func, select, update

from app.audit.models import AuditEvent
from app.core.database import Database, utcnow
from app.core.scheduler import Scheduler
from app.receipts.reminders import due_reminders_job
from app.webhooks import ssrf
from app.webhooks.dispatcher import (
    Claim,
    claim,
    dispatch_job,
    purge_events,
    run_dispatch,
    send,
)
from app.webhooks.models import OutboxEvent, Webhook, WebhookDelivery
from app.webhooks.outbox import emit, emit_many
from app.webhooks.signing import SigningSecret, new_secret
from brandcast.webhooks import verify_signature
from tests.webhooks.helpers import deliveries


async def emit_one(db, type_: str = "message.published", message_id=None, **data) -> uuid.UUID:
    async with db() as s, s.begin():
        return await emit(s, type=type_, data=data or {"n": 1}, message_id=message_id)


def verified(received, secret: str) -> bool:
    """Both the stock Standard Webhooks library and the shipped helper accept it."""
    try:
        standardwebhooks.Webhook(secret).verify(received.body, received.headers)
    except standardwebhooks.WebhookVerificationError:
        assert not verify_signature(secret, received.body, received.headers)
        return False
    assert verify_signature(secret, received.body, received.headers)
    return True


WRONG_SECRET = "whsec_" + "A" * 43 + "="


async def test_emit_writes_in_the_callers_transaction(db, subscribe, receiver):
    hook = await subscribe(receiver.url, ["message.published"])
    message_id = uuid.uuid4()

    async with db() as s, s.begin():
        event_id = await emit(
            s, type="message.published", data={"id": message_id}, message_id=message_id
        )
        # visible inside the transaction...
        assert await s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
        await s.rollback()
    # ...and gone with its rollback
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        assert await s.scalar(select(func.count()).select_from(WebhookDelivery)) == 0

    event_id = await emit_one(db, message_id=message_id, id=str(message_id))
    await emit_one(db, "message.archived")  # not subscribed: an event, no delivery
    async with db() as s:
        event = (
            await s.execute(select(OutboxEvent).where(OutboxEvent.id == event_id))
        ).scalar_one()
        assert event.type == "message.published"
        assert event.ordering_key == f"message:{message_id}"
        assert event.data == {"id": str(message_id)}
        assert await s.scalar(select(func.count()).select_from(OutboxEvent)) == 2
    rows = await deliveries(db, hook["id"])
    assert [(d.event_id, d.status, d.attempt) for d in rows] == [(event_id, "pending", 0)]

    with pytest.raises(ValueError):
        await emit_one(db, "message.exploded")
    with pytest.raises(ValueError):
        await emit_one(db, "ping")


async def test_emit_many_writes_a_batch_in_order(db, subscribe, receiver, dispatch):
    await subscribe(receiver.url, ["employee.deactivated"])
    await subscribe(receiver.url.replace("/hooks", "/hr"), ["*"])
    async with db() as s, s.begin():
        ids = await emit_many(
            s, type="employee.deactivated", data=[{"external_id": f"e{i}"} for i in range(5)]
        )
        assert await emit_many(s, type="employee.deactivated", data=[]) == []
    async with db() as s:
        rows = (
            await s.execute(
                select(OutboxEvent.id, OutboxEvent.seq, OutboxEvent.data).order_by(OutboxEvent.seq)
            )
        ).all()
        pairs = (await s.execute(select(WebhookDelivery.event_id, WebhookDelivery.event_seq))).all()
    assert [r.id for r in rows] == ids
    assert [r.data["external_id"] for r in rows] == [f"e{i}" for i in range(5)]
    seq_of = {r.id: r.seq for r in rows}
    assert len(pairs) == 10 and all(seq_of[e] == seq for e, seq in pairs)
    assert await dispatch() == 10
    got = {(r.path, r.json["id"], r.json["data"]["external_id"]) for r in receiver.received}
    assert {(e, x) for _, e, x in got} == {(str(i), f"e{n}") for n, i in enumerate(ids)}
    assert len(got) == 10


async def test_inactive_webhooks_get_nothing(admin, db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url, ["*"], active=False)
    await emit_one(db)
    assert await deliveries(db, hook["id"]) == []
    assert await dispatch() == 0


async def test_delivery_is_signed_and_verifiable(admin, db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url, ["message.published"])
    message_id = uuid.uuid4()
    event_id = await emit_one(db, message_id=message_id, title="Our promise")

    assert await dispatch() == 1
    assert await dispatch() == 0  # delivered once
    (got,) = receiver.received
    assert got.headers["webhook-id"] == str(event_id)
    assert got.headers["content-type"] == "application/json"
    assert verified(got, hook["secret"])
    assert not verified(got, WRONG_SECRET)
    assert not any(k.startswith("brandcast-") for k in got.headers)  # new: the spec only
    envelope = got.json
    assert set(envelope) == {"id", "type", "created_at", "data"}
    assert envelope["id"] == str(event_id) and envelope["type"] == "message.published"
    assert envelope["created_at"].endswith("Z")
    assert envelope["data"] == {"title": "Our promise"}

    (row,) = await deliveries(db, hook["id"])
    assert (row.status, row.attempt, row.response_status, row.error) == ("delivered", 1, 200, None)
    assert row.duration_ms is not None and row.delivered_at is not None
    log = (await admin.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
    assert log[0]["status"] == "delivered" and log[0]["event_type"] == "message.published"
    assert log[0]["next_attempt_at"] is None and log[0]["response_status"] == 200


async def test_retries_with_backoff_on_500(admin, db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    await emit_one(db)
    receiver.respond(500, 503)
    t0 = utcnow()

    assert await dispatch(now=t0) == 1
    (row,) = await deliveries(db, hook["id"])
    assert (row.status, row.attempt, row.response_status, row.error) == (
        "pending",
        1,
        500,
        "HTTP 500",
    )
    # base 10 s with jitter: between half and all of it
    assert t0 + timedelta(seconds=5) <= row.next_attempt_at <= t0 + timedelta(seconds=11)
    assert await dispatch(now=t0 + timedelta(seconds=4)) == 0  # not due yet

    t1 = row.next_attempt_at
    assert await dispatch(now=t1) == 1
    (row,) = await deliveries(db, hook["id"])
    assert (row.status, row.attempt, row.response_status) == ("pending", 2, 503)
    # the second wait is twice as long
    assert t1 + timedelta(seconds=10) <= row.next_attempt_at <= t1 + timedelta(seconds=21)

    assert await dispatch(now=row.next_attempt_at) == 1
    (row,) = await deliveries(db, hook["id"])
    assert (row.status, row.attempt, row.response_status) == ("delivered", 3, 200)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len(receiver.received) == 3
    log = (await admin.get(f"/v1/webhooks/{hook['id']}/deliveries?status=delivered")).json()
    assert len(log["items"]) == 1
    async with db() as s:
        assert (await s.get(Webhook, uuid.UUID(hook["id"]))).failing_since is None


async def test_retries_on_timeout(db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    await emit_one(db)
    receiver.respond((200, 1.5))  # slower than the 0.5 s timeout
    t0 = utcnow()
    assert await dispatch(now=t0) == 1
    (row,) = await deliveries(db, hook["id"])
    assert row.status == "pending" and row.attempt == 1
    assert row.error == "timed out after 0.5s" and row.response_status is None
    assert await dispatch(now=row.next_attempt_at) == 1
    (row,) = await deliveries(db, hook["id"])
    assert row.status == "delivered" and row.attempt == 2


async def test_redirects_are_not_followed(db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    await emit_one(db)
    receiver.respond(302)
    assert await dispatch() == 1
    (row,) = await deliveries(db, hook["id"])
    assert row.status == "pending" and "redirects are not followed" in row.error
    assert len(receiver.received) == 1


async def test_gives_up_after_the_maximum_age(db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    await emit_one(db)
    receiver.respond(500, 500)
    t0 = utcnow()
    assert await dispatch(now=t0) == 1
    (row,) = await deliveries(db, hook["id"])
    # the next try would fall past the maximum age (24 h by default)
    assert await dispatch(now=t0 + timedelta(hours=23, minutes=59, seconds=58)) == 1
    (row,) = await deliveries(db, hook["id"])
    assert row.status == "failed" and row.attempt == 2
    assert row.error == "gave up after 2 attempt(s): HTTP 500"
    assert await dispatch(now=t0 + timedelta(days=3)) == 0


async def test_a_webhook_failing_for_days_is_disabled(admin, db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    webhook_id = uuid.UUID(hook["id"])
    await emit_one(db)
    receiver.respond(500, 500, 500)
    t0 = utcnow()
    assert await dispatch(now=t0) == 1
    async with db() as s:
        webhook = await s.get(Webhook, webhook_id)
        assert webhook.active and webhook.failing_since is not None
    async with db() as s, s.begin():
        await s.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(failing_since=t0 - timedelta(days=3))
        )
    await emit_one(db, "message.archived")
    (first, _) = await deliveries(db, webhook_id)
    assert await dispatch(now=first.next_attempt_at) == 2  # both fail

    body = (await admin.get(f"/v1/webhooks/{webhook_id}")).json()
    assert body["active"] is False and body["disabled_at"] is not None
    assert "every delivery failed for 3 days" in body["disabled_reason"]
    assert "HTTP 500" in body["disabled_reason"]
    async with db() as s:
        audit = (
            await s.execute(select(AuditEvent).where(AuditEvent.action == "webhook.disabled"))
        ).scalar_one()
    assert audit.actor == "system:webhook-dispatcher" and audit.entity_id == str(webhook_id)
    # disabled: nothing more is sent
    assert await dispatch(now=t0 + timedelta(hours=2)) == 0
    # re-enabled by a person: the backlog goes out
    await admin.patch(f"/v1/webhooks/{webhook_id}", json={"active": True})
    assert await dispatch(now=t0 + timedelta(hours=2)) == 2


async def test_in_order_per_message_and_webhook(db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    message_a, message_b = uuid.uuid4(), uuid.uuid4()
    first = await emit_one(db, "message.published", message_a, step=1)
    second = await emit_one(db, "message.updated", message_a, step=2)
    third = await emit_one(db, "message.archived", message_a, step=3)
    other = await emit_one(db, "message.published", message_b, step=1)
    # `first` fails once (whichever chain the dispatcher happens to send first)
    receiver.respond(500, event_id=first)
    t0 = utcnow()

    assert await dispatch(now=t0) == 2  # `first` failed, its followers wait; `other` went
    assert [e["id"] for e in receiver.events()] in (
        [str(first), str(other)],
        [str(other), str(first)],
    )
    rows = {d.event_id: d for d in await deliveries(db, hook["id"])}
    assert rows[second].status == rows[third].status == "pending"
    assert rows[second].attempt == rows[third].attempt == 0  # given back unattempted
    assert await dispatch(now=t0) == 0

    later = rows[first].next_attempt_at
    assert await dispatch(now=later) == 3  # the whole chain, in one pass, in order
    ids = [e["id"] for e in receiver.events()]
    assert [i for i in ids if i != str(other)] == [str(first), str(first), str(second), str(third)]


async def test_two_dispatchers_never_deliver_twice(app, db, settings, subscribe, receiver):
    await subscribe(receiver.url)
    await subscribe(receiver.url.replace("/hooks", "/other"), ["message.published"])
    expected = set()
    async with db() as s, s.begin():
        for i in range(30):
            message_id = uuid.uuid4() if i % 3 else None
            event_id = await emit(s, type="message.published", data={"i": i}, message_id=message_id)
            expected.add(event_id)
    # two "replicas": separate engines and connection pools on the same database
    # a generous timeout: on a loaded machine a slow answer would be retried, i.e. sent twice
    tuned = settings.model_copy(
        update={
            "webhook_batch_size": 7,
            "webhook_max_concurrency": 3,
            "webhook_timeout_seconds": 10.0,
        }
    )
    replicas = [Database(tuned), Database(tuned)]
    try:

        async def drain(replica: Database) -> int:
            total = 0
            for _ in range(20):
                total += await run_dispatch(replica, tuned)
            return total

        counts = await asyncio.gather(*(drain(r) for r in replicas))
    finally:
        for r in replicas:
            await r.dispose()

    assert sum(counts) == 60
    received = [(r.headers["webhook-id"], r.path) for r in receiver.received]
    assert len(received) == 60 and len(set(received)) == 60  # each event once per webhook
    assert {uuid.UUID(e) for e, _ in received} == expected
    async with db() as s:
        statuses = (await s.execute(select(WebhookDelivery.status))).scalars().all()
    assert statuses == ["delivered"] * 60


async def test_an_abandoned_claim_comes_back_after_its_lease(
    app, db, settings, subscribe, receiver, dispatch
):
    hook = await subscribe(receiver.url)
    await emit_one(db)
    t0 = utcnow()
    (chain,) = await claim(app.state.db, settings, now=t0)  # a worker that then died
    assert [c.attempt for c in chain] == [1]
    assert await dispatch(now=t0 + timedelta(seconds=60)) == 0  # still leased
    assert await dispatch(now=t0 + timedelta(seconds=settings.webhook_lease_seconds + 1)) == 1
    (row,) = await deliveries(db, hook["id"])
    assert row.status == "delivered" and row.attempt == 2
    assert len(receiver.received) == 1


async def test_secret_rotation_signs_with_both_during_the_overlap(
    admin, db, subscribe, receiver, dispatch
):
    hook = await subscribe(receiver.url)
    rotated = (await admin.post(f"/v1/webhooks/{hook['id']}/rotate-secret")).json()
    await emit_one(db)
    t0 = utcnow()
    assert await dispatch(now=t0) == 1
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verified(got, rotated["secret"]) and verified(got, hook["secret"])

    # 24 hours later the old secret no longer signs
    await emit_one(db)
    assert await dispatch(now=t0 + timedelta(hours=24, seconds=1)) == 1
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    assert verified(got, rotated["secret"]) and not verified(got, hook["secret"])


async def test_ssrf_guard_runs_again_at_delivery(admin, db, monkeypatch, dispatch):
    dns = {"hooks.example.com": ["93.184.216.34"]}

    async def _lookup(host: str, _port: int) -> list[str]:
        return dns[host]

    monkeypatch.setattr(ssrf, "_getaddrinfo", _lookup)
    hook = (
        await admin.post(
            "/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["*"]}
        )
    ).json()
    dns["hooks.example.com"] = ["10.0.0.5"]  # DNS rebinding after the subscription
    await emit_one(db)
    assert await dispatch() == 1
    (row,) = await deliveries(db, hook["id"])
    assert row.status == "pending" and row.response_status is None
    assert row.error.startswith(
        "refused by the SSRF guard: host 'hooks.example.com' resolves to 10.0.0.5"
    )


async def test_deliveries_connect_to_the_checked_address(monkeypatch, settings):
    async def _lookup(host: str, _port: int) -> list[str]:
        return ["93.184.216.34"]

    monkeypatch.setattr(ssrf, "_getaddrinfo", _lookup)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    item = Claim(
        delivery_id=uuid.uuid4(),
        webhook_id=uuid.uuid4(),
        attempt=1,
        created_at=utcnow(),
        url="https://hooks.example.com:8443/in",
        secrets=[SigningSecret(new_secret())],
        event_id=uuid.uuid4(),
        body=b"{}",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        outcome = await send(client, item, settings)
    assert outcome.ok and outcome.response_status == 204
    (request,) = seen
    assert request.url.host == "93.184.216.34" and request.url.port == 8443
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


async def test_ping_and_redeliver(admin, db, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url, ["message.archived"])
    base = f"/v1/webhooks/{hook['id']}"
    r = await admin.post(f"{base}/ping")
    assert r.status_code == 202, r.text
    ping = r.json()
    assert ping["status"] == "pending" and ping["event_type"] == "ping" and ping["attempt"] == 0
    assert_conflict = (await admin.post(f"{base}/deliveries/{ping['id']}/redeliver")).status_code
    assert assert_conflict == 409  # still pending

    assert await dispatch() == 1
    (got,) = receiver.received
    assert got.json["type"] == "ping" and got.json["data"] == {"webhook_id": hook["id"]}
    assert verified(got, hook["secret"])

    r = await admin.post(f"{base}/deliveries/{ping['id']}/redeliver")
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["id"] != ping["id"] and again["event_id"] == ping["event_id"]
    assert (await admin.post(f"{base}/deliveries/{ping['id']}/redeliver")).status_code == 409
    assert await dispatch() == 1
    assert [g.headers["webhook-id"] for g in receiver.received] == [ping["event_id"]] * 2

    log = (await admin.get(f"{base}/deliveries")).json()["items"]
    assert [d["id"] for d in log] == [again["id"], ping["id"]]
    assert all(d["status"] == "delivered" for d in log)
    async with db() as s:
        actions = set((await s.execute(select(AuditEvent.action))).scalars().all())
    assert {"webhook.pinged", "webhook.delivery_redelivered"} <= actions

    await admin.patch(base, json={"active": False})
    assert (await admin.post(f"{base}/ping")).status_code == 409
    other = await subscribe(receiver.url)
    r = await admin.post(f"/v1/webhooks/{other['id']}/deliveries/{ping['id']}/redeliver")
    assert r.status_code == 404


async def test_metrics_show_results_latency_and_depth(app, anon, db, settings, subscribe, receiver):
    hook = await subscribe(receiver.url)
    await emit_one(db)
    await emit_one(db)
    receiver.respond(500)
    assert await run_dispatch(app.state.db, settings) == 2
    text = (await anon.get("/metrics")).text
    assert (
        f'brandcast_webhook_deliveries_total{{result="delivered",webhook="{hook["id"]}"}} 1.0'
        in text
    )
    assert (
        f'brandcast_webhook_deliveries_total{{result="retry",webhook="{hook["id"]}"}} 1.0' in text
    )
    assert (
        f'brandcast_webhook_delivery_duration_seconds_count{{webhook="{hook["id"]}"}} 2.0' in text
    )
    assert "brandcast_webhook_outbox_depth 1.0" in text


async def test_scheduler_jobs_deliver_and_emit(app, db, settings, subscribe, receiver):
    """The seam the app's scheduler uses: `dispatch_job` and `due_reminders_job`."""
    scheduler = Scheduler(app.state.db, interval=3600)
    scheduler.add("webhooks-reminders", due_reminders_job(settings))
    scheduler.add("webhooks-dispatch", dispatch_job(app.state.db, settings))
    await subscribe(receiver.url)
    await emit_one(db)
    results = await scheduler.run_once()
    assert results == {"webhooks-reminders": 0, "webhooks-dispatch": 1}
    assert len(receiver.received) == 1


async def test_old_events_are_purged_once_done(app, db, settings, subscribe, receiver, dispatch):
    hook = await subscribe(receiver.url)
    done, waiting = await emit_one(db), await emit_one(db, message_id=uuid.uuid4())
    async with db() as s, s.begin():
        await s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_id == waiting)
            .values(next_attempt_at=utcnow() + timedelta(days=90))
        )
    assert await dispatch() == 1
    later = utcnow() + timedelta(days=31)
    assert await purge_events(app.state.db, settings, now=later) == 1
    async with db() as s:
        left = (await s.execute(select(OutboxEvent.id))).scalars().all()
    assert left == [waiting]
    assert [d.event_id for d in await deliveries(db, hook["id"])] == [waiting]
    assert done not in left
