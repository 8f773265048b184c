"""What the comms team sees of deliveries: the list, per-channel stats with the minimum-group
rule, the `delivery.failed` event and the metrics."""

import re
import uuid

from sqlalchemy import select

from app.core.principal import Scope
from app.webhooks.models import OutboxEvent, WebhookDelivery
from tests.receipts.helpers import person

LINK = re.compile(r"http://test/r/[A-Za-z0-9_-]+")


async def _arrange(world, smtp, send) -> str:
    """Six in Retail, five in Legal, one in Ops; one Retail address refused; the message
    sent."""
    await world.people(
        *(person(f"R-{n}", department="Retail") for n in range(6)),
        *(person(f"L-{n}", department="Legal") for n in range(5)),
        person("O-0", department="Ops"),
    )
    smtp.sink.refuse["r-5@example.com"] = "550 5.1.1 unknown user"
    message_id = await world.message(
        [f"R-{n}" for n in range(6)] + [f"L-{n}" for n in range(5)] + ["O-0"],
        channels=["email"],
    )
    await send()
    return message_id


async def test_deliveries_list_filters_and_pages(world, smtp, send, client_for, anon):
    message_id = await _arrange(world, smtp, send)
    reader = await client_for(Scope.RECEIPTS_READ)
    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        r = await reader.get(f"/v1/messages/{message_id}/deliveries", params=params)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert (len(items), pages) == (12, 3)
    assert len({i["id"] for i in items}) == 12
    failed = await reader.get(
        f"/v1/messages/{message_id}/deliveries", params={"state": "failed", "channel": "email"}
    )
    [item] = failed.json()["items"]
    assert item["employee_external_id"] == "R-5"
    assert item["email"] == "r-5@example.com"
    assert item["last_error"] == "550 5.1.1 unknown user"
    assert (item["channel"], item["state"], item["attempts"]) == ("email", "failed", 1)
    sent = await reader.get(f"/v1/messages/{message_id}/deliveries", params={"state": "sent"})
    assert len(sent.json()["items"]) == 11
    assert all(i["sent_at"] and i["locale"] == "en" for i in sent.json()["items"])
    pending = await reader.get(f"/v1/messages/{message_id}/deliveries", params={"state": "pending"})
    assert pending.json()["items"] == []
    chat = await reader.get(f"/v1/messages/{message_id}/deliveries", params={"channel": "chat"})
    assert chat.json()["items"] == []

    # unhappy paths
    bad = await reader.get(f"/v1/messages/{message_id}/deliveries", params={"state": "lost"})
    assert bad.status_code == 422
    # the feed has no delivery rows: asking for them is an error that says where they are
    feed = await reader.get(f"/v1/messages/{message_id}/deliveries", params={"channel": "feed"})
    assert feed.status_code == 422
    assert feed.headers["content-type"].startswith("application/problem+json")
    assert [e["loc"] for e in feed.json()["errors"]] == ["query.channel"]
    assert (await reader.get(f"/v1/messages/{uuid.uuid4()}/deliveries")).status_code == 404
    writer = await client_for(Scope.MESSAGES_WRITE)
    assert (await writer.get(f"/v1/messages/{message_id}/deliveries")).status_code == 403
    assert (await anon.get(f"/v1/messages/{message_id}/deliveries")).status_code == 401


async def test_stats_show_channels_and_where_reads_happened(world, smtp, send, anon):
    message_id = await _arrange(world, smtp, send)
    for n in (0, 1):  # two clicks in the e-mail
        link = LINK.search(smtp.sink.to(f"r-{n}@example.com")[0].part("plain")).group(0)
        assert (await anon.get(link)).status_code == 303
    from tests.me.conftest import bearer, hs256

    r = await world.admin.post(f"/v1/me/messages/{message_id}/read", headers=bearer(hs256("L-0")))
    assert r.status_code in (200, 204), r.text

    stats = (await world.admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert stats["read"] == 3
    assert stats["read_via"] == {"feed": 1, "email": 2}
    assert stats["channels"] == {
        "email": {"planned": 12, "sent": 11, "failed": 1, "pending": 0, "cancelled": 0}
    }

    grouped = (
        await world.admin.get(f"/v1/messages/{message_id}/stats", params={"group_by": "department"})
    ).json()
    assert grouped["channels"]["email"]["planned"] == 12
    assert grouped["read_via"] == {"feed": 1, "email": 2}
    by_key = {g["key"]: g for g in grouped["groups"]}
    # Ops (1) is under the minimum of 5, and so would "(other)" be: the smallest group shown
    # (Legal) joins it, as for every other figure
    assert set(by_key) == {"Retail", "(other)"}
    assert by_key["Retail"]["email"] == {
        "planned": 6,
        "sent": 5,
        "failed": 1,
        "pending": 0,
        "cancelled": 0,
    }
    assert by_key["Retail"]["read_via"] == {"feed": 0, "email": 2}
    assert by_key["(other)"]["read_via"] == {"feed": 1, "email": 0}
    assert by_key["(other)"]["email"]["sent"] == 6
    assert by_key["(other)"]["recipients"] == 6


async def test_feed_only_stats_have_no_channels(world):
    await world.people("F-1")
    message_id = await world.message(["F-1"])
    stats = (await world.admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert stats["channels"] == {}
    assert stats["read_via"] == {"feed": 0, "email": 0}


async def test_failed_delivery_event_reaches_subscribers(world, smtp, send, admin):
    r = await admin.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks", "events": ["delivery.failed"]}
    )
    assert r.status_code == 201, r.text
    message_id = await _arrange(world, smtp, send)
    async with world.db() as s:
        events = (
            (await s.execute(select(OutboxEvent).where(OutboxEvent.type == "delivery.failed")))
            .scalars()
            .all()
        )
        queued = (
            (
                await s.execute(
                    select(WebhookDelivery).where(WebhookDelivery.event_id == events[0].id)
                )
            )
            .scalars()
            .all()
        )
    [event] = events
    assert event.data["message_id"] == message_id
    assert event.data["channel"] == "email"
    assert event.data["employee_external_id"] == "R-5"
    assert event.data["error"] == "550 5.1.1 unknown user"
    assert event.ordering_key == f"message:{message_id}"
    assert [q.webhook_id for q in queued] == [uuid.UUID(r.json()["id"])]


async def test_metrics_count_emails_and_lag(world, smtp, send, anon):
    await _arrange(world, smtp, send)
    text = (await anon.get("/metrics")).text
    sent = re.search(r'brandcast_deliveries_total\{channel="email",result="sent"\} (\S+)', text)
    failed = re.search(r'brandcast_deliveries_total\{channel="email",result="failed"\} (\S+)', text)
    assert sent and float(sent.group(1)) >= 11
    assert failed and float(failed.group(1)) >= 1
    assert "brandcast_delivery_lag_seconds 0.0" in text
