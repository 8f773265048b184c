"""The feedback figures of a message and the minimum-group rule (default minimum: 5)."""

import uuid

import pytest
from sqlalchemy import insert

from app.core.database import utcnow
from app.core.principal import Scope
from app.feedback.models import PulseAnswer, Reaction
from tests.messages.helpers import assert_problem

PULSE = "How confident are you explaining our brand promise?"


@pytest.fixture
def answers(db):
    """Store pulse scores and reactions directly: `{employee_id: score}`, `{employee_id: kind}`."""

    async def _store(message_id: str, scores=None, reactions=None) -> None:
        now = utcnow()
        mid = uuid.UUID(message_id)
        async with db() as s, s.begin():
            if scores:
                await s.execute(
                    insert(PulseAnswer),
                    [
                        {"message_id": mid, "employee_id": e, "score": v, "answered_at": now}
                        for e, v in scores.items()
                    ],
                )
            if reactions:
                await s.execute(
                    insert(Reaction),
                    [
                        {"message_id": mid, "employee_id": e, "reaction": k, "reacted_at": now}
                        for e, k in reactions.items()
                    ],
                )

    return _store


async def test_message_with_four_respondents_shows_no_pulse(people, published, answers, admin):
    sales = await people(*(f"S{i}" for i in range(8)), department="Sales")
    message_id = await published(pulse_question=PULSE)
    await answers(message_id, scores=dict(zip(sales[:4], [5, 4, 4, 1], strict=True)))

    r = await admin.get(f"/v1/messages/{message_id}/feedback")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pulse_question"] == PULSE
    assert body["recipients"] == 8
    assert body["pulse"] is None  # 4 respondents: no mean, no distribution, no count

    r = await admin.get(f"/v1/messages/{message_id}/feedback", params={"group_by": "department"})
    groups = r.json()["groups"]
    assert groups == [
        {"group": "Sales", "recipients": 8, "reactions": None, "pulse": None},
    ]

    await answers(message_id, scores={sales[4]: 2})
    r = await admin.get(f"/v1/messages/{message_id}/feedback")
    assert r.json()["pulse"] == {
        "responses": 5,
        "mean": 3.2,
        "distribution": {"1": 1, "2": 1, "3": 0, "4": 2, "5": 1},
    }


async def test_groups_under_the_minimum_are_merged(people, published, answers, admin):
    sales = await people(*(f"S{i}" for i in range(7)), department="Sales")
    support = await people(*(f"P{i}" for i in range(6)), department="Support")
    legal = await people(*(f"L{i}" for i in range(4)), department="Legal")
    nobody = await people("N0", department=None)
    message_id = await published(pulse_question=PULSE)
    # Sales 6 answers, Support 5, Legal 4 (a group of 4), no department 1
    scores = {
        **dict(zip(sales[:6], [5, 5, 4, 4, 3, 3], strict=True)),
        **dict(zip(support[:5], [2, 2, 3, 4, 4], strict=True)),
        **dict(zip(legal, [1, 1, 2, 5], strict=True)),
        nobody[0]: 5,
    }
    reactions = {
        **dict.fromkeys(sales[:5], "like"),
        **dict.fromkeys(support[:2], "concerned"),
        legal[0]: "love",
    }
    await answers(message_id, scores=scores, reactions=reactions)

    r = await admin.get(f"/v1/messages/{message_id}/feedback", params={"group_by": "department"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["recipients"] == 18 and body["group_by"] == "department"
    assert body["min_group_size"] == 5
    assert body["pulse"] == {
        "responses": 16,
        "mean": round(53 / 16, 2),
        "distribution": {"1": 2, "2": 3, "3": 3, "4": 4, "5": 4},
    }
    assert body["reactions"] == {
        "total": 8,
        "like": 5,
        "love": 1,
        "insightful": 0,
        "celebrate": 0,
        "concerned": 2,
    }
    groups = {g["group"]: g for g in body["groups"]}
    assert [g["group"] for g in body["groups"]] == ["Sales", "Support", "(other)"]
    # Legal (4 recipients) and the employee without a department are merged for everything
    assert groups["(other)"]["recipients"] == 5
    # Sales: 6 answers, shown; Support: 5 answers, shown
    assert groups["Sales"]["pulse"] == {
        "responses": 6,
        "mean": 4.0,
        "distribution": {"1": 0, "2": 0, "3": 2, "4": 2, "5": 2},
    }
    assert groups["Support"]["pulse"]["responses"] == 5
    assert groups["Support"]["pulse"]["mean"] == 3.0
    # (other): Legal's 4 and the 1 without department = 5 answers
    assert groups["(other)"]["pulse"] == {
        "responses": 5,
        "mean": 2.8,
        "distribution": {"1": 2, "2": 1, "3": 0, "4": 0, "5": 2},
    }
    # reactions: Sales has 5 reactors (shown); Support's 2 and Legal's 1 make (other) of 3,
    # too few, so Sales joins it and no group shows reactions on its own
    assert groups["Sales"]["reactions"] is None and groups["Support"]["reactions"] is None
    assert groups["(other)"]["reactions"] == body["reactions"]
    # whatever is shown, total minus the groups shown is (other), never fewer than 5 people
    shown = sum(g["pulse"]["responses"] for g in body["groups"] if g["group"] != "(other)")
    assert body["pulse"]["responses"] - shown == groups["(other)"]["pulse"]["responses"] >= 5


async def test_small_other_group_takes_the_smallest_shown_group(people, published, answers, admin):
    a = await people(*(f"A{i}" for i in range(6)), country="ES")
    b = await people(*(f"B{i}" for i in range(5)), country="MX")
    c = await people(*(f"C{i}" for i in range(4)), country="AR")
    message_id = await published(pulse_question=PULSE)
    await answers(message_id, scores=dict.fromkeys(a + b, 4) | dict.fromkeys(c, 1))

    r = await admin.get(f"/v1/messages/{message_id}/feedback", params={"group_by": "country"})
    groups = {g["group"]: g for g in r.json()["groups"]}
    # AR (4) alone in (other) would be exposed by subtraction: MX (5, the smallest) joins it
    assert list(groups) == ["ES", "(other)"]
    assert groups["ES"]["pulse"]["responses"] == 6
    assert groups["(other)"]["recipients"] == 9
    assert groups["(other)"]["pulse"]["responses"] == 9
    assert groups["(other)"]["pulse"]["mean"] == round((5 * 4 + 4 * 1) / 9, 2)


async def test_feedback_figures_scopes_and_input(people, published, client_for):
    await people("E-1")
    message_id = await published()
    reader = await client_for(Scope.RECEIPTS_READ)
    r = await reader.get(f"/v1/messages/{message_id}/feedback")
    assert r.status_code == 200
    body = r.json()
    assert body["pulse"] is None and body["groups"] is None and body["group_by"] is None
    assert body["reactions"]["total"] == 0 and body["recipients"] == 1
    assert_problem(
        await reader.get(f"/v1/messages/{message_id}/feedback", params={"group_by": "salary"}),
        422,
    )
    writer = await client_for(Scope.MESSAGES_WRITE, Scope.MESSAGES_READ)
    assert_problem(await writer.get(f"/v1/messages/{message_id}/feedback"), 403)


async def test_reactions_counted_through_the_api(people, as_employee, published, admin):
    await people("E-1", "E-2", "E-3")
    message_id = await published()
    for who, kind in (("E-1", "love"), ("E-2", "love"), ("E-3", "celebrate")):
        r = await as_employee(who).put(
            f"/v1/me/messages/{message_id}/reaction", json={"reaction": kind}
        )
        assert r.status_code == 200
    await as_employee("E-3").delete(f"/v1/me/messages/{message_id}/reaction")
    r = await admin.get(f"/v1/messages/{message_id}/feedback")
    assert r.json()["reactions"] == {
        "total": 2,
        "like": 0,
        "love": 2,
        "insightful": 0,
        "celebrate": 0,
        "concerned": 0,
    }
