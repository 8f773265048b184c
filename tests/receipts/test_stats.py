"""`GET /v1/messages/{id}/stats`: figures on a hand-computed data set, groups and merging."""

import uuid
from datetime import timedelta

import pytest

from app.core.database import utcnow
from app.core.principal import Scope
from tests.messages.helpers import assert_problem
from tests.receipts.helpers import World, as_employee, person

ACK = {
    "requires_acknowledgement": True,
    "acknowledgement_text": "I have read and understood.",
    "acknowledge_within_days": 7,
}
COUNTS = ("recipients", "read", "acknowledged", "pending", "overdue")


def figures(body: dict) -> tuple:
    return tuple(body[k] for k in (*COUNTS, "read_rate", "acknowledgement_rate"))


# 15 recipients: Sales 6 (ES), Support 5 (MX), Legal 2 (MX), HR 1 (ES), one with no department
STAFF = [
    *(person(f"s{i}", department="Sales", country="ES", location="Madrid") for i in range(1, 7)),
    *(
        person(f"t{i}", department="Support", country="MX", location="Monterrey")
        for i in range(1, 6)
    ),
    person("l1", department="Legal", country="MX"),
    person("l2", department="Legal", country="MX"),
    person("h1", department="HR", country="ES"),
    person("n1"),
]


@pytest.fixture
async def arranged(world: World) -> str:
    """The data set whose figures the tests below work out by hand."""
    await world.people(*STAFF)
    message_id = await world.message([p["external_id"] for p in STAFF], **ACK)
    now = utcnow()
    await world.set_recipients(message_id, ["s1", "s2", "s3", "t1", "l1"], read_at=now)
    await world.set_recipients(
        message_id, ["s1", "s2", "t1"], acknowledged_at=now, acknowledged_version=1
    )
    # due dates passed: s1 acknowledged, s6 has left; the others are overdue
    await world.set_recipients(
        message_id, ["s1", "s4", "s5", "s6", "t2", "l2"], due_at=now - timedelta(days=1)
    )
    await world.set_employee("s6", active=False)
    return message_id


async def test_totals(world, arranged):
    r = await world.admin.get(f"/v1/messages/{arranged}/stats")
    assert r.status_code == 200, r.text
    body = r.json()
    # pending: 15 - 3 acknowledged - s6 (deactivated); overdue: s4, s5, t2, l2
    assert figures(body) == (15, 5, 3, 11, 4, 0.3333, 0.2)
    assert body["message_id"] == arranged
    assert (body["requires_acknowledgement"], body["version"], body["acknowledgement_version"]) == (
        True,
        1,
        1,
    )
    assert body["group_by"] is None and body["groups"] is None
    assert body["as_of"].endswith("Z")


async def test_group_by_department_merges_small_groups(world, arranged):
    r = await world.admin.get(f"/v1/messages/{arranged}/stats", params={"group_by": "department"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert figures(body) == (15, 5, 3, 11, 4, 0.3333, 0.2)
    assert (body["group_by"], body["min_group_size"]) == ("department", 5)
    # Legal (2), HR (1) and no department (1) make an "(other)" of 4 people, still too small:
    # the smallest shown group (Support, 5) joins it
    assert [(g["key"], *figures(g)) for g in body["groups"]] == [
        ("Sales", 6, 3, 2, 3, 2, 0.5, 0.3333),
        ("(other)", 9, 2, 1, 8, 2, 0.2222, 0.1111),
    ]


async def test_group_by_country_without_merging(world, arranged):
    body = (
        await world.admin.get(f"/v1/messages/{arranged}/stats", params={"group_by": "country"})
    ).json()
    # ES: s1-s6, h1 (7); MX: t1-t5, l1, l2 (7); n1 alone -> "(other)" of 1, topped up with
    # the smallest shown group (ES and MX tie at 7: the later in key order, MX)
    assert [(g["key"], g["recipients"], g["pending"], g["overdue"]) for g in body["groups"]] == [
        ("ES", 7, 4, 2),
        ("(other)", 8, 7, 2),
    ]


async def test_group_minimum_comes_from_settings(world, arranged, client_with, mint_token):
    client = await client_with(await mint_token(Scope.RECEIPTS_READ), min_group_size=2)
    body = (
        await client.get(f"/v1/messages/{arranged}/stats", params={"group_by": "department"})
    ).json()
    assert body["min_group_size"] == 2
    assert [(g["key"], g["recipients"]) for g in body["groups"]] == [
        ("Sales", 6),
        ("Support", 5),
        ("Legal", 2),
        ("(other)", 2),  # HR (1) and no department (1)
    ]


async def test_reacknowledgement_resets_acknowledged(world, arranged):
    r = await world.admin.patch(
        f"/v1/messages/{arranged}", json={"body": "New", "require_reacknowledgement": True}
    )
    assert r.status_code == 200, r.text
    body = (await world.admin.get(f"/v1/messages/{arranged}/stats")).json()
    # nobody has acknowledged version 2; s1 (acknowledged v1, due passed) is overdue again
    assert figures(body) == (15, 5, 0, 14, 5, 0.3333, 0.0)
    assert body["acknowledgement_version"] == 2


async def test_message_without_acknowledgement(world):
    await world.people("a", "b")
    message_id = await world.message(["a", "b"])
    await world.set_recipients(message_id, ["a"], read_at=utcnow())
    body = (await world.admin.get(f"/v1/messages/{message_id}/stats")).json()
    assert figures(body) == (2, 1, 0, 0, 0, 0.5, None)


async def test_message_without_recipients(world):
    draft = await world.draft()
    body = (await world.admin.get(f"/v1/messages/{draft}/stats")).json()
    assert figures(body) == (0, 0, 0, 0, 0, None, None)
    grouped = (
        await world.admin.get(f"/v1/messages/{draft}/stats", params={"group_by": "location"})
    ).json()
    assert grouped["groups"] == []


async def test_stats_errors_and_scopes(world, arranged, anon, client_for):
    assert_problem(await world.admin.get(f"/v1/messages/{uuid.uuid4()}/stats"), 404)
    r = await world.admin.get(f"/v1/messages/{arranged}/stats", params={"group_by": "email"})
    assert assert_problem(r, 422)["errors"][0]["loc"] == "query.group_by"

    assert_problem(await anon.get(f"/v1/messages/{arranged}/stats"), 401)
    narrow = await client_for(Scope.MESSAGES_READ, Scope.MESSAGES_WRITE)
    assert_problem(
        await narrow.get(f"/v1/messages/{arranged}/stats"), 403, detail_contains="receipts:read"
    )
    reader = await client_for(Scope.RECEIPTS_READ)
    assert (await reader.get(f"/v1/messages/{arranged}/stats")).status_code == 200

    # an employee, even a recipient, sees no one's receipts; an editor role may
    r = await anon.get(f"/v1/messages/{arranged}/stats", headers=as_employee("s1"))
    assert_problem(r, 403)
    r = await anon.get(
        f"/v1/messages/{arranged}/stats", headers=as_employee("s1", roles=["comms_editor"])
    )
    assert r.status_code == 200
