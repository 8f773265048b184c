"""One employee at a time: PUT (create/replace), GET, list filters, scopes, deactivation."""

import asyncio

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.principal import Scope
from tests.employees.conftest import person, without_id


async def test_put_creates_then_replaces(writer, rows):
    r = await writer.put("/v1/employees/E00001", json=without_id(person(1)))
    assert r.status_code == 201
    assert r.headers["location"] == "/v1/employees/E00001"
    body = r.json()
    assert body["external_id"] == "E00001"
    assert body["active"] is True
    assert body["deactivated_at"] is None
    assert body["attributes"] == {"cost_center": "CC-310", "shift_hours": 8}
    first_etag = r.headers["etag"]

    r = await writer.put(
        "/v1/employees/E00001", json=person(1, department="Marketing", customer_facing=False)
    )
    assert r.status_code == 200
    assert "location" not in r.headers
    assert r.json()["department"] == "Marketing"
    assert r.headers["etag"] != first_etag

    got = await writer.get("/v1/employees/E00001")
    assert got.status_code == 200
    assert got.headers["etag"] == r.headers["etag"]
    assert got.json() == r.json()
    stored = (await rows())["E00001"]
    assert stored.department == "Marketing"
    assert stored.customer_facing is False
    assert stored.revision == 2


async def test_identical_put_is_not_rewritten(writer, rows, db):
    await writer.put("/v1/employees/E00001", json=person(1))
    before = (await rows())["E00001"]

    r = await writer.put("/v1/employees/E00001", json=person(1))
    assert r.status_code == 200
    after = (await rows())["E00001"]
    assert (after.revision, after.updated_at) == (before.revision, before.updated_at)
    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
    assert actions.count("employee.created") == 1
    assert "employee.updated" not in actions


async def test_put_normalizes_input(writer, rows):
    r = await writer.put(
        "/v1/employees/E00001",
        json={
            "email": "Ana.Garcia@Example.COM",
            "user_name": "Ana.Garcia",
            "country": "es",
            "locale": "es_mx",
            "display_name": "  Ana García  ",
            "department": "",
            "attributes": {"zeta": 1, "alpha": True},
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert body["email"] == "ana.garcia@example.com"
    assert body["user_name"] == "ana.garcia"
    assert body["country"] == "ES"
    assert body["locale"] == "es-MX"
    assert body["display_name"] == "Ana García"
    assert body["department"] is None
    assert body["customer_facing"] is False
    assert (await rows())["E00001"].attributes == {"alpha": True, "zeta": 1}


async def test_put_rejects_bad_input(writer):
    r = await writer.put("/v1/employees/E00001", json=person(2))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.external_id"
    assert "path" in r.json()["errors"][0]["msg"]

    r = await writer.put(
        "/v1/employees/E00001",
        json={
            "email": "nope",
            "country": "XX",
            "locale": "not a locale",
            "employment_type": "freelance",
            "job_level": -1,
            "hire_date": "yesterday",
            "salary": 100,
            "attributes": {"1bad": "x", "ok": None, "long": "x" * 501},
        },
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    locs = {e["loc"] for e in r.json()["errors"]}
    assert locs >= {
        "body.email",
        "body.country",
        "body.locale",
        "body.employment_type",
        "body.job_level",
        "body.hire_date",
        "body.salary",
        "body.attributes.1bad.[key]",
        "body.attributes.ok",
        "body.attributes.long",
    }

    too_many = {f"k{i}": i for i in range(51)}
    r = await writer.put("/v1/employees/E00001", json={"attributes": too_many})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.attributes"


async def test_if_match(writer):
    r = await writer.put("/v1/employees/E00001", json=person(1), headers={"If-Match": '"anything"'})
    assert r.status_code == 412  # nothing to match yet

    etag = (await writer.put("/v1/employees/E00001", json=person(1))).headers["etag"]
    changed = await writer.put(
        "/v1/employees/E00001", json=person(1, job_level=5), headers={"If-Match": etag}
    )
    assert changed.status_code == 200
    stale = await writer.put(
        "/v1/employees/E00001", json=person(1, job_level=6), headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["current_etag"] == changed.headers["etag"]
    r = await writer.delete("/v1/employees/E00001", headers={"If-Match": etag})
    assert r.status_code == 412


async def test_email_is_unique_case_insensitively(writer):
    assert (await writer.put("/v1/employees/E00001", json=person(1))).status_code == 201
    r = await writer.put("/v1/employees/E00002", json=person(2, email="PERSON1@example.com"))
    assert r.status_code == 409
    assert r.json()["errors"] == [
        {
            "loc": "body.email",
            "msg": "already used by another employee (external_id 'E00001')",
            "type": "value_error",
        }
    ]
    assert (await writer.get("/v1/employees/E00002")).status_code == 404

    r = await writer.put("/v1/employees/E00002", json=person(2, user_name="shared"))
    assert r.status_code == 201
    r = await writer.put("/v1/employees/E00001", json=person(1, user_name="SHARED"))
    assert r.status_code == 409
    assert r.json()["errors"][0]["loc"] == "body.user_name"


async def test_concurrent_creates_of_one_employee(writer, rows):
    results = await asyncio.gather(
        writer.put("/v1/employees/E00001", json=person(1, job_level=1)),
        writer.put("/v1/employees/E00001", json=person(1, job_level=2)),
    )
    assert sorted(r.status_code for r in results) == [200, 201]
    assert len(await rows()) == 1


async def test_get_unknown_employee(writer):
    r = await writer.get("/v1/employees/nobody")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_scopes(client_for, anon, writer):
    await writer.put("/v1/employees/E00001", json=person(1))
    reader = await client_for(Scope.EMPLOYEES_READ)
    assert (await reader.get("/v1/employees")).status_code == 200
    assert (await reader.get("/v1/employees/E00001")).status_code == 200
    for call in (
        reader.put("/v1/employees/E00001", json=person(1)),
        reader.post("/v1/employees/bulk", json={"employees": [person(1)]}),
        reader.delete("/v1/employees/E00001"),
        reader.delete("/v1/employees/E00001", params={"erase": "true"}),
    ):
        r = await call
        assert r.status_code == 403
        assert "employees:write" in r.json()["detail"]

    write_only = await client_for(Scope.EMPLOYEES_WRITE)
    assert (await write_only.get("/v1/employees")).status_code == 403
    other = await client_for(Scope.MESSAGES_WRITE)
    assert (await other.put("/v1/employees/E00001", json=person(1))).status_code == 403
    assert (await anon.get("/v1/employees")).status_code == 401
    assert (await anon.put("/v1/employees/E00001", json=person(1))).status_code == 401


async def test_list_filters_and_q(writer):
    people = [
        person(1, department="Sales", country="ES", display_name="Ana García"),
        person(2, department="Sales", country="MX", customer_facing=False, locale="es-MX"),
        person(
            3,
            department="Engineering",
            country="ES",
            employment_type="contractor",
            manager_external_id="E00001",
            job_title="Engineer",
            hire_date="2024-02-01",
        ),
        person(
            4,
            department="Marketing",
            division="Corporate",
            location="Paris",
            country="FR",
            email="Zoe.Martin@example.com",
            display_name="Zoé 100% Martin",
            job_level=7,
        ),
        person(5, department="Sales", country="ES", active=False),
    ]
    r = await writer.post("/v1/employees/bulk", json={"employees": people})
    assert r.status_code == 200

    async def ids(**params) -> list[str]:
        resp = await writer.get("/v1/employees", params=params)
        assert resp.status_code == 200, resp.text
        return [e["external_id"] for e in resp.json()["items"]]

    assert await ids() == ["E00001", "E00002", "E00003", "E00004", "E00005"]
    assert await ids(department="Sales") == ["E00001", "E00002", "E00005"]
    assert await ids(department="Sales", active="true") == ["E00001", "E00002"]
    assert await ids(active="false") == ["E00005"]
    assert await ids(country="es", department="Sales") == ["E00001", "E00005"]
    assert await ids(division="Corporate") == ["E00004"]
    assert await ids(location="Paris") == ["E00004"]
    assert await ids(job_title="Engineer") == ["E00003"]
    assert await ids(job_level=7) == ["E00004"]
    assert await ids(employment_type="contractor") == ["E00003"]
    assert await ids(customer_facing="false") == ["E00002"]
    assert await ids(manager_external_id="E00001") == ["E00003"]
    assert await ids(locale="es_mx") == ["E00002"]
    assert await ids(email="ZOE.MARTIN@example.com") == ["E00004"]
    assert await ids(hired_from="2024-01-01") == ["E00003"]
    assert await ids(hired_until="2023-12-31") == ["E00001", "E00002", "E00004", "E00005"]
    assert await ids(q="garcía") == ["E00001"]
    assert await ids(q="ZOE.MARTIN") == ["E00004"]  # e-mail
    assert await ids(q="100%") == ["E00004"]  # `%` is a literal, not a wildcard
    assert await ids(q="number3") == ["E00003"]  # family name
    assert await ids(department="Nobody") == []

    r = await writer.get("/v1/employees", params={"country": "XX", "employment_type": "x"})
    assert r.status_code == 422
    assert {e["loc"] for e in r.json()["errors"]} == {"query.country", "query.employment_type"}


async def test_list_pagination(writer):
    await writer.post("/v1/employees/bulk", json={"employees": [person(n) for n in range(1, 8)]})
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await writer.get("/v1/employees", params=params)).json()
        seen += [e["external_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"E{n:05d}" for n in range(1, 8)]
    assert (await writer.get("/v1/employees", params={"limit": 201})).status_code == 422
    assert (await writer.get("/v1/employees", params={"cursor": "garbage"})).status_code == 422


async def test_delete_deactivates(writer, rows, db):
    await writer.put("/v1/employees/E00001", json=person(1))
    r = await writer.delete("/v1/employees/E00001")
    assert r.status_code == 204
    body = (await writer.get("/v1/employees/E00001")).json()
    assert body["active"] is False
    assert body["deactivated_at"] is not None
    assert body["email"] == "person1@example.com"  # deactivation keeps the record

    # again: a no-op, still 204, no second audit row
    assert (await writer.delete("/v1/employees/E00001")).status_code == 204
    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
    assert actions.count("employee.deactivated") == 1
    assert (await writer.delete("/v1/employees/nobody")).status_code == 404

    # the HRIS sends the person again: reactivated
    r = await writer.put("/v1/employees/E00001", json=person(1))
    assert r.status_code == 200
    assert r.json()["active"] is True
    assert r.json()["deactivated_at"] is None


async def test_writes_are_audited_without_personal_data(writer, db):
    await writer.put("/v1/employees/E00001", json=person(1))
    await writer.put("/v1/employees/E00001", json=person(1, job_level=9))
    await writer.delete("/v1/employees/E00001")
    async with db() as s:
        events = (await s.execute(select(AuditEvent).order_by(AuditEvent.occurred_at))).scalars()
        events = list(events)
    assert [e.action for e in events if e.entity_type == "employee"] == [
        "employee.created",
        "employee.updated",
        "employee.deactivated",
    ]
    updated = next(e for e in events if e.action == "employee.updated")
    assert updated.details == {"fields": ["job_level"]}
    assert all("person1" not in str(e.details) for e in events)
