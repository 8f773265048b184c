"""Audience CRUD over HTTP: ETags, conflicts, scopes, members, audit."""

import uuid
from typing import Any

from sqlalchemy import select

from app.audiences.models import Audience, MessageAudience
from app.audit.models import AuditEvent
from app.core.principal import Scope
from app.messages.models import Status
from tests.audiences.conftest import employee

SALES = {"attribute": "department", "op": "eq", "value": "Sales"}
FRONTLINE = {
    "all": [
        {"attribute": "customer_facing", "op": "eq", "value": True},
        {"attribute": "country", "op": "in", "value": ["ES", "MX", "AR"]},
        {"attribute": "hire_date", "op": "lt", "value": "2025-01-01"},
    ]
}


async def create(client, **fields: Any) -> dict[str, Any]:
    r = await client.post("/v1/audiences", json={"name": "Sales", "rule": SALES, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def audit_actions(db, entity_id: str) -> list[str]:
    async with db() as s:
        rows = await s.execute(
            select(AuditEvent.action)
            .where(AuditEvent.entity_type == "audience", AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.occurred_at)
        )
        return list(rows.scalars())


async def test_create_read_list(admin, people, db):
    r = await admin.post(
        "/v1/audiences",
        json={
            "name": "  Frontline ES/MX/AR  ",
            "key": "frontline-latam",
            "description": "Customer-facing staff hired before 2025",
            "rule": FRONTLINE,
            "include_external_ids": ["e3", "e3"],
            "exclude_external_ids": ["e5"],
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/audiences/{body['id']}"
    assert r.headers["etag"] == body["etag"]
    assert body["name"] == "Frontline ES/MX/AR"
    assert body["include_external_ids"] == ["e3"]
    assert body["member_count"] == 2  # e1 by rule, e3 included; e5 excluded
    assert body["created_by"].startswith("token:")

    r = await admin.get(f"/v1/audiences/{body['id']}")
    assert r.status_code == 200
    assert r.headers["etag"] == body["etag"]
    assert r.json() == body

    other = await create(admin)
    listed = (await admin.get("/v1/audiences")).json()
    assert [(a["id"], a["member_count"]) for a in listed["items"]] == [
        (other["id"], 2),
        (body["id"], 2),
    ]
    page = (await admin.get("/v1/audiences", params={"limit": 1})).json()
    assert [a["id"] for a in page["items"]] == [other["id"]]
    page = (
        await admin.get("/v1/audiences", params={"limit": 1, "cursor": page["next_cursor"]})
    ).json()
    assert [a["id"] for a in page["items"]] == [body["id"]]
    assert page["next_cursor"] is None
    keyed = (await admin.get("/v1/audiences", params={"key": "frontline-latam"})).json()
    assert [a["id"] for a in keyed["items"]] == [body["id"]]

    assert await audit_actions(db, body["id"]) == ["audience.created"]


async def test_member_count_follows_the_directory(admin, people, add_employees):
    audience = await create(admin)
    assert audience["member_count"] == 2
    await add_employees([employee(f"new-{i}", department="Sales") for i in range(3)])
    r = await admin.get(f"/v1/audiences/{audience['id']}")
    assert r.json()["member_count"] == 5


async def test_preview_count_equals_members_list(admin, people, add_employees):
    await add_employees(
        [employee(f"s{i:03}", department="Sales", country="ES") for i in range(45)]
        + [employee(f"t{i:03}", department="Sales", active=False) for i in range(5)]
    )
    rule = {"all": [SALES, {"not": {"attribute": "country", "op": "eq", "value": "MX"}}]}
    lists = {"include_external_ids": ["e5"], "exclude_external_ids": ["s000", "e1"]}
    preview = (await admin.post("/v1/audiences/preview", json={"rule": rule, **lists})).json()
    assert preview["count"] == 45 - 1 + 1
    assert len(preview["sample"]) == 20
    assert preview["sample"][0] == {
        "external_id": "e5",
        "display_name": "Employee e5",
        "department": "Support",
        "country": "AR",
    }

    audience = await create(admin, rule=rule, **lists)
    assert audience["member_count"] == preview["count"]
    members, cursor = [], None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        r = await admin.get(f"/v1/audiences/{audience['id']}/members", params=params)
        assert r.status_code == 200
        members += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    ids = [m["external_id"] for m in members]
    assert len(ids) == preview["count"] == len(set(ids))
    assert ids == sorted(ids)
    assert [m["external_id"] for m in preview["sample"]] == ids[:20]


async def test_patch_with_etags(admin, people, db):
    audience = await create(admin, key="sales")
    url = f"/v1/audiences/{audience['id']}"

    r = await admin.patch(url, json={"name": "x"}, headers={"If-Match": '"stale"'})
    assert r.status_code == 412
    assert r.json()["current_etag"] == audience["etag"]

    r = await admin.patch(
        url,
        json={"rule": {"attribute": "customer_facing", "op": "eq", "value": True}, "key": None},
        headers={"If-Match": audience["etag"]},
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["etag"] != audience["etag"] == f'"{audience["id"]}-1"'
    assert r.headers["etag"] == changed["etag"]
    assert changed["key"] is None
    assert changed["member_count"] == 3
    assert changed["updated_at"] > audience["updated_at"]

    # the old ETag no longer applies
    r = await admin.patch(url, json={"name": "y"}, headers={"If-Match": audience["etag"]})
    assert r.status_code == 412

    # nothing changes: no new revision, no audit event
    r = await admin.patch(url, json={"name": "Sales"})
    assert r.json()["etag"] == changed["etag"]

    r = await admin.patch(url, json={"name": None})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.name"
    r = await admin.patch(url, json={"revision": 7})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.revision"

    assert await audit_actions(db, audience["id"]) == ["audience.created", "audience.updated"]
    async with db() as s:
        stored = await s.get(Audience, uuid.UUID(audience["id"]))
        assert stored.revision == 2
        assert stored.rule == {"attribute": "customer_facing", "op": "eq", "value": True}


async def test_duplicate_key_is_a_conflict(admin):
    await create(admin, key="all-staff")
    r = await admin.post(
        "/v1/audiences", json={"name": "Again", "key": "all-staff", "rule": {"all": []}}
    )
    assert r.status_code == 409
    assert "all-staff" in r.json()["detail"]

    other = await create(admin, key="other")
    r = await admin.patch(f"/v1/audiences/{other['id']}", json={"key": "all-staff"})
    assert r.status_code == 409
    # the same key on the same audience is no conflict
    r = await admin.patch(f"/v1/audiences/{other['id']}", json={"key": "other"})
    assert r.status_code == 200


async def test_delete(admin, db, add_message):
    audience = await create(admin)
    url = f"/v1/audiences/{audience['id']}"
    audience_id = uuid.UUID(audience["id"])

    r = await admin.delete(url, headers={"If-Match": '"stale"'})
    assert r.status_code == 412

    published = await add_message(Status.PUBLISHED, [audience_id])
    scheduled = await add_message(Status.SCHEDULED, [audience_id])
    draft = await add_message(Status.DRAFT, [audience_id])
    await add_message(Status.ARCHIVED, [audience_id])

    r = await admin.delete(url)
    assert r.status_code == 409
    problem = r.json()
    assert sorted(problem["message_ids"]) == sorted([str(published), str(scheduled)])

    async with db() as s, s.begin():
        await s.execute(
            MessageAudience.__table__.delete().where(
                MessageAudience.message_id.in_([published, scheduled])
            )
        )
    r = await admin.delete(url, headers={"If-Match": audience["etag"]})
    assert r.status_code == 204
    assert (await admin.get(url)).status_code == 404
    assert (await admin.delete(url)).status_code == 404
    async with db() as s:
        links = (await s.execute(select(MessageAudience.message_id))).scalars().all()
        assert draft not in links
        assert links == []
    assert await audit_actions(db, audience["id"]) == ["audience.created", "audience.deleted"]


async def test_not_found_and_bad_input(admin):
    missing = f"/v1/audiences/{uuid.uuid4()}"
    assert (await admin.get(missing)).status_code == 404
    assert (await admin.patch(missing, json={"name": "x"})).status_code == 404
    assert (await admin.get(f"{missing}/members")).status_code == 404
    assert (await admin.get("/v1/audiences/not-a-uuid")).status_code == 422

    r = await admin.post("/v1/audiences", json={"name": "x", "rule": SALES, "id": "mine"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.id"
    r = await admin.post("/v1/audiences", json={"name": "x", "rule": SALES, "key": "no spaces"})
    assert r.json()["errors"][0]["loc"] == "body.key"
    r = await admin.post("/v1/audiences", json={"name": "", "rule": SALES})
    assert r.json()["errors"][0]["loc"] == "body.name"
    r = await admin.post(
        "/v1/audiences",
        json={"name": "x", "rule": SALES, "include_external_ids": ["e"] * 10_001},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.include_external_ids"
    r = await admin.post("/v1/audiences/preview", json={"rule": SALES, "exclude": []})
    assert r.json()["errors"][0]["loc"] == "body.exclude"
    r = await admin.get("/v1/audiences", params={"limit": 201})
    assert r.status_code == 422


async def test_scopes(client_for, anon):
    reader = await client_for(Scope.AUDIENCES_READ)
    writer = await client_for(Scope.AUDIENCES_WRITE)
    other = await client_for(Scope.MESSAGES_READ, Scope.MESSAGES_WRITE)

    r = await writer.post("/v1/audiences", json={"name": "x", "rule": {"all": []}})
    assert r.status_code == 201
    url = f"/v1/audiences/{r.json()['id']}"

    assert (await reader.get("/v1/audiences")).status_code == 200
    assert (await reader.get(url)).status_code == 200
    assert (await reader.get(f"{url}/members")).status_code == 200
    assert (
        await reader.post("/v1/audiences/preview", json={"rule": {"all": []}})
    ).status_code == 200
    for method, path, body in [
        ("POST", "/v1/audiences", {"name": "x", "rule": {"all": []}}),
        ("PATCH", url, {"name": "y"}),
        ("DELETE", url, None),
    ]:
        r = await reader.request(method, path, json=body)
        assert r.status_code == 403, (method, path)
        assert "audiences:write" in r.json()["detail"]
    for client, status in [(other, 403), (anon, 401)]:
        assert (await client.get(url)).status_code == status
        assert (await client.get("/v1/audiences")).status_code == status
        r = await client.post("/v1/audiences/preview", json={"rule": {"all": []}})
        assert r.status_code == status
    assert (await writer.get(url)).status_code == 403
