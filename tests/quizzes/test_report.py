"""The comprehension-check report: pass rates by unit under the minimum-group rule, and the
share of wrong answers per question."""

import uuid

from tests.quizzes.conftest import HALF, RIGHT, WRONG

FEED = "/v1/me/messages"


async def _attempt(as_employee, who: str, message_id: str, *answers: dict) -> None:
    for given in answers:
        r = await as_employee(who).post(
            f"{FEED}/{message_id}/quiz-attempts", json={"answers": given}
        )
        assert r.status_code == 201, r.text


async def test_pass_rates_by_unit_and_the_question_people_miss(people, as_employee, policy, admin):
    sales = [f"S{i}" for i in range(6)]
    support = [f"T{i}" for i in range(5)]
    ops = ["O1", "O2"]
    await people(*sales, department="Sales")
    await people(*support, department="Support")
    await people(*ops, department="Ops")
    message_id = await policy()
    for who in sales[:5]:
        await _attempt(as_employee, who, message_id, RIGHT)
    await _attempt(as_employee, sales[5], message_id, HALF, HALF, RIGHT)
    for who in support:
        await _attempt(as_employee, who, message_id, HALF, RIGHT)
    await _attempt(as_employee, "O1", message_id, WRONG)
    await _attempt(as_employee, "O2", message_id, WRONG, HALF)

    r = await admin.get(f"/v1/messages/{message_id}/quiz-report")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["overall"] == {
        "employees": 13,
        "passed": 11,
        "passed_first_time": 5,
        "attempts": 5 + 3 + 10 + 1 + 2,
        "first_attempt_pass_rate": round(5 / 13, 4),
        "attempts_per_pass": round(21 / 11, 4),
    }
    assert report["groups"] == [] and report["group_by"] is None
    # q2 ("Which must be reported?") is the one people miss
    assert report["questions"] == [
        {
            "id": "q1",
            "text": "Who may accept gifts?",
            "answers": 21,
            "wrong": 2,
            "wrong_share": round(2 / 21, 4),
        },
        {
            "id": "q2",
            "text": "Which must be reported?",
            "answers": 21,
            "wrong": 10,
            "wrong_share": round(10 / 21, 4),
        },
    ]

    r = await admin.get(f"/v1/messages/{message_id}/quiz-report", params={"group_by": "department"})
    groups = {g["group"]: g for g in r.json()["groups"]}
    # Ops (2) is under the minimum of 5; Support, the smallest shown, joins it
    assert list(groups) == ["Sales", "(other)"]
    assert groups["Sales"] == {
        "group": "Sales",
        "employees": 6,
        "passed": 6,
        "passed_first_time": 5,
        "attempts": 8,
        "first_attempt_pass_rate": round(5 / 6, 4),
        "attempts_per_pass": round(8 / 6, 4),
    }
    assert groups["(other)"]["employees"] == 7 and groups["(other)"]["passed"] == 5
    assert groups["(other)"]["passed_first_time"] == 0


async def test_small_numbers_show_no_question_figures(people, as_employee, policy, admin):
    await people("E-1", "E-2")
    message_id = await policy()
    await _attempt(as_employee, "E-1", message_id, HALF)
    r = await admin.get(f"/v1/messages/{message_id}/quiz-report", params={"group_by": "country"})
    report = r.json()
    assert report["overall"]["employees"] == 1
    assert [g["group"] for g in report["groups"]] == ["(other)"]
    assert [(q["answers"], q["wrong"], q["wrong_share"]) for q in report["questions"]] == [
        (None, None, None),
        (None, None, None),
    ]


async def test_the_report_needs_receipts_read(client_for, admin, policy, people):
    await people("E-1")
    message_id = await policy()
    narrow = await client_for("messages:read")
    r = await narrow.get(f"/v1/messages/{message_id}/quiz-report")
    assert r.status_code == 403
    r = await admin.get(f"/v1/messages/{uuid.uuid4()}/quiz-report")
    assert r.status_code == 404
    r = await admin.get(f"/v1/messages/{message_id}/quiz-report", params={"group_by": "shoe_size"})
    assert r.status_code == 422
