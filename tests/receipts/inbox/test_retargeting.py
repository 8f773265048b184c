"""Retargeting: recipients who have not read (or acknowledged) get the message again."""

from tests.receipts.helpers import person
from tests.receipts.inbox.conftest import at

RETARGET = {"after_days": 3, "max": 2}


async def test_retargeting_stops_after_a_read_and_after_max(world, smtp, send, mails):
    await world.people("READER", "IGNORER")
    message_id = await world.message(
        ["READER", "IGNORER"], title="Survey", channels=["email"], retarget=RETARGET
    )
    r = await world.admin.get(f"/v1/messages/{message_id}")
    assert r.json()["retarget"] == RETARGET
    await send(at(7, 10))
    assert len(smtp.sink.received) == 2
    await send(at(10, 9, 59))  # not yet 3 days
    assert len(smtp.sink.received) == 2
    await send(at(10, 10, 1))
    assert len(smtp.sink.to("reader@example.com")) == 2
    assert len(smtp.sink.to("ignorer@example.com")) == 2
    await world.set_recipients(message_id, ["READER"], read_at=at(11, 8))
    await send(at(13, 10, 2))
    await send(at(16, 10, 3))
    await send(at(25, 10))
    assert len(smtp.sink.to("reader@example.com")) == 2  # read: no more
    assert len(smtp.sink.to("ignorer@example.com")) == 3  # the first e-mail and max = 2
    assert [(m["round"], m["state"]) for m in await mails("IGNORER")] == [
        (0, "sent"),
        (1, "sent"),
        (2, "sent"),
    ]


async def test_a_planned_retargeting_email_is_cancelled_by_a_read(world, smtp, send, prefs, mails):
    await world.people(person("MAD-1", country="ES"))
    await prefs("MAD-1", quiet_hours={"start": "20:00", "end": "08:00"})
    message_id = await world.message(["MAD-1"], channels=["email"], retarget=RETARGET)
    await send(at(7, 10))
    await send(at(10, 22))  # round 1 planned, held by the quiet hours
    assert [m["state"] for m in await mails("MAD-1")] == ["sent", "held"]
    await world.set_recipients(message_id, ["MAD-1"], read_at=at(10, 23))
    await send(at(11, 8))
    rows = await mails("MAD-1")
    assert [m["state"] for m in rows] == ["sent", "cancelled"]
    assert rows[1]["reason"] == "read before the retargeting e-mail went out"
    assert len(smtp.sink.received) == 1


async def test_acknowledgement_messages_retarget_until_acknowledged(world, smtp, send):
    await world.people("E-1")
    message_id = await world.message(
        ["E-1"],
        channels=["email"],
        requires_acknowledgement=True,
        acknowledgement_text="I have read it",
        retarget={"after_days": 1, "max": 5},
    )
    await send(at(7, 10))
    # read but not acknowledged: still retargeted
    await world.set_recipients(message_id, ["E-1"], read_at=at(7, 11))
    await send(at(8, 10, 1))
    assert len(smtp.sink.received) == 2
    await world.set_recipients(
        message_id, ["E-1"], acknowledged_at=at(8, 11), acknowledged_version=1
    )
    await send(at(9, 10, 2))
    await send(at(10, 10, 3))
    assert len(smtp.sink.received) == 2


async def test_retargeting_respects_the_cap_unless_critical(world, smtp, send, mails):
    await world.people("E-1")
    await world.message(["E-1"], title="Survey", channels=["email"], retarget=RETARGET)
    await world.message(
        ["E-1"], title="Alarm", channels=["email"], priority="critical", retarget=RETARGET
    )
    await send(at(7, 10))
    for n in range(3):
        await world.message(["E-1"], title=f"News {n}", channels=["email"])
    await send(at(9, 10))  # two normal sent (the survey counted), one held
    await send(at(10, 10, 1))  # the survey's round 1 waits for the cap; the alarm's goes
    subjects = [m.message["Subject"] for m in smtp.sink.to("e-1@example.com")]
    assert subjects.count("Alarm") == 2 and subjects.count("Survey") == 1
    survey = [m for m in await mails("E-1") if m["round"] == 1 and m["state"] == "held"]
    assert len(survey) == 1 and survey[0]["reason"] == "weekly cap of 3 e-mails reached"


async def test_invalid_retarget_rules_are_refused(world):
    for bad in (
        {"after_days": 0, "max": 1},
        {"after_days": 3},
        {"after_days": 3, "max": 2, "x": 1},
    ):
        r = await world.admin.post(
            "/v1/messages", json={"category": "news", "title": "T", "retarget": bad}
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_grouped_stats_count_each_recipient_once_after_retargeting(world, smtp, send):
    staff = [f"R-{n}" for n in range(5)]
    await world.people(*(person(e, department="Retail") for e in staff))
    message_id = await world.message(staff, channels=["email"], retarget=RETARGET)
    await send(at(7, 10))
    await send(at(10, 10, 1))  # round 1: a second e-mail row for each of them
    assert len(smtp.sink.received) == 10
    await world.set_recipients(message_id, staff[:2], read_at=at(10, 12))

    grouped = (
        await world.admin.get(f"/v1/messages/{message_id}/stats", params={"group_by": "department"})
    ).json()
    assert grouped["recipients"] == 5 and grouped["read"] == 2
    assert grouped["channels"]["email"]["sent"] == 10
    [retail] = grouped["groups"]
    assert retail["key"] == "Retail"
    assert (retail["recipients"], retail["read"], retail["read_rate"]) == (5, 2, 0.4)
    # the group's e-mails are every round's, as the message's channel figures count them
    assert retail["email"] == {"planned": 10, "sent": 10, "failed": 0, "pending": 0, "cancelled": 0}
