"""POST /v1/employees/bulk: counts, all-or-nothing, duplicates, full sync, erasure guard."""

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.core.errors import Conflict
from app.employees.models import Employee
from app.receipts import service as receipts_service
from tests.employees.conftest import person


async def sync(client, employees, mode="upsert", **options):
    body = {"employees": employees, "mode": mode, **options}
    return await client.post("/v1/employees/bulk", json=body)


def counts(r) -> dict[str, int]:
    body = r.json()
    return {k: body[k] for k in ("created", "updated", "unchanged", "deactivated")}


async def test_created_updated_unchanged(writer, rows, db):
    r = await sync(writer, [person(n) for n in range(1, 6)])
    assert r.status_code == 200
    assert counts(r) == {"created": 5, "updated": 0, "unchanged": 0, "deactivated": 0}
    before = await rows()

    batch = [person(n) for n in range(1, 6)]
    batch[1] = person(2, department="Marketing")
    batch[3] = person(4, attributes={"cost_center": "CC-999"})
    batch += [person(6), person(7)]
    r = await sync(writer, batch)
    assert counts(r) == {"created": 2, "updated": 2, "unchanged": 3, "deactivated": 0}

    after = await rows()
    assert len(after) == 7
    for unchanged in ("E00001", "E00003", "E00005"):
        assert after[unchanged].updated_at == before[unchanged].updated_at
        assert after[unchanged].revision == 1
    for changed in ("E00002", "E00004"):
        assert after[changed].updated_at > before[changed].updated_at
        assert after[changed].revision == 2
        assert after[changed].created_at == before[changed].created_at
        assert after[changed].id == before[changed].id
    assert after["E00002"].department == "Marketing"
    assert after["E00004"].attributes == {"cost_center": "CC-999"}

    # the same attributes in another key order are the same record
    same = person(4, attributes={"cost_center": "CC-999"})
    r = await sync(writer, [same | {"attributes": dict(reversed(same["attributes"].items()))}])
    assert r.json()["unchanged"] == 1

    async with db() as s:
        stmt = select(AuditEvent.details).where(AuditEvent.action == "employees.synced")
        details = (await s.execute(stmt.order_by(AuditEvent.occurred_at))).scalars().all()
    assert len(details) == 3  # one per call, not one per record
    assert details[1] == {
        "mode": "upsert",
        "records": 7,
        "created": 2,
        "updated": 2,
        "unchanged": 3,
        "deactivated": 0,
    }


async def test_one_bad_record_in_a_thousand_changes_nothing(writer, rows):
    await sync(writer, [person(n) for n in range(5)])
    before = await rows()

    batch = [person(n, department="Changed") for n in range(1000)]
    batch[500]["email"] = "not-an-email"
    batch[731]["country"] = "XX"
    r = await sync(writer, batch)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in r.json()["errors"]] == [
        "body.employees[500].email",
        "body.employees[731].country",
    ]
    after = await rows()
    assert after.keys() == before.keys()
    assert all(e.department == "Sales" for e in after.values())


async def test_failure_after_writes_rolls_everything_back(writer, rows, monkeypatch):
    await sync(writer, [person(1)])

    async def _fail(_session, *, employee_ids):
        raise Conflict("the hook refused")

    monkeypatch.setattr(receipts_service, "enroll_late_joiners", _fail)
    r = await sync(writer, [person(1, department="Changed"), person(2)], mode="full_sync")
    assert r.status_code == 409
    after = await rows()
    assert list(after) == ["E00001"]
    assert after["E00001"].department == "Sales"


async def test_duplicates_inside_the_batch(writer, rows):
    batch = [person(n) for n in range(6)]
    batch[3]["external_id"] = batch[1]["external_id"]
    batch[5]["email"] = batch[2]["email"].upper()
    r = await sync(writer, batch)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert [e["loc"] for e in errors] == [
        "body.employees[3].external_id",
        "body.employees[5].email",
    ]
    assert "employees[1]" in errors[0]["msg"]
    assert "employees[2]" in errors[1]["msg"]
    assert "nothing was applied" in r.json()["detail"]
    assert await rows() == {}


async def test_email_of_another_employee(writer, rows):
    await sync(writer, [person(1), person(2)])
    r = await sync(writer, [person(3), person(4, email="PERSON1@example.com")])
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "loc": "body.employees[1].email",
            "msg": "already used by another employee (external_id 'E00001')",
            "type": "value_error",
        }
    ]
    assert set(await rows()) == {"E00001", "E00002"}

    # two employees of one batch may swap e-mails
    r = await sync(
        writer,
        [person(1, email="person2@example.com"), person(2, email="person1@example.com")],
    )
    assert r.status_code == 200
    assert r.json()["updated"] == 2
    after = await rows()
    assert after["E00001"].email == "person2@example.com"
    assert after["E00002"].email == "person1@example.com"


async def test_full_sync_deactivates_the_absent(writer, rows):
    await sync(writer, [person(n) for n in range(1, 6)])
    await writer.delete("/v1/employees/E00005")
    before = await rows()

    batch = [person(1), person(2, job_level=9), person(6)]
    r = await sync(writer, batch, mode="full_sync", allow_mass_deactivation=True)
    assert counts(r) == {"created": 1, "updated": 1, "unchanged": 1, "deactivated": 2}
    assert r.json()["deactivated_external_ids"] == ["E00003", "E00004"]
    assert r.json()["dry_run"] is False
    after = await rows()
    assert {k for k, e in after.items() if e.active} == {"E00001", "E00002", "E00006"}
    for gone in ("E00003", "E00004"):
        assert after[gone].deactivated_at is not None
        assert after[gone].email == before[gone].email  # deactivated, never deleted
    # already inactive: not counted, its deactivation time kept
    assert after["E00005"].deactivated_at == before["E00005"].deactivated_at

    # upsert mode never deactivates; a returning employee is reactivated
    r = await sync(writer, [person(3)])
    assert counts(r) == {"created": 0, "updated": 1, "unchanged": 0, "deactivated": 0}
    assert (await rows())["E00003"].active is True
    assert (await rows())["E00003"].deactivated_at is None


async def test_full_sync_hands_a_leavers_email_to_a_new_hire(writer, rows, db):
    await sync(writer, [person(n) for n in range(1, 5)])
    await writer.delete("/v1/employees/E00004")  # left earlier, still holds its address
    before = await rows()

    # E00003 leaves in this sync; the new hires get the addresses of both leavers
    batch = [
        person(1),
        person(2),
        person(7, email="PERSON3@example.com", user_name="person3"),
        person(8, email="person4@example.com"),
    ]
    r = await sync(writer, batch, mode="full_sync", allow_mass_deactivation=True)
    assert r.status_code == 200, r.text
    assert counts(r) == {"created": 2, "updated": 0, "unchanged": 2, "deactivated": 1}
    after = await rows()
    assert after["E00007"].email == "person3@example.com"
    assert after["E00007"].user_name == "person3"
    assert after["E00008"].email == "person4@example.com"
    for leaver in ("E00003", "E00004"):
        assert after[leaver].active is False
        assert after[leaver].email is None
        assert after[leaver].revision > before[leaver].revision
        assert after[leaver].updated_at > before[leaver].updated_at
    assert after["E00004"].deactivated_at == before["E00004"].deactivated_at
    # the leaver is still there for the receipts and reports that name them
    assert after["E00003"].id == before["E00003"].id
    assert after["E00003"].display_name == "Person 3"


async def test_upsert_refuses_an_inactive_holders_email(writer, rows):
    await sync(writer, [person(1), person(2)])
    await writer.delete("/v1/employees/E00002")
    r = await sync(writer, [person(7, email="person2@example.com")])
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "loc": "body.employees[0].email",
            "msg": "already used by another employee (external_id 'E00002', inactive: "
            "a full sync without them frees it)",
            "type": "value_error",
        }
    ]
    assert (await rows())["E00002"].email == "person2@example.com"
    assert "E00007" not in await rows()


async def test_full_sync_keeps_values_of_employees_in_the_batch(writer, rows):
    await sync(writer, [person(1), person(2)])
    # the holder is in the batch and keeps its address: a duplicate, nothing applied
    r = await sync(
        writer, [person(1), person(2), person(3, email="person1@example.com")], mode="full_sync"
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.employees[2].email"
    assert set(await rows()) == {"E00001", "E00002"}
    assert (await rows())["E00002"].active is True


async def test_batch_size_limits(writer):
    r = await sync(writer, [])
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.employees"

    r = await sync(writer, [{"external_id": f"E{n}"} for n in range(10_001)])
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["loc"] == "body.employees"
    assert "At most 10,000 employees per call, got 10,001" in error["msg"]

    r = await writer.post("/v1/employees/bulk", json={"employees": [person(1)], "mode": "nuke"})
    assert r.status_code == 422
    r = await writer.post("/v1/employees/bulk", json={"employees": [{"email": "a@b.co"}]})
    assert r.json()["errors"][0]["loc"] == "body.employees[0].external_id"


async def test_ten_thousand_in_one_call(writer, db):
    batch = [person(n) for n in range(10_000)]
    r = await sync(writer, batch)
    assert r.status_code == 200
    assert r.json()["created"] == 10_000
    r = await sync(writer, batch, mode="full_sync")
    assert counts(r) == {"created": 0, "updated": 0, "unchanged": 10_000, "deactivated": 0}
    async with db() as s:
        assert (await s.execute(select(func.count()).select_from(Employee))).scalar() == 10_000


async def test_an_erased_employee_is_never_re_identified(writer, rows):
    await sync(writer, [person(1)])
    assert (
        await writer.delete("/v1/employees/E00001", params={"erase": "true"})
    ).status_code == 204
    erased_key = next(iter(await rows()))
    r = await sync(writer, [person(1, external_id=erased_key)])
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.employees[0].external_id"
    assert "erased" in r.json()["errors"][0]["msg"]
