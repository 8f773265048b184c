"""The brand-alignment summary (`alignment_weeks`) against the recipient rows.

A sequence of writes through HTTP — publication to an audience, a late joiner, feed reads,
acknowledgements, pulse answers and a changed answer, a new acknowledgement round, an
archive, a category edit, a deactivation and an erasure — and after each step the report's
statement from the summary must give what the statement over the recipient rows gives, for
periods whose ends fall mid-week (and one with no whole week). On PostgreSQL also after the
fold pass, which must change nothing the report says.
"""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from app.core import sql
from app.core.database import utcnow
from app.employees.models import Employee
from app.messages.models import Message
from app.reports import service as reports
from app.reports import summary
from app.reports.models import alignment_weeks
from tests.me.conftest import bearer, hs256
from tests.receipts.helpers import World

NOW = utcnow()
ACK = {
    "requires_acknowledgement": True,
    "acknowledgement_text": "I have read and understood.",
    "acknowledge_within_days": 7,
}
# (since, until) in days before now: mid-week ends, a 90-day default, no whole week at all
PERIODS = [(90, 0), (40.3, 0), (33.6, 4.2), (20.5, 9.7), (12, 1.5), (3.5, 0.5)]


def _me(external_id: str) -> dict[str, str]:
    return bearer(hs256(external_id))


async def _figures(db, *, summarized: bool, group_by=Employee.department) -> dict:
    out = {}
    async with db() as s:
        dialect = sql.dialect_of(s)
        for since, until in PERIODS:
            stmt = reports.alignment_statement(
                dialect,
                since=NOW - timedelta(days=since),
                until=NOW - timedelta(days=until),
                tag=None,
                unit=group_by,
                summarized=summarized,
            )
            rows = (await s.execute(stmt)).mappings().all()
            out[(since, until)] = sorted(
                tuple(int(r[k] or 0) if k != "unit" else r[k] for k in ("unit", *reports.FIELDS))
                for r in rows
            )
    return out


async def _same(db, step: str, folds: list[int] | None = None) -> dict:
    folds = [] if folds is None else folds
    full = await _figures(db, summarized=False)
    assert await _figures(db, summarized=True) == full, step
    assert await _figures(db, summarized=True, group_by=Employee.country) == await _figures(
        db, summarized=False, group_by=Employee.country
    ), step
    async with db() as s, s.begin():
        folded = await summary.fold(s)  # one pass: a few rows (FOLD_BATCH is small here)
    if sql.dialect_of(s) == sql.POSTGRESQL:
        assert await _figures(db, summarized=True) == full, f"{step}, part folded"
        while True:
            async with db() as s, s.begin():
                more = await summary.fold(s)
            if not more:
                break
            folded += more
        assert await _figures(db, summarized=True) == full, f"{step}, folded ({folded} rows)"
        folds.append(folded)
        async with db() as s:  # what is left unfolded: the current week's rows only
            left = select(func.min(alignment_weeks.c.starts)).where(~alignment_weeks.c.folded)
            oldest = (await s.execute(left)).scalar()
        assert oldest is None or oldest == summary.monday_on_or_before(utcnow()), step
    return full


@pytest.fixture
async def world(db, admin) -> World:
    return World(db, admin)


async def _publish(world: World, everyone: str, days_ago: float, **fields) -> str:
    body = {"category": "brand_promise", "title": "Ours", "audience_ids": [everyone], **fields}
    r = await world.admin.post("/v1/messages", json=body)
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]
    r = await world.admin.post(f"/v1/messages/{message_id}/publish", json={})
    assert r.status_code == 200, r.text
    # back in time (the message and its rows, as publishing writes them): weeks apart
    await world.set_message(message_id, published_at=NOW - timedelta(days=days_ago))
    return message_id


async def test_the_summary_gives_the_figures_of_the_recipient_rows(
    world: World, everyone, db, anon, admin, monkeypatch
):
    monkeypatch.setattr(summary, "FOLD_BATCH", 5)  # PostgreSQL: several passes per step
    for x, dept, country in [
        ("S1", "Sales", "ES"),
        ("S2", "Sales", "ES"),
        ("S3", "Sales", "MX"),
        ("P1", "Support", "ES"),
        ("P2", "Support", "MX"),
        ("L1", "Legal", "MX"),
    ]:
        r = await admin.put(
            f"/v1/employees/{x}",
            json={"email": f"{x.lower()}@example.com", "department": dept, "country": country},
        )
        assert r.status_code == 201, r.text
        world.ids[x] = uuid.UUID(r.json()["id"])
    pulse = {"pulse_question": "Do you believe it?"}
    old = await _publish(world, everyone, 45.2, **ACK, **pulse)  # inside 90 days only
    m1 = await _publish(world, everyone, 30.5, **ACK, **pulse)
    m2 = await _publish(world, everyone, 16.1, category="values", **pulse)
    m3 = await _publish(world, everyone, 10.8, category="news", **ACK)  # not a brand message
    m4 = await _publish(world, everyone, 2.3, category="mission", **ACK)
    m5 = await _publish(world, everyone, 0.2, category="vision")
    folds: list[int] = []
    full = await _same(db, "published", folds)
    assert full[(90, 0)] and any(row[1] for row in full[(90, 0)])

    async with db() as s:
        assert (await s.execute(select(func.count()).select_from(alignment_weeks))).scalar()

    # feed reads, acknowledgements (the hot path), pulse answers and a changed answer
    for x in ("S1", "S2", "P1"):
        for m in (old, m1, m4):
            r = await anon.post(f"/v1/me/messages/{m}/acknowledgement", headers=_me(x))
            assert r.status_code in (200, 201), r.text
    for x in ("S3", "L1"):
        for m in (m1, m2, m5):
            r = await anon.post(f"/v1/me/messages/{m}/read", headers=_me(x))
            assert r.status_code in (200, 204), r.text
    for x, score in (("S1", 4), ("S2", 5), ("P2", 2), ("L1", 3)):
        for m in (old, m1, m2):
            r = await anon.put(f"/v1/me/messages/{m}/pulse", headers=_me(x), json={"score": score})
            assert r.status_code == 200, r.text
    r = await anon.put(f"/v1/me/messages/{m2}/pulse", headers=_me("S1"), json={"score": 1})
    assert r.status_code == 200, r.text
    await _same(db, "reads, acknowledgements, pulse answers", folds)
    if folds:  # PostgreSQL: the report was compared with rows appended, then folded
        assert all(folds), folds

    # one acknowledgement late: after its due date
    await world.set_recipients(m1, ["S2"], due_at=NOW - timedelta(days=29))
    await _same(db, "due date moved")

    # a late joiner: a new employee of the audience becomes a recipient of the live messages
    r = await admin.put(
        "/v1/employees/N1",
        json={"email": "n1@example.com", "department": "Sales", "country": "ES"},
    )
    assert r.status_code == 201, r.text
    r = await anon.post(f"/v1/me/messages/{m4}/acknowledgement", headers=_me("N1"))
    assert r.status_code in (200, 201), r.text
    await _same(db, "late joiner")

    # a new acknowledgement round: the earlier acknowledgements of m4 no longer count
    r = await admin.patch(
        f"/v1/messages/{m4}", json={"body": "v2", "require_reacknowledgement": True}
    )
    assert r.status_code == 200, r.text
    before_round = full
    full = await _same(db, "new acknowledgement round")
    assert full != before_round
    r = await anon.post(f"/v1/me/messages/{m4}/acknowledgement", headers=_me("S1"))
    assert r.status_code in (200, 201), r.text
    await _same(db, "acknowledged again")

    # archived messages still count; a category edit moves a message in or out
    r = await admin.post(f"/v1/messages/{m1}/archive", json={})
    assert r.status_code == 200, r.text
    await _same(db, "archived")
    r = await admin.patch(f"/v1/messages/{m3}", json={"category": "values"})
    assert r.status_code == 200, r.text
    r = await admin.patch(f"/v1/messages/{m2}", json={"category": "campaign"})
    assert r.status_code == 200, r.text
    await _same(db, "category edits")

    # deactivation and erasure change no receipt; moving an employee changes their unit
    assert (await admin.delete("/v1/employees/P2")).status_code == 204
    assert (await admin.delete("/v1/employees/L1", params={"erase": "true"})).status_code == 204
    r = await admin.put(
        "/v1/employees/S3",
        json={"email": "s3@example.com", "department": "Support", "country": "MX"},
    )
    assert r.status_code == 200, r.text
    await _same(db, "deactivation, erasure, a move")

    # a draft deleted counts nothing; the HTTP report reads the summary and agrees
    draft = (await admin.post("/v1/messages", json={"category": "vision", "title": "d"})).json()
    assert (await admin.delete(f"/v1/messages/{draft['id']}")).status_code == 204
    await _same(db, "draft deleted")
    async with db() as s, s.begin():  # no route deletes a published message; the rules do
        await s.execute(delete(Message).where(Message.id == uuid.UUID(m5)))
    full = await _same(db, "published message deleted, its rows with it")
    r = await admin.get("/v1/reports/brand-alignment", params={"group_by": "department"})
    assert r.status_code == 200, r.text
    total = r.json()["total"]["reach"]
    expected = [sum(row[i] for row in full[(90, 0)]) for i in (1, 3, 6)]
    assert [total["recipients"], total["deliveries"], total["acknowledged"]] == expected


async def test_buckets_cover_the_whole_weeks_with_aligned_spans():
    first, end = summary.EPOCH + timedelta(weeks=3), summary.EPOCH + timedelta(weeks=20)
    parts = summary.buckets(first, end)
    assert parts == [
        (1, summary.EPOCH + timedelta(weeks=3)),
        (4, summary.EPOCH + timedelta(weeks=4)),
        (8, summary.EPOCH + timedelta(weeks=8)),
        (4, summary.EPOCH + timedelta(weeks=16)),
    ]
    weeks = [start + timedelta(weeks=w) for span, start in parts for w in range(span)]
    assert weeks == [first + timedelta(weeks=w) for w in range(17)]
    monday = summary.EPOCH + timedelta(weeks=2900)
    midnight = summary.at_midnight(monday)
    assert summary.monday_on_or_after(midnight) == monday
    assert summary.monday_on_or_after(midnight + timedelta(microseconds=1)) == monday + timedelta(
        weeks=1
    )
    assert summary.monday_on_or_before(midnight - timedelta(microseconds=1)) == monday - timedelta(
        weeks=1
    )
