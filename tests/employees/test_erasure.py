"""DELETE /v1/employees/{external_id}?erase=true: personal data gone, aggregates kept."""

import uuid

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.employees.models import Employee
from tests.employees.conftest import person


async def test_erase_removes_personal_data_and_keeps_units(writer, db):
    created = (
        await writer.put(
            "/v1/employees/E00001",
            json=person(1, user_name="person1", employee_number="N-1", manager_external_id="E9"),
        )
    ).json()
    r = await writer.delete("/v1/employees/E00001", params={"erase": "true"})
    assert r.status_code == 204
    assert (await writer.get("/v1/employees/E00001")).status_code == 404

    async with db() as s:
        row = await s.get(Employee, uuid.UUID(created["id"]))
    assert row.external_id == f"erased-{row.id}"
    for gone in (
        "email",
        "user_name",
        "employee_number",
        "display_name",
        "given_name",
        "family_name",
        "job_title",
        "job_level",
        "manager_external_id",
        "hire_date",
        "locale",
    ):
        assert getattr(row, gone) is None, gone
    assert row.attributes == {}
    assert (row.department, row.division, row.location, row.country) == (
        "Sales",
        "Commercial",
        "Madrid HQ",
        "ES",
    )
    assert row.active is False
    assert row.erased_at is not None
    assert row.deactivated_at is not None

    async with db() as s:
        event = (
            await s.execute(select(AuditEvent).where(AuditEvent.action == "employee.erased"))
        ).scalar_one()
    assert event.entity_id == created["id"]
    assert event.details is None

    # the anonymous row is still listed (inactive) and can be read by its new key only
    r = await writer.get(f"/v1/employees/erased-{row.id}")
    assert r.status_code == 200
    assert r.json()["email"] is None
    assert r.json()["erased_at"] is not None
    # erasing again is a no-op; writing to it is refused
    r = await writer.delete(f"/v1/employees/erased-{row.id}", params={"erase": "true"})
    assert r.status_code == 204
    r = await writer.put(f"/v1/employees/erased-{row.id}", json={"email": "x@example.com"})
    assert r.status_code == 409

    # the HRIS sending the old key again creates a new, unrelated employee
    r = await writer.put("/v1/employees/E00001", json=person(1))
    assert r.status_code == 201
    assert r.json()["id"] != created["id"]


async def test_erase_unknown_employee(writer):
    r = await writer.delete("/v1/employees/nobody", params={"erase": "true"})
    assert r.status_code == 404
