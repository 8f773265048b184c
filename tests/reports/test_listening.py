"""The listening-loop report: questions answered and how fast, feedback that led to actions,
actions done vs declined, per unit under the minimum-group rule."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.actions.models import ActionLink
from app.core.database import utcnow
from app.feedback.models import Comment
from tests.feedback.conftest import as_employee, everyone, people, published  # noqa: F401

HR = {"kind": "department", "value": "HR"}


@pytest.fixture
async def loop(people, as_employee, published, admin, db):  # noqa: F811
    """Six Sales authors and two Ops authors asking questions, three anonymous comments, and
    three actions; times set so that every median is known."""
    sales = [f"S{i}" for i in range(6)]
    await people(*sales, department="Sales")
    await people("O1", "O2", department="Ops")
    named = await published()
    anonymous = await published(feedback={"anonymous_comments": True})
    base = utcnow() - timedelta(days=10)

    async def ask(who: str, message_id: str, kind: str = "question") -> str:
        r = await as_employee(who).post(
            f"/v1/me/messages/{message_id}/comments", json={"kind": kind, "body": f"{who}?"}
        )
        assert r.status_code == 201, r.text
        return uuid.UUID(r.json()["id"])

    ids = {who: await ask(who, named) for who in [*sales, "O1", "O2"]}
    anon = [await ask("S0", anonymous, "comment") for _ in range(3)]
    old = await ask("O1", named)  # outside the period
    answered = dict(zip([*sales, "O1", "O2"], [1, 2, 3, 4, 5, 6, 10, 20], strict=True))
    async with db() as s, s.begin():
        for who, hours in answered.items():
            await s.execute(
                update(Comment)
                .where(Comment.id == ids[who])
                .values(created_at=base, answer="A", answered_at=base + timedelta(hours=hours))
            )
        await s.execute(update(Comment).where(Comment.id.in_(anon)).values(created_at=base))
        await s.execute(
            update(Comment).where(Comment.id == old).values(created_at=base - timedelta(days=200))
        )

    async def act(*comment_ids: str) -> str:
        r = await admin.post(
            "/v1/actions",
            json={
                "title": "Act",
                "owner_unit": HR,
                "links": [{"kind": "comment", "comment_id": str(c)} for c in comment_ids],
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    done, declined = await act(ids["S0"], ids["S1"]), await act(anon[0])
    await act(old)
    await admin.post(f"/v1/actions/{done}/updates", json={"status": "done"})
    await admin.post(
        f"/v1/actions/{declined}/updates", json={"status": "declined", "reason": "No budget."}
    )
    async with db() as s, s.begin():
        for comment, hours in ((ids["S0"], 24), (ids["S1"], 48), (anon[0], 12)):
            await s.execute(
                update(ActionLink)
                .where(ActionLink.comment_id == comment)
                .values(linked_at=base + timedelta(hours=hours))
            )
    return base


async def test_the_loop_by_unit(loop, admin):
    since = (loop - timedelta(days=1)).isoformat()
    r = await admin.get("/v1/reports/listening", params={"since": since})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["total"] == {
        "feedback": 11,
        "questions_asked": 8,
        "questions_answered": 8,
        "median_hours_to_answer": 4.5,  # 1 2 3 4 | 5 6 10 20
        "feedback_linked": 3,
        "median_hours_to_action": 24.0,  # 12 24 48
    }
    # all three actions were created now, in the period; the old comment's too
    assert report["actions"] == {
        "created": 3,
        "planned": 1,
        "in_progress": 0,
        "done": 1,
        "declined": 1,
    }
    groups = {g["group"]: g for g in report["groups"]}
    # Ops (2 people) and the anonymous comments ("(unknown)", 3) are each under 5: merged
    assert list(groups) == ["Sales", "(other)"]
    assert groups["Sales"] == {
        "group": "Sales",
        "feedback": 6,
        "questions_asked": 6,
        "questions_answered": 6,
        "median_hours_to_answer": 3.5,
        "feedback_linked": 2,
        "median_hours_to_action": 36.0,
    }
    assert groups["(other)"] == {
        "group": "(other)",
        "feedback": 5,
        "questions_asked": 2,
        "questions_answered": 2,
        "median_hours_to_answer": 15.0,
        "feedback_linked": 1,
        "median_hours_to_action": 12.0,
    }


async def test_small_units_never_stand_alone(loop, admin):
    r = await admin.get(
        "/v1/reports/listening",
        params={"since": (loop - timedelta(days=1)).isoformat(), "group_by": "country"},
    )
    # nobody has a country: the named authors are "(unknown)" with the anonymous comments
    assert [g["group"] for g in r.json()["groups"]] == ["(unknown)"]
    assert r.json()["groups"][0]["feedback"] == 11


async def test_the_report_needs_receipts_read_and_a_period(client_for, admin):
    reader = await client_for("messages:read")
    assert (await reader.get("/v1/reports/listening")).status_code == 403
    now = utcnow().isoformat()
    r = await admin.get("/v1/reports/listening", params={"since": now, "until": now})
    assert r.status_code == 422
    r = await admin.get("/v1/reports/listening")
    assert r.status_code == 200
    assert r.json()["total"]["median_hours_to_answer"] is None
    assert r.json()["groups"] == []
