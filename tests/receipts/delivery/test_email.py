"""E-mail delivery end to end: publish with `channels: ["feed", "email"]`, run the sender
against a real SMTP server, look at what arrived and at the delivery rows."""

import re
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from app.core.config import Settings
from app.core.database import utcnow
from app.receipts import sender
from app.receipts.channels.email import Templates
from app.receipts.links import sign
from app.receipts.models import Delivery, OptOut, Recipient
from app.webhooks.models import OutboxEvent
from tests.receipts.delivery.conftest import LINK_SECRET
from tests.receipts.helpers import person

LINK = re.compile(r"http://test/r/[A-Za-z0-9_-]+")
BODY = (
    "Our **promise** to customers.\n\n<script>alert('x')</script>\n\n"
    "[click](javascript:alert(1)) and [site](https://brand.example.com)"
)


async def _deliveries(world, message_id: str) -> list[Delivery]:
    async with world.db() as s:
        rows = await s.execute(
            select(Delivery)
            .where(Delivery.message_id == uuid.UUID(message_id))
            .order_by(Delivery.id)
        )
        return list(rows.scalars().all())


async def _arrange(world, **fields) -> str:
    await world.people(
        person("DE-1", locale="de-DE", display_name="Jürgen Müller"),
        person("EN-1"),
    )
    return await world.message(
        ["DE-1", "EN-1"],
        title="Our brand promise",
        summary="What we promise",
        body=BODY,
        channels=["email"],
        translations={"de": {"title": "Unser Markenversprechen", "body": "Unser **Versprechen**."}},
        **fields,
    )


async def test_publishing_plans_one_email_per_recipient_and_sends_nothing(world, smtp):
    message_id = await _arrange(world)
    r = await world.admin.get(f"/v1/messages/{message_id}")
    assert r.json()["channels"] == ["feed", "email"]
    rows = await _deliveries(world, message_id)
    assert [(d.channel, d.state, d.attempts) for d in rows] == [("email", "planned", 0)] * 2
    assert {d.employee_id for d in rows} == {world.ids["DE-1"], world.ids["EN-1"]}
    assert smtp.sink.received == []


async def test_each_recipient_gets_one_email_in_their_language(world, smtp, send):
    message_id = await _arrange(world)
    assert await send() == 2
    assert len(smtp.sink.received) == 2
    german = smtp.sink.to("de-1@example.com")[0]
    english = smtp.sink.to("en-1@example.com")[0]
    assert german.mail_from == "news@brand.example.com"
    m = german.message
    assert m["Subject"] == "Unser Markenversprechen"
    assert m["To"] == "Jürgen Müller <de-1@example.com>"
    assert m["From"] == "Brandcast <news@brand.example.com>"
    assert m["Content-Language"] == "de"
    assert "<strong>Versprechen</strong>" in german.part("html")
    assert english.message["Subject"] == "Our brand promise"
    html = english.part("html")
    # the editor's script and javascript: link never arrive; Markdown is rendered
    assert "<script" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in html  # shown as text, never run
    assert "<strong>promise</strong>" in html
    assert '<a href="https://brand.example.com" rel="noopener noreferrer">site</a>' in html
    text = english.part("plain")
    assert "Our **promise** to customers." in text and "<script" not in text
    assert LINK.search(text) and LINK.search(html)
    # a stable Message-ID per delivery, and RFC 8058 one-click unsubscribe
    rows = {d.employee_id: d for d in await _deliveries(world, message_id)}
    english_row = rows[world.ids["EN-1"]]
    assert english.message["Message-ID"] == (
        f"<delivery-{english_row.id}.{uuid.UUID(message_id).hex}@brand.example.com>"
    )
    assert english.message["List-Unsubscribe"].startswith("<http://test/r/")
    assert english.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {(d.state, d.locale, d.attempts) for d in rows.values()} == {
        ("sent", "de", 1),
        ("sent", "en", 1),
    }
    # nothing is sent twice
    assert await send() == 0
    assert len(smtp.sink.received) == 2


async def test_acknowledgement_messages_carry_no_unsubscribe(world, smtp, send):
    await _arrange(world, requires_acknowledgement=True, acknowledgement_text="I have read it")
    await send()
    assert len(smtp.sink.received) == 2
    for received in smtp.sink.received:
        assert received.message["List-Unsubscribe"] is None
        assert received.message["List-Unsubscribe-Post"] is None


async def _link(smtp, address: str) -> str:
    return LINK.search(smtp.sink.to(address)[0].part("plain")).group(0)


async def test_tracked_link_marks_read_and_redirects_only_to_the_intranet(world, smtp, send, anon):
    message_id = await _arrange(world)
    await send()
    link = await _link(smtp, "en-1@example.com")
    intranet = f"https://intranet.example.com/news/{message_id}"

    # a mail scanner's HEAD is answered but counts no read
    r = await anon.head(link)
    assert r.status_code == 303 and r.headers["location"] == intranet
    stats = (await world.admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert stats["read"] == 0

    r = await anon.get(link)
    assert r.status_code == 303
    assert r.headers["location"] == intranet
    async with world.db() as s:
        first = await s.get(Recipient, (uuid.UUID(message_id), world.ids["EN-1"]))
    assert first.read_at is not None and first.read_channel == "email"
    stats = (await world.admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert stats["read"] == 1

    # a second click keeps the first read, with what a link tracker appends to the query
    r = await anon.get(link, params={"utm_source": "newsletter", "mc_eid": "x1"})
    assert r.status_code == 303 and r.headers["location"] == intranet
    async with world.db() as s:
        again = await s.get(Recipient, (uuid.UUID(message_id), world.ids["EN-1"]))
    assert again.read_at == first.read_at


async def test_bad_tampered_and_expired_links_are_a_plain_404(world, smtp, send, anon):
    message_id = await _arrange(world)
    await send()
    link = await _link(smtp, "en-1@example.com")
    token = link.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    row = (await _deliveries(world, message_id))[0]
    expired = sign(row.id, secret=LINK_SECRET, expires_at=utcnow() - timedelta(seconds=1))
    forged = sign(row.id, secret="another-secret-of-at-least-32-bytes!!", expires_at=utcnow())
    # (a NUL anywhere is refused app-wide with a 422, here as a page)
    assert (await anon.get("/r/%00")).status_code == 422
    # (a path that leaves /r/ is no route at all: a 404 problem)
    assert (await anon.get("/r/..%2f..%2fetc")).status_code == 404
    for bad in (tampered, expired, forged, "x", "A" * 200, "%E2%82%AC", "a.b"):
        r = await anon.get(f"/r/{bad}")
        assert r.status_code == 404, bad
        assert r.headers["content-type"].startswith("text/html")
        assert "location" not in r.headers
        assert "Traceback" not in r.text
    async with world.db() as s:
        reads = (
            await s.execute(select(Recipient.read_at).where(Recipient.read_at.is_not(None)))
        ).all()
    assert reads == []


async def test_rejected_address_fails_with_the_servers_reply(world, smtp, send):
    smtp.sink.refuse["en-1@example.com"] = "550 5.1.1 <en-1@example.com>: no such user"
    message_id = await _arrange(world)
    await send()
    rows = {d.employee_id: d for d in await _deliveries(world, message_id)}
    failed = rows[world.ids["EN-1"]]
    assert failed.state == "failed"
    assert failed.last_error == "550 5.1.1 <en-1@example.com>: no such user"
    assert rows[world.ids["DE-1"]].state == "sent"
    async with world.db() as s:
        events = (
            (await s.execute(select(OutboxEvent).where(OutboxEvent.type == "delivery.failed")))
            .scalars()
            .all()
        )
    assert len(events) == 1
    assert events[0].data["employee_external_id"] == "EN-1"
    assert events[0].data["error"].startswith("550 5.1.1")
    # a failed e-mail is not retried
    smtp.sink.refuse.clear()
    assert await send(now=utcnow() + timedelta(hours=2)) == 0
    assert smtp.sink.to("en-1@example.com") == []


async def test_temporary_refusal_is_retried_with_backoff(world, smtp, send):
    smtp.sink.refuse["en-1@example.com"] = "451 4.3.0 try again later"
    message_id = await _arrange(world)
    await send()
    row = next(
        d for d in await _deliveries(world, message_id) if d.employee_id == world.ids["EN-1"]
    )
    assert (row.state, row.attempts) == ("planned", 1)
    assert row.last_error.startswith("451 4.3.0")
    assert row.not_before > utcnow() + timedelta(seconds=20)  # base 60 s, jittered by half
    assert await send() == 0  # not due yet
    smtp.sink.refuse.clear()
    await send(now=utcnow() + timedelta(hours=1))
    assert len(smtp.sink.to("en-1@example.com")) == 1
    row = next(
        d for d in await _deliveries(world, message_id) if d.employee_id == world.ids["EN-1"]
    )
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)


async def test_smtp_down_then_up_delivers_each_email_once(world, smtp, send):
    message_id = await _arrange(world)
    smtp.stop()
    await send()
    rows = await _deliveries(world, message_id)
    assert {d.state for d in rows} == {"planned"}
    # the first attempt found the server down; the rest of the batch was given back untried
    assert sorted(d.attempts for d in rows) in ([0, 1], [1, 1])
    assert any("Connect" in (d.last_error or "") or "refused" in (d.last_error or "") for d in rows)
    smtp.start()
    await send(now=utcnow() + timedelta(hours=1))
    assert len(smtp.sink.received) == 2
    assert sorted(r.rcpt_tos[0] for r in smtp.sink.received) == [
        "de-1@example.com",
        "en-1@example.com",
    ]
    assert {d.state for d in await _deliveries(world, message_id)} == {"sent"}
    await send(now=utcnow() + timedelta(hours=2))
    assert len(smtp.sink.received) == 2


async def test_a_batch_claimed_meanwhile_goes_back_untried_when_the_server_is_down(
    world, smtp, app, monkeypatch
):
    """The next batch is claimed while one is sent: when the server turns out to be down,
    that claim is given back too, due at once and its attempt not counted."""
    message_id = await _arrange(world)
    one_by_one = Settings(**{**app.state.settings.model_dump(), "delivery_batch_size": 1})
    claimed: list[list[int]] = []
    load_batch = sender.load_batch

    async def spy(*args, **kwargs):
        batch = await load_batch(*args, **kwargs)
        if batch is not None:
            claimed.append(batch.claimed.ids)
        return batch

    monkeypatch.setattr(sender, "load_batch", spy)
    smtp.stop()
    assert await sender.run_sender(app.state.db, one_by_one, Templates()) == 1
    assert len(claimed) == 2  # the batch tried, and the one claimed while it was
    (tried,), (given_back,) = claimed
    rows = {d.id: d for d in await _deliveries(world, message_id)}
    assert (rows[tried].state, rows[tried].attempts) == ("planned", 1)
    assert rows[tried].last_error and rows[tried].not_before > utcnow()  # backing off
    back = rows[given_back]
    assert (back.state, back.attempts, back.claim_id, back.claimed_until) == (
        "planned",
        0,
        None,
        None,
    )
    assert (back.first_attempt_at, back.last_error) == (None, None)
    assert back.not_before <= utcnow()  # due again at once
    smtp.start()
    later = utcnow() + timedelta(hours=1)
    assert await sender.run_sender(app.state.db, one_by_one, Templates(), now=later) == 2
    assert sorted(r.rcpt_tos[0] for r in smtp.sink.received) == [
        "de-1@example.com",
        "en-1@example.com",
    ]
    rows = {d.id: d for d in await _deliveries(world, message_id)}
    assert {(d.state, d.attempts) for d in rows.values()} == {("sent", 1), ("sent", 2)}
    assert rows[given_back].attempts == 1


async def test_gives_up_after_the_retry_period(world, smtp, send):
    smtp.sink.refuse["en-1@example.com"] = "421 4.7.0 too busy"
    message_id = await _arrange(world)
    await send()
    async with world.db() as s, s.begin():
        await s.execute(
            update(Delivery)
            .where(Delivery.message_id == uuid.UUID(message_id))
            .values(first_attempt_at=utcnow() - timedelta(hours=24))
        )
    await send(now=utcnow() + timedelta(hours=1))
    row = next(
        d for d in await _deliveries(world, message_id) if d.employee_id == world.ids["EN-1"]
    )
    assert row.state == "failed"
    assert row.last_error.startswith("gave up after 2 attempt(s) in 24 h: 421 4.7.0")


async def test_unsubscribe_stops_emails_without_acknowledgement(world, smtp, send, anon):
    await _arrange(world)
    await send()
    link = await _link(smtp, "en-1@example.com")
    page = await anon.get(f"{link}/unsubscribe")
    assert page.status_code == 200 and "<form" in page.text
    r = await anon.post(f"{link}/unsubscribe", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert (await anon.post(f"{link}/unsubscribe")).status_code == 200  # twice: no change
    assert (await anon.post("/r/nonsense/unsubscribe")).status_code == 404
    async with world.db() as s:
        opt_outs = (await s.execute(select(OptOut))).scalars().all()
    assert [(o.employee_id, o.channel) for o in opt_outs] == [(world.ids["EN-1"], "email")]

    plain = await world.message(["DE-1", "EN-1"], title="News", channels=["email"])
    must = await world.message(
        ["EN-1"],
        title="Policy",
        channels=["email"],
        requires_acknowledgement=True,
        acknowledgement_text="I agree",
    )
    await send()
    titles = [r.message["Subject"] for r in smtp.sink.to("en-1@example.com")]
    assert titles == ["Our brand promise", "Policy"]
    cancelled = next(
        d for d in await _deliveries(world, plain) if d.employee_id == world.ids["EN-1"]
    )
    assert (cancelled.state, cancelled.reason) == ("cancelled", "the employee unsubscribed")
    assert [d.state for d in await _deliveries(world, must)] == ["sent"]


async def test_closed_messages_and_leavers_are_not_emailed(world, smtp, send):
    message_id = await _arrange(world)
    await world.set_employee("DE-1", active=False)
    await send()
    rows = {d.employee_id: d for d in await _deliveries(world, message_id)}
    assert (rows[world.ids["DE-1"]].state, rows[world.ids["DE-1"]].reason) == (
        "cancelled",
        "the employee is not active",
    )
    archived = await world.message(["EN-1"], title="Old", channels=["email"])
    r = await world.admin.post(f"/v1/messages/{archived}/archive")
    assert r.status_code == 200, r.text
    await send()
    assert [(d.state, d.reason) for d in await _deliveries(world, archived)] == [
        ("cancelled", "the message is no longer live")
    ]
    assert [r.message["Subject"] for r in smtp.sink.received] == ["Our brand promise"]


async def test_employee_without_address_fails_visibly(world, smtp, send):
    await world.people(person("NOMAIL", email=None))
    message_id = await world.message(["NOMAIL"], channels=["email"])
    await send()
    [row] = await _deliveries(world, message_id)
    assert (row.state, row.last_error) == ("failed", "the employee has no e-mail address")
    assert smtp.sink.received == []


async def test_late_joiners_get_their_email(world, smtp, send):
    r = await world.admin.post(
        "/v1/audiences",
        json={
            "name": "Retail",
            "rule": {"attribute": "department", "op": "eq", "value": "Retail"},
        },
    )
    assert r.status_code == 201, r.text
    await world.people(person("R-1", department="Retail"))
    message_id = await world.draft(channels=["email"], audience_ids=[r.json()["id"]])
    await world.publish(message_id)
    r = await world.admin.put(
        "/v1/employees/R-2",
        json={"email": "r-2@example.com", "department": "Retail", "display_name": "R 2"},
    )
    assert r.status_code in (200, 201), r.text
    rows = await _deliveries(world, message_id)
    assert len(rows) == 2 and {d.state for d in rows} == {"planned"}
    await send()
    assert sorted(r.rcpt_tos[0] for r in smtp.sink.received) == [
        "r-1@example.com",
        "r-2@example.com",
    ]


async def test_feed_only_messages_plan_no_deliveries(world, smtp, send):
    await world.people("F-1")
    message_id = await world.message(["F-1"])
    r = await world.admin.get(f"/v1/messages/{message_id}")
    assert r.json()["channels"] == ["feed"]
    assert await _deliveries(world, message_id) == []
    assert await send() == 0


async def test_tracked_links_are_rate_limited_per_address_and_answer_pages(client_with):
    limited = await client_with(rate_limit_per_minute=60, rate_limit_burst=3)
    answers = [(await limited.get("/r/not-a-token")).status_code for _ in range(4)]
    assert answers == [404, 404, 404, 429]
    for r in (await limited.head("/r/not-a-token"), await limited.post("/r/x/unsubscribe")):
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-store"
    page = await limited.get("/r/not-a-token")
    assert "Too many requests" in page.text and "Traceback" not in page.text
