"""`/v1/me/preferences` and `/v1/employees/{external_id}/preferences`, and the employee's
`time_zone` from the directory (bulk sync, CSV, SCIM `timezone`)."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.principal import Scope
from app.employees.models import Employee
from app.preferences.models import EmployeePreference
from app.receipts.models import OptOut
from tests.me.conftest import bearer, hs256
from tests.scim.conftest import SCIM_JSON, scim_user


@pytest.fixture
async def me(anon, employee):
    await employee("E-1", country="MX")
    anon.headers.update(bearer(hs256("E-1")))
    return anon


async def test_defaults_come_from_the_company_and_the_directory(me):
    r = await me.get("/v1/me/preferences")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["digest"] == "off" and body["digest_hour"] == 9
    assert body["quiet_hours"] is None
    assert body["time_zone"] == "America/Mexico_City"
    assert body["time_zone_source"] == "country"
    assert body["email"]["news"] is True and len(body["email"]) == 9
    assert body["unsubscribed"] is False and body["chosen"] == []


async def test_company_defaults_are_settings(client_with, employee):
    await employee("E-1")
    client = await client_with(
        default_digest="weekly", default_quiet_hours="21:00-07:30", digest_hour=8
    )
    r = await client.get("/v1/me/preferences", headers=bearer(hs256("E-1")))
    body = r.json()
    assert (body["digest"], body["digest_hour"]) == ("weekly", 8)
    assert body["quiet_hours"] == {"start": "21:00", "end": "07:30"}
    assert (body["time_zone"], body["time_zone_source"]) == ("UTC", "company")


async def test_put_replaces_and_get_reads_back(me, db):
    body = {
        "email": {"news": False, "campaign": True},
        "digest": "daily",
        "digest_hour": 7,
        "quiet_hours": {"start": "20:00", "end": "08:00"},
        "time_zone": "Europe/Madrid",
    }
    r = await me.put("/v1/me/preferences", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["email"]["news"] is False and out["email"]["campaign"] is True
    assert (out["digest"], out["digest_hour"]) == ("daily", 7)
    assert out["time_zone_source"] == "preferences"
    assert out["chosen"] == ["digest", "digest_hour", "email", "quiet_hours", "time_zone"]
    assert (await me.get("/v1/me/preferences")).json() == out
    # a PUT replaces the whole set: left out is back to the default; null quiet hours = none
    r = await me.put("/v1/me/preferences", json={"quiet_hours": None})
    out = r.json()
    assert out["digest"] == "off" and out["email"]["news"] is True
    assert out["quiet_hours"] is None and out["chosen"] == ["quiet_hours"]
    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
    assert actions.count("employee.preferences_updated") == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"quiet_hours": {"start": "20:00", "end": "20:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "25:00", "end": "08:00"}}, "start"),
        ({"digest": "hourly"}, "digest"),
        ({"digest_hour": 24}, "digest_hour"),
        ({"email": {"gossip": False}}, "email"),
        ({"advertising": True}, "advertising"),
        ({"time_zone": "x" * 10_000}, "time_zone"),
    ],
)
async def test_invalid_preferences_are_422_naming_the_field(me, body, field):
    r = await me.put("/v1/me/preferences", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text
    assert (await me.get("/v1/me/preferences")).json()["chosen"] == []


async def test_api_tokens_have_no_me_and_admins_need_employees_write(employee, client_for, anon):
    await employee("E-1")
    admin = await client_for(Scope.EMPLOYEES_WRITE)
    reader = await client_for(Scope.EMPLOYEES_READ)
    assert (await admin.get("/v1/me/preferences")).status_code == 403
    assert (await anon.get("/v1/me/preferences")).status_code == 401
    assert (await reader.get("/v1/employees/E-1/preferences")).status_code == 403
    assert (await reader.put("/v1/employees/E-1/preferences", json={})).status_code == 403
    r = await admin.put("/v1/employees/E-1/preferences", json={"digest": "weekly"})
    assert r.status_code == 200 and r.json()["digest"] == "weekly"
    assert (await admin.get("/v1/employees/E-1/preferences")).json()["digest"] == "weekly"
    assert (await admin.get("/v1/employees/NOPE/preferences")).status_code == 404
    assert (await admin.put("/v1/employees/NOPE/preferences", json={})).status_code == 404


async def test_an_employee_changes_only_their_own(me, employee, admin):
    await employee("E-2")
    await me.put("/v1/me/preferences", json={"digest": "daily"})
    assert (await admin.get("/v1/employees/E-2/preferences")).json()["digest"] == "off"


async def test_one_click_unsubscribe_shows_and_saving_preferences_ends_it(me, db, employee):
    async with db() as s, s.begin():
        who = (await s.execute(select(Employee.id))).scalar_one()
        s.add(OptOut(employee_id=who, channel="email", created_at=datetime.now(UTC)))
    body = (await me.get("/v1/me/preferences")).json()
    assert body["unsubscribed"] is True and set(body["email"].values()) == {False}
    body = (await me.put("/v1/me/preferences", json={"email": {"news": False}})).json()
    assert body["unsubscribed"] is False and body["email"]["policy"] is True
    async with db() as s:
        assert (await s.execute(select(OptOut))).first() is None


# --- the directory's time zone -------------------------------------------------------------


async def test_time_zone_through_the_api_and_bulk_sync(admin):
    r = await admin.put(
        "/v1/employees/E-1", json={"email": "e1@example.com", "time_zone": "Europe/Madrid"}
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["time_zone"] == "Europe/Madrid"
    r = await admin.post(
        "/v1/employees/bulk",
        json={"employees": [{"external_id": "E-2", "country": "MX", "time_zone": ""}]},
    )
    assert r.status_code == 200, r.text
    got = (await admin.get("/v1/employees/E-2")).json()
    assert got["time_zone"] is None
    prefs = (await admin.get("/v1/employees/E-2/preferences")).json()
    assert prefs["time_zone"] == "America/Mexico_City"
    prefs = (await admin.get("/v1/employees/E-1/preferences")).json()
    assert (prefs["time_zone"], prefs["time_zone_source"]) == ("Europe/Madrid", "directory")
    r = await admin.post(
        "/v1/employees/bulk",
        json={"employees": [{"external_id": "E-3", "time_zone": "Nowhere/Town"}]},
    )
    assert r.status_code == 422 and "time_zone" in r.text


async def test_scim_timezone(client_for, db):
    idp = await client_for(Scope.EMPLOYEES_WRITE)
    idp.headers["Content-Type"] = SCIM_JSON
    r = await idp.post("/scim/v2/Users", json=scim_user(1, timezone="America/Mexico_City"))
    assert r.status_code == 201, r.text
    assert r.json()["timezone"] == "America/Mexico_City"
    async with db() as s:
        zones = dict((await s.execute(select(Employee.external_id, Employee.time_zone))).all())
    assert zones["E00001"] == "America/Mexico_City"
    # a value that is no IANA zone reads back as sent, and the directory stores none
    r = await idp.post("/scim/v2/Users", json=scim_user(2, timezone="CET+1"))
    assert r.status_code == 201 and r.json()["timezone"] == "CET+1"
    async with db() as s:
        zones = dict((await s.execute(select(Employee.external_id, Employee.time_zone))).all())
    assert zones["E00002"] is None


async def test_erasure_forgets_the_time_zone_and_the_preferences(admin, db):
    r = await admin.put(
        "/v1/employees/E-1", json={"email": "e1@example.com", "time_zone": "Europe/Madrid"}
    )
    assert r.status_code in (200, 201)
    await admin.put("/v1/employees/E-1/preferences", json={"digest": "daily"})
    assert (await admin.delete("/v1/employees/E-1", params={"erase": "true"})).status_code in (
        200,
        204,
    )
    async with db() as s:
        row = (await s.execute(select(Employee))).scalar_one()
        assert row.time_zone is None and row.erased_at is not None
        assert (await s.execute(select(EmployeePreference))).first() is None
