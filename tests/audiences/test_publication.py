"""Publishing a message to its audiences, end to end through the HTTP API."""

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from app.receipts.models import Recipient

SOUTH = {
    "name": "Front line in ES, MX and AR hired before 2025",
    "rule": {
        "all": [
            {"attribute": "customer_facing", "op": "eq", "value": True},
            {"attribute": "country", "op": "in", "value": ["ES", "MX", "AR"]},
            {"attribute": "hire_date", "op": "lt", "value": "2025-01-01"},
        ]
    },
}

PEOPLE = [
    # external_id, country, customer_facing, hire_date, department
    ("E1", "ES", True, "2020-03-01", "Retail"),
    ("E2", "MX", True, "2024-12-31", "Retail"),
    ("E3", "AR", True, "2019-01-01", "Support"),
    ("E4", "ES", False, "2020-03-01", "Finance"),  # not customer-facing
    ("E5", "ES", True, "2025-02-01", "Retail"),  # hired too late
    ("E6", "DE", True, "2018-05-05", "Retail"),  # wrong country
    ("E7", "MX", True, "2021-07-07", "Support"),
]


async def _employees(admin: httpx.AsyncClient, people=PEOPLE) -> None:
    for external_id, country, facing, hired, department in people:
        r = await admin.put(
            f"/v1/employees/{external_id}",
            json={
                "email": f"{external_id.lower()}@example.com",
                "display_name": external_id,
                "country": country,
                "customer_facing": facing,
                "hire_date": hired,
                "department": department,
            },
        )
        assert r.status_code in (200, 201), r.text


async def _message(admin: httpx.AsyncClient, audience_ids: list[str], **fields) -> dict:
    body = {"category": "brand_promise", "title": "Our promise", "audience_ids": audience_ids}
    r = await admin.post("/v1/messages", json={**body, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def _recipients(db, message_id: str) -> int:
    stmt = select(func.count()).where(Recipient.message_id == uuid.UUID(message_id))
    async with db() as s:
        return (await s.execute(stmt)).scalar_one()


async def test_editor_builds_previews_and_publishes_to_an_audience(admin, db):
    await _employees(admin)
    preview = (await admin.post("/v1/audiences/preview", json={"rule": SOUTH["rule"]})).json()
    assert preview["count"] == 4
    assert sorted(e["external_id"] for e in preview["sample"]) == ["E1", "E2", "E3", "E7"]

    audience = (await admin.post("/v1/audiences", json=SOUTH)).json()
    assert audience["member_count"] == 4
    message = await _message(admin, [audience["id"]])
    assert message["audience_ids"] == [audience["id"]]

    r = await admin.post(f"/v1/messages/{message['id']}/publish", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"
    assert r.json()["recipient_count"] == preview["count"]
    assert await _recipients(db, message["id"]) == 4
    got = (await admin.get(f"/v1/messages/{message['id']}")).json()
    assert got["recipient_count"] == 4 and got["audience_ids"] == [audience["id"]]


async def test_overlapping_audiences_reach_each_employee_once(admin, db):
    await _employees(admin)
    south = (await admin.post("/v1/audiences", json=SOUTH)).json()
    retail = (
        await admin.post(
            "/v1/audiences",
            json={
                "name": "Retail",
                "rule": {"attribute": "department", "op": "eq", "value": "Retail"},
            },
        )
    ).json()
    message = await _message(admin, [south["id"], retail["id"], south["id"]])
    assert message["audience_ids"] == [south["id"], retail["id"]]
    r = await admin.post(f"/v1/messages/{message['id']}/publish", json={})
    # south: E1 E2 E3 E7; retail: E1 E2 E5 E6 -> union of 6
    assert r.json()["recipient_count"] == 6
    assert await _recipients(db, message["id"]) == 6


async def test_publishing_without_an_audience_is_refused(admin):
    r = await admin.post("/v1/messages", json={"category": "news", "title": "To nobody"})
    assert r.status_code == 201 and r.json()["audience_ids"] == []
    r = await admin.post(f"/v1/messages/{r.json()['id']}/publish", json={})
    assert r.status_code == 409
    assert "audience" in r.json()["detail"]


async def test_unknown_audience_is_422_naming_it(admin, everyone):
    missing = "00000000-0000-0000-0000-000000000001"
    r = await admin.post(
        "/v1/messages",
        json={"category": "news", "title": "x", "audience_ids": [everyone, missing]},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.audience_ids[1]"


async def test_audiences_change_on_drafts_but_not_after_publication(admin, everyone, db):
    await _employees(admin)
    south = (await admin.post("/v1/audiences", json=SOUTH)).json()
    message = await _message(admin, [everyone])
    r = await admin.patch(
        f"/v1/messages/{message['id']}",
        json={"audience_ids": [south["id"]]},
        headers={"If-Match": message["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["audience_ids"] == [south["id"]]
    assert r.headers["etag"] != message["etag"]
    audit = (
        await admin.get(
            "/v1/audit-events", params={"entity_id": message["id"], "action": "message.updated"}
        )
    ).json()["items"]
    assert audit[0]["details"]["fields"] == ["audience_ids"]

    assert (await admin.post(f"/v1/messages/{message['id']}/publish", json={})).status_code == 200
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"audience_ids": [everyone]})
    assert r.status_code == 409
    assert "publish a new message" in r.json()["detail"].lower()
    # repeating the same audiences is not a change
    r = await admin.patch(f"/v1/messages/{message['id']}", json={"audience_ids": [south["id"]]})
    assert r.status_code == 200
    assert await _recipients(db, message["id"]) == 4


async def test_audience_in_use_cannot_be_deleted(admin, everyone):
    message = await _message(admin, [everyone])
    assert (await admin.post(f"/v1/messages/{message['id']}/publish", json={})).status_code == 200
    r = await admin.delete(f"/v1/audiences/{everyone}")
    assert r.status_code == 409


async def test_concurrent_publishes_make_one_set_of_recipients(admin, db):
    await _employees(admin)
    south = (await admin.post("/v1/audiences", json=SOUTH)).json()
    message = await _message(admin, [south["id"]])
    responses = await asyncio.gather(
        *(admin.post(f"/v1/messages/{message['id']}/publish", json={}) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert await _recipients(db, message["id"]) == 4


async def test_late_joiners_become_recipients_when_the_hris_changes_them(admin, db):
    await _employees(admin)
    south = (await admin.post("/v1/audiences", json=SOUTH)).json()
    message = await _message(
        admin,
        [south["id"]],
        requires_acknowledgement=True,
        acknowledgement_text="I understood",
        acknowledge_within_days=7,
    )
    assert (await admin.post(f"/v1/messages/{message['id']}/publish", json={})).json()[
        "recipient_count"
    ] == 4

    # E4 becomes customer-facing (a mover), E8 is a new hire matching the rule
    await _employees(admin, [("E4", "ES", True, "2020-03-01", "Finance")])
    r = await admin.post(
        "/v1/employees/bulk",
        json={
            "mode": "upsert",
            "employees": [
                {
                    "external_id": "E8",
                    "country": "AR",
                    "customer_facing": True,
                    "hire_date": "2023-01-01",
                },
                {
                    "external_id": "E1",
                    "email": "e1@example.com",
                    "display_name": "E1",
                    "country": "DE",
                    "customer_facing": True,
                    "hire_date": "2020-03-01",
                    "department": "Retail",
                },
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert await _recipients(db, message["id"]) == 6  # E1 moved away but stays a recipient
    got = (await admin.get(f"/v1/messages/{message['id']}")).json()
    assert got["recipient_count"] == 6
    async with db() as s:
        rows = {
            str(r.employee_id): r
            for r in (
                await s.execute(
                    select(Recipient).where(Recipient.message_id == uuid.UUID(message["id"]))
                )
            ).scalars()
        }
    dues = sorted((r.targeted_at, r.due_at) for r in rows.values())
    assert all(due is not None and (due - targeted).days == 7 for targeted, due in dues)
    assert dues[-1][0] > dues[0][0]  # late joiners carry their own targeting time
