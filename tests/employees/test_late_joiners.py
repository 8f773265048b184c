"""Every create, update or reactivation hands the changed ids to enroll_late_joiners."""

import uuid

from tests.employees.conftest import person


async def test_put_calls_the_hook_with_the_changed_employee(writer, enrolled):
    r = await writer.put("/v1/employees/E00001", json=person(1))
    employee_id = uuid.UUID(r.json()["id"])
    assert enrolled == [[employee_id]]

    await writer.put("/v1/employees/E00001", json=person(1))  # unchanged: no call
    assert enrolled == [[employee_id]]

    await writer.put("/v1/employees/E00001", json=person(1, department="Marketing"))
    assert enrolled == [[employee_id], [employee_id]]

    await writer.delete("/v1/employees/E00001")  # deactivation enrolls nobody
    assert len(enrolled) == 2
    await writer.put("/v1/employees/E00001", json=person(1, department="Marketing"))
    assert enrolled[-1] == [employee_id]  # reactivated


async def test_bulk_calls_the_hook_once_with_created_and_updated_ids(writer, enrolled, rows):
    await writer.post("/v1/employees/bulk", json={"employees": [person(n) for n in range(4)]})
    ids = {e.external_id: e.id for e in (await rows()).values()}
    assert len(enrolled) == 1
    assert sorted(enrolled[0]) == sorted(ids.values())

    await writer.delete("/v1/employees/E00003")
    batch = [person(0), person(1, job_title="Lead"), person(3), person(4)]
    body = {"employees": batch, "mode": "full_sync", "allow_mass_deactivation": True}
    r = await writer.post("/v1/employees/bulk", json=body)
    assert r.json()["deactivated_external_ids"] == ["E00002"]
    assert r.json()["deactivated"] == 1
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (1, 2, 1)
    ids = {e.external_id: e.id for e in (await rows()).values()}
    assert len(enrolled) == 2
    # E00001 changed, E00003 reactivated, E00004 created; E00000 unchanged, E00002 deactivated
    assert sorted(enrolled[1]) == sorted([ids["E00001"], ids["E00003"], ids["E00004"]])

    await writer.post("/v1/employees/bulk", json={"employees": batch})
    assert len(enrolled) == 2  # nothing changed: no call
