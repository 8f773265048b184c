"""Digests, the weekly cap, quiet hours and the critical bypass, driven by a fixed clock."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from app.receipts.models import Digest
from tests.receipts.helpers import person
from tests.receipts.inbox.conftest import at

LINK = re.compile(r"http://test/r/[A-Za-z0-9_-]+")


async def _digests(world) -> list[Digest]:
    async with world.db() as s:
        return list((await s.execute(select(Digest).order_by(Digest.id))).scalars().all())


async def test_a_normal_message_waits_for_the_next_morning_digest_in_each_time_zone(
    world, smtp, send, prefs, mails, anon
):
    await world.people(
        person("MAD-1", country="ES", locale="es-ES"),
        person("MEX-1", time_zone="America/Mexico_City", country="ES", locale="es-MX"),
        person("NOW-1"),
    )
    await prefs("MAD-1", digest="daily")
    await prefs("MEX-1", digest="daily")
    message_id = await world.message(
        ["MAD-1", "MEX-1", "NOW-1"],
        title="Quarterly results",
        summary="What the quarter brought",
        channels=["email"],
        translations={"es": {"title": "Resultados trimestrales", "summary": "El trimestre"}},
    )
    # Monday 12:00 UTC: 13:00 in Madrid, 06:00 in Mexico City
    assert await send(at(7, 12)) == 1  # only NOW-1, whose digest is off
    assert [m.rcpt_tos[0] for m in smtp.sink.received] == ["now-1@example.com"]
    [madrid] = await mails("MAD-1")
    assert madrid["state"] == "held"
    assert madrid["reason"] == "waiting for the daily digest of 2030-01-08"
    assert madrid["digest_period"] == "2030-01-08"
    assert madrid["not_before"].startswith("2030-01-08T08:00:00")  # 09:00 in Madrid
    [mexico] = await mails("MEX-1")
    # 06:00 in Mexico City: this morning's digest is still ahead (09:00 = 15:00 UTC)
    assert mexico["reason"] == "waiting for the daily digest of 2030-01-07"
    assert mexico["not_before"].startswith("2030-01-07T15:00:00")

    await send(at(7, 14, 59))
    assert len(smtp.sink.received) == 1
    await send(at(7, 15))  # Mexico City's 09:00
    assert [m.rcpt_tos[0] for m in smtp.sink.received][1:] == ["mex-1@example.com"]
    digest = smtp.sink.to("mex-1@example.com")[0]
    assert digest.message["Subject"] == "Tu resumen: 1 mensajes nuevos"
    text = digest.part("plain")
    assert "Resultados trimestrales" in text and "El trimestre" in text
    assert digest.message["List-Unsubscribe"].startswith("<http://test/r/")
    [mexico] = await mails("MEX-1")
    assert mexico["state"] == "digested" and mexico["digest_id"] is not None

    await send(at(8, 7, 59))  # 08:59 in Madrid
    assert len(smtp.sink.received) == 2
    await send(at(8, 8))
    assert len(smtp.sink.to("mad-1@example.com")) == 1
    # nothing is sent twice, however often the sender runs
    await send(at(8, 8, 1))
    await send(at(9, 8))
    assert len(smtp.sink.received) == 3
    assert [(d.period, d.state, d.items) for d in await _digests(world)] == [
        ("2030-01-07", "sent", 1),
        ("2030-01-08", "sent", 1),
    ]
    # the digest's link is tracked: following it marks the message read by e-mail
    link = LINK.search(smtp.sink.to("mad-1@example.com")[0].part("plain")).group(0)
    assert (await anon.get(link)).status_code == 303
    stats = (await world.admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert stats["read"] == 1


async def test_no_digest_when_everything_was_read_before(world, smtp, send, prefs, mails):
    await world.people(person("MAD-1", country="ES"))
    await prefs("MAD-1", digest="daily")
    message_id = await world.message(["MAD-1"], channels=["email"])
    await send(at(7, 12))
    await world.set_recipients(message_id, ["MAD-1"], read_at=at(7, 13))
    await send(at(8, 8))
    assert smtp.sink.received == []
    assert await _digests(world) == []
    [row] = await mails("MAD-1")
    assert (row["state"], row["reason"]) == ("cancelled", "read before the digest went out")


async def test_weekly_digest_collects_the_week(world, smtp, send, prefs, mails):
    await world.people(person("MAD-1", country="ES"))
    await prefs("MAD-1", digest="weekly", digest_hour=7)
    await world.message(["MAD-1"], title="One", channels=["email"])
    await send(at(8, 12))  # Tuesday
    await world.message(["MAD-1"], title="Two", channels=["email"])
    await send(at(10, 12))  # Thursday
    assert [m["reason"] for m in await mails("MAD-1")] == [
        "waiting for the weekly digest of 2030-W03"
    ] * 2
    await send(at(14, 5, 59))  # Monday 06:59 in Madrid
    assert smtp.sink.received == []
    await send(at(14, 6))
    [digest] = smtp.sink.received
    assert digest.message["Subject"] == "Your digest: 2 new messages"
    assert "One" in digest.part("plain") and "Two" in digest.part("plain")


async def test_the_fourth_normal_email_of_a_week_waits_for_a_free_slot(world, smtp, send, mails):
    await world.people("E-1")
    for n in range(4):
        await world.message(["E-1"], title=f"News {n}", channels=["email"])
    assert await send(at(7, 10)) == 3
    assert len(smtp.sink.received) == 3
    rows = await mails("E-1")
    assert [r["state"] for r in rows] == ["sent", "sent", "sent", "held"]
    assert rows[3]["reason"] == "weekly cap of 3 e-mails reached"
    assert rows[3]["not_before"].startswith("2030-01-14T10:00")
    # an important message is not held by the cap, but counts towards it
    await world.message(["E-1"], title="Important", channels=["email"], priority="important")
    await send(at(8, 10))
    assert len(smtp.sink.received) == 4
    await send(at(14, 9, 59))
    assert len(smtp.sink.received) == 4
    await send(at(14, 10, 1))
    assert len(smtp.sink.received) == 5
    rows = await mails("E-1")
    assert rows[3]["state"] == "sent"
    assert rows[3]["held_at"].startswith("2030-01-07T10:00")
    assert rows[3]["released_at"].startswith("2030-01-14T10:01")
    assert rows[3]["reason"] == "released after: weekly cap of 3 e-mails reached"


async def test_a_message_may_raise_its_own_cap(world, smtp, send):
    await world.people("E-1")
    for n in range(3):
        await world.message(["E-1"], title=f"News {n}", channels=["email"])
    await world.message(["E-1"], title="Campaign", channels=["email"], email_max_per_week=5)
    assert await send(at(7, 10)) == 4


async def test_quiet_hours_hold_until_they_end(world, smtp, send, prefs, mails):
    await world.people(person("MAD-1", country="ES"))
    body = await prefs("MAD-1", quiet_hours={"start": "20:00", "end": "08:00"})
    assert body["quiet_hours"] == {"start": "20:00", "end": "08:00"}
    assert body["time_zone"] == "Europe/Madrid" and body["time_zone_source"] == "country"
    await world.message(["MAD-1"], channels=["email"], priority="important")
    await send(at(7, 21))  # 22:00 in Madrid
    assert smtp.sink.received == []
    [row] = await mails("MAD-1")
    assert row["state"] == "held"
    assert row["reason"] == "quiet hours until 08:00 Europe/Madrid"
    assert row["not_before"].startswith("2030-01-08T07:00")
    await send(at(8, 6, 59))
    assert smtp.sink.received == []
    await send(at(8, 7))
    assert len(smtp.sink.received) == 1
    [row] = await mails("MAD-1")
    assert row["state"] == "sent"
    assert row["reason"] == "released after: quiet hours until 08:00 Europe/Madrid"


async def test_critical_messages_bypass_digest_quiet_hours_cap_and_unsubscribe(
    world, smtp, send, prefs, mails
):
    await world.people(person("MAD-1", country="ES"))
    await prefs(
        "MAD-1",
        digest="daily",
        quiet_hours={"start": "20:00", "end": "08:00"},
        email={"news": False},
    )
    for n in range(3):
        await world.message(
            ["MAD-1"],
            title=f"Policy {n}",
            category="policy",
            channels=["email"],
            priority="important",
        )
    await send(at(7, 10))  # three important e-mails fill the week's cap
    assert len(smtp.sink.received) == 3
    news = await world.message(["MAD-1"], title="News", channels=["email"])
    critical = await world.message(
        ["MAD-1"], title="Evacuate", channels=["email"], priority="critical"
    )
    await send(at(7, 22))  # 23:00 in Madrid
    assert [m.message["Subject"] for m in smtp.sink.received][3:] == ["Evacuate"]
    rows = {r["message_id"]: r for r in await mails("MAD-1")}
    assert rows[critical]["state"] == "sent" and rows[critical]["held_at"] is None
    assert rows[news]["state"] == "cancelled"
    assert rows[news]["reason"] == "the employee turned off e-mails of news"


async def test_acknowledgement_messages_cannot_be_turned_off(world, smtp, send, prefs):
    await world.people("E-1")
    await prefs("E-1", email={"policy": False})
    await world.message(
        ["E-1"],
        category="policy",
        channels=["email"],
        requires_acknowledgement=True,
        acknowledgement_text="I have read it",
    )
    assert await send(at(7, 10)) == 1
    assert len(smtp.sink.received) == 1


async def test_every_hold_is_accounted_for(world, smtp, send, prefs, mails):
    """Whatever waits says why and until when; after a week everything went out."""
    await world.people(person("MAD-1", country="ES"), "E-2")
    await prefs("MAD-1", digest="daily", quiet_hours={"start": "22:00", "end": "07:00"})
    for n in range(5):
        await world.message(["MAD-1", "E-2"], title=f"News {n}", channels=["email"])
    await send(at(7, 23))
    for ext in ("MAD-1", "E-2"):
        for row in await mails(ext):
            assert row["state"] in ("sent", "held")
            if row["state"] == "held":
                assert row["reason"] and row["not_before"] > "2030-01-07T23:00"
    now = at(7, 23)
    for _ in range(16):
        now += timedelta(hours=12)
        await send(now)
    for ext in ("MAD-1", "E-2"):
        assert {r["state"] for r in await mails(ext)} <= {"sent", "digested"}
    async with world.db() as s:
        digests = await s.scalar(select(func.count()).select_from(Digest))
    assert digests == 1
    assert len(smtp.sink.to("e-2@example.com")) == 5
    assert len(smtp.sink.to("mad-1@example.com")) == 1
