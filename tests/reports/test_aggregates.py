"""The minimum-group rule: one implementation, and every report folds groups the same way."""

import uuid

from sqlalchemy import insert

from app.core.database import utcnow
from app.feedback.models import Reaction
from app.reports.aggregates import OTHER, partition, standalone_groups


def test_standalone_groups_rule():
    # a group of 4 is merged; (other) = 4 + 1 = 5 is large enough
    assert standalone_groups({"A": 6, "B": 5, "C": 4, "D": 1}, 5) == {"A", "B"}
    # (other) would hold 4: the smallest shown group joins it
    assert standalone_groups({"A": 6, "B": 5, "C": 4}, 5) == {"A"}
    # nothing small: nothing merged
    assert standalone_groups({"A": 6, "B": 5}, 5) == {"A", "B"}
    # too few overall: everything is (other)
    assert standalone_groups({"A": 3, "B": 1}, 5) == set()
    # `among` limits the candidates
    assert standalone_groups({"A": 6, "B": 7, "C": 9}, 5, among={"A", "B"}) == {"A", "B"}
    # groups are listed largest first, then by name, and the last one listed joins (other)
    # first; a group without a name (the attribute not set) is listed after the named ones
    assert standalone_groups({"A": 5, "B": 5, "C": 9, "D": 1}, 5) == {"A", "C"}
    assert standalone_groups({None: 6, "B": 9, "D": 1}, 5) == {"B"}


def test_partition_sums_the_merged_groups_largest_first():
    def g(n):
        return {"recipients": n, "read": n}

    folded = partition(
        {"a": g(1), "b": g(9), "c": g(4), None: g(6)}, size=lambda r: r["recipients"], minimum=5
    )
    assert folded.shown == ["b", None]
    assert (folded.other, folded.other_size) == ({"recipients": 5, "read": 5}, 5)
    folded = partition({"a": g(1), "b": g(9), "c": g(6)}, size=lambda r: r["recipients"], minimum=5)
    assert (folded.shown, folded.other_size) == (["b"], 7)
    folded = partition({"a": g(1), "b": g(2)}, size=lambda r: r["recipients"], minimum=5)
    assert (folded.shown, folded.other) == ([], {"recipients": 3, "read": 3})
    assert partition({}, size=lambda r: r["recipients"], minimum=5).other_size == 0


async def test_stats_feedback_and_alignment_fold_the_same_groups(admin, people, published, db):
    # Sales 7, Legal 5, Support 5 (listed after Legal by name), HR 2, Ops 1: (other) would
    # hold 3, so the last group listed (Support) joins it.
    sizes = {"Sales": 7, "Support": 5, "Legal": 5, "HR": 2, "Ops": 1}
    ids = []
    for department, n in sizes.items():
        ids += await people(*(f"{department}{i}" for i in range(n)), department=department)
    message_id = await published(pulse_question="Clear?")
    async with db() as s, s.begin():
        await s.execute(
            insert(Reaction),
            [
                {"message_id": uuid.UUID(message_id), "employee_id": e, "reaction": "like"}
                | {"reacted_at": utcnow()}
                for e in ids
            ],
        )

    stats = await admin.get(f"/v1/messages/{message_id}/stats", params={"group_by": "department"})
    feedback = await admin.get(
        f"/v1/messages/{message_id}/feedback", params={"group_by": "department"}
    )
    alignment = await admin.get("/v1/reports/brand-alignment", params={"group_by": "department"})
    assert stats.status_code == feedback.status_code == alignment.status_code == 200
    expected = [("Sales", 7), ("Legal", 5), (OTHER, 8)]
    assert [(g["key"], g["recipients"]) for g in stats.json()["groups"]] == expected
    assert [(g["group"], g["recipients"]) for g in feedback.json()["groups"]] == expected
    assert [(u["unit"], u["reach"]["recipients"]) for u in alignment.json()["units"]] == expected
    reactions = [(g["group"], g["reactions"]["total"]) for g in feedback.json()["groups"]]
    assert reactions == expected
