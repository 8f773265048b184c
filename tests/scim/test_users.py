"""SCIM Users: create, get, replace, delete (= deactivate), mapping and uniqueness."""

import uuid
from datetime import date

from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.core.principal import Scope
from app.employees.models import Employee
from app.receipts.models import Recipient
from tests.scim.conftest import (
    CORE,
    ENTERPRISE,
    SCIM_JSON,
    assert_scim_error,
    patch_op,
    scim_user,
)


async def test_create_returns_the_user_with_location_and_version(idp, stored, db):
    r = await idp.post("/scim/v2/Users", json=scim_user(1))
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == SCIM_JSON
    body = r.json()
    user_id = body["id"]
    assert uuid.UUID(user_id)
    location = f"http://test/scim/v2/Users/{user_id}"
    assert r.headers["location"] == location
    assert body["meta"]["location"] == location
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["version"] == r.headers["etag"]
    assert body["meta"]["created"] == body["meta"]["lastModified"]
    assert body["schemas"] == [CORE, ENTERPRISE]
    assert body["userName"] == "person1@example.com"  # stored lower-cased
    assert body["externalId"] == "E00001"
    assert body["name"] == {"givenName": "Person", "familyName": "Number1"}
    assert body["emails"] == [{"value": "person1@example.com", "type": "work", "primary": True}]
    assert body["active"] is True
    assert body[ENTERPRISE] == {
        "employeeNumber": "1",
        "department": "Sales",
        "division": "Commercial",
    }

    employee = await stored("E00001")
    assert str(employee.id) == user_id
    assert (employee.user_name, employee.email) == ("person1@example.com", "person1@example.com")
    assert (employee.given_name, employee.family_name) == ("Person", "Number1")
    assert (employee.display_name, employee.job_title) == ("Person 1", "Account Executive")
    assert (employee.department, employee.division) == ("Sales", "Commercial")
    assert (employee.employee_number, employee.locale, employee.active) == ("1", "es-ES", True)
    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
    assert actions.count("employee.created") == 1


async def test_plain_json_bodies_are_accepted(idp):
    r = await idp.post(
        "/scim/v2/Users",
        json=scim_user(1),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == SCIM_JSON


async def test_minimal_user_takes_key_and_email_from_user_name(idp, stored):
    r = await idp.post("/scim/v2/Users", json={"schemas": [CORE], "userName": "Ana@Example.com"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["externalId"] == "ana@example.com"
    assert body["emails"] == [{"value": "ana@example.com", "type": "work", "primary": True}]
    assert body["active"] is True
    employee = await stored("ana@example.com")
    assert employee.email == "ana@example.com"

    # a userName that is not an e-mail address gives no e-mail
    r = await idp.post("/scim/v2/Users", json={"schemas": [CORE], "userName": "bob"})
    assert r.status_code == 201
    assert "emails" not in r.json()
    assert (await stored("bob")).email is None


async def test_mapping_of_the_other_attributes(idp, create, stored):
    boss = await create(1)
    r = await idp.post(
        "/scim/v2/Users",
        json=scim_user(
            2,
            locale=None,
            preferredLanguage="es-mx,es;q=0.9",
            userType="Part-Time",
            emails=[
                {"value": "home2@example.com", "type": "home"},
                {"value": "work2@example.com", "type": "work"},
            ],
            phoneNumbers=[{"value": "+34 600 000 000", "type": "work"}],  # not stored: ignored
            **{
                ENTERPRISE: {"department": "Support", "manager": {"value": boss["id"]}},
                "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"badge": "7"},
            },
        ),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    # the User reads back as sent; the employee stores what the directory understands
    assert "locale" not in body
    assert body["preferredLanguage"] == "es-mx,es;q=0.9"
    assert body["userType"] == "Part-Time"
    assert body["emails"] == [
        {"value": "home2@example.com", "type": "home"},
        {"value": "work2@example.com", "type": "work"},
    ]
    assert "phoneNumbers" not in body
    # the manager's SCIM id is stored as the manager's external_id, and read back as the id
    assert body[ENTERPRISE]["manager"] == {
        "value": boss["id"],
        "$ref": f"http://test/scim/v2/Users/{boss['id']}",
        "displayName": "Person 1",
    }
    employee = await stored("E00002")
    assert employee.manager_external_id == "E00001"
    assert employee.employment_type == "part_time"
    assert employee.locale == "es-MX"
    assert employee.email == "work2@example.com"

    # a manager that is not provisioned here is kept as given (an HRIS key)
    r = await idp.post("/scim/v2/Users", json=scim_user(3, **{ENTERPRISE: {"manager": "E99"}}))
    assert r.json()[ENTERPRISE] == {"manager": {"value": "E99"}}
    assert (await stored("E00003")).manager_external_id == "E99"


async def test_get_reads_a_user_and_404s_otherwise(idp, create):
    created = await create(1)
    r = await idp.get(f"/scim/v2/Users/{created['id']}")
    assert r.status_code == 200
    assert r.headers["content-type"] == SCIM_JSON
    assert r.headers["etag"] == created["meta"]["version"]
    assert r.json() == created

    assert_scim_error(await idp.get(f"/scim/v2/Users/{uuid.uuid4()}"), 404)
    assert_scim_error(await idp.get("/scim/v2/Users/not-a-uuid"), 404)


async def test_get_honours_attributes_and_excluded_attributes(idp, create):
    created = await create(1)
    r = await idp.get(f"/scim/v2/Users/{created['id']}", params={"attributes": "userName"})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"schemas", "id", "userName"}
    r = await idp.get(
        f"/scim/v2/Users/{created['id']}", params={"excludedAttributes": "emails,name"}
    )
    assert "emails" not in r.json() and "name" not in r.json()
    assert r.json()["userName"] == "person1@example.com"


async def test_hris_employee_reads_with_a_derived_user_name(idp, admin):
    r = await admin.put("/v1/employees/E7", json={"email": "Seven@Example.com"})
    assert r.status_code == 201
    employee_id = r.json()["id"]
    await admin.put("/v1/employees/E8", json={})
    r = await idp.get(f"/scim/v2/Users/{employee_id}")
    assert r.json()["userName"] == "seven@example.com"
    r = await idp.get("/scim/v2/Users", params={"filter": 'userName eq "E8"'})
    assert [u["userName"] for u in r.json()["Resources"]] == ["E8"]


async def test_put_replaces_scim_attributes_and_keeps_hris_ones(idp, create, stored, db):
    created = await create(1)
    # the HRIS owns what SCIM does not carry
    async with db() as s, s.begin():
        await s.execute(
            update(Employee)
            .where(Employee.external_id == "E00001")
            .values(
                country="ES", location="Madrid HQ", hire_date=date(2021, 4, 1), attributes={"a": 1}
            )
        )

    replacement = scim_user(1, displayName="Persona Uno", title=None, userType="contractor")
    del replacement["active"]  # omitted: stays as it is
    del replacement["externalId"]  # omitted: the key stays
    replacement[ENTERPRISE] = {"department": "Marketing"}
    r = await idp.put(f"/scim/v2/Users/{created['id']}", json=replacement)
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["etag"] == body["meta"]["version"] != created["meta"]["version"]
    assert body["displayName"] == "Persona Uno"
    assert "title" not in body
    assert body["externalId"] == "E00001"
    assert body["active"] is True
    assert body[ENTERPRISE] == {"department": "Marketing"}
    employee = await stored("E00001")
    assert employee.job_title is None and employee.division is None
    assert employee.employment_type == "contractor"
    assert (employee.country, employee.location) == ("ES", "Madrid HQ")
    assert employee.hire_date == date(2021, 4, 1)
    assert employee.attributes == {"a": 1}

    # the same body again changes nothing
    again = await idp.put(f"/scim/v2/Users/{created['id']}", json=replacement)
    assert again.headers["etag"] == r.headers["etag"]


async def test_put_renames_the_external_id(idp, create, stored):
    created = await create(1)
    r = await idp.put(f"/scim/v2/Users/{created['id']}", json=scim_user(1, externalId="X1"))
    assert r.status_code == 200
    assert r.json()["externalId"] == "X1"
    assert await stored("E00001") is None
    assert str((await stored("X1")).id) == created["id"]


async def test_if_match_guards_put_patch_and_delete(idp, create):
    created = await create(1)
    url = f"/scim/v2/Users/{created['id']}"
    stale = '"stale"'
    assert_scim_error(await idp.put(url, json=scim_user(1), headers={"If-Match": stale}), 412)
    op = patch_op({"op": "replace", "path": "title", "value": "Lead"})
    assert_scim_error(await idp.patch(url, json=op, headers={"If-Match": stale}), 412)
    assert_scim_error(await idp.delete(url, headers={"If-Match": stale}), 412)

    current = created["meta"]["version"]
    r = await idp.patch(url, json=op, headers={"If-Match": current})
    assert r.status_code == 200
    assert_scim_error(await idp.patch(url, json=op, headers={"If-Match": current}), 412)
    r = await idp.delete(url, headers={"If-Match": r.headers["etag"]})
    assert r.status_code == 204


async def test_duplicate_user_name_is_a_uniqueness_conflict(idp, create, stored):
    await create(1)
    r = await idp.post("/scim/v2/Users", json=scim_user(2, userName="PERSON1@example.COM"))
    body = assert_scim_error(r, 409, "uniqueness")
    assert "userName" in body["detail"]
    assert await stored("E00002") is None

    r = await idp.post("/scim/v2/Users", json=scim_user(2, externalId="E00001"))
    assert "externalId" in assert_scim_error(r, 409, "uniqueness")["detail"]
    r = await idp.post(
        "/scim/v2/Users",
        json=scim_user(2, emails=[{"value": "PERSON1@example.com", "type": "work"}]),
    )
    assert "emails" in assert_scim_error(r, 409, "uniqueness")["detail"]

    # replacing another user onto a taken userName is refused too
    second = await create(2)
    r = await idp.put(
        f"/scim/v2/Users/{second['id']}", json=scim_user(2, userName="person1@example.com")
    )
    assert_scim_error(r, 409, "uniqueness")


async def test_user_name_derived_from_an_hris_email_is_taken(idp, admin):
    await admin.put("/v1/employees/E7", json={"email": "seven@example.com"})
    r = await idp.post("/scim/v2/Users", json=scim_user(8, userName="Seven@example.com"))
    assert_scim_error(r, 409, "uniqueness")


async def test_invalid_users_are_refused_with_scim_errors(idp):
    cases = [
        ({"schemas": [CORE]}, "invalidValue"),  # userName is required
        (scim_user(1, emails=[{"value": "not-an-address", "type": "work"}]), "invalidValue"),
        (scim_user(1, active="perhaps"), "invalidValue"),
        (scim_user(1, name="Person"), "invalidValue"),
        (scim_user(1, displayName="x" * 201), "invalidValue"),
        (
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "x"},
            "invalidSyntax",
        ),
    ]
    for payload, scim_type in cases:
        body = assert_scim_error(await idp.post("/scim/v2/Users", json=payload), 400, scim_type)
        assert body["detail"]
    detail = assert_scim_error(
        await idp.post("/scim/v2/Users", json=scim_user(1, displayName="x" * 201)),
        400,
        "invalidValue",
    )["detail"]
    assert detail.startswith("displayName:")

    r = await idp.post("/scim/v2/Users", content=b"{not json")
    assert_scim_error(r, 400, "invalidSyntax")
    r = await idp.post("/scim/v2/Users", content=b"[1, 2]")
    assert_scim_error(r, 400, "invalidSyntax")


async def test_delete_deactivates_and_the_user_is_gone(idp, admin, create, stored, db):
    created = await create(1)
    await create(2)
    url = f"/scim/v2/Users/{created['id']}"
    r = await idp.delete(url)
    assert r.status_code == 204
    assert r.content == b""

    # RFC 7644 §3.6: the deleted resource answers 404 from then on, and is in no list
    assert_scim_error(await idp.get(url), 404)
    assert_scim_error(await idp.put(url, json=scim_user(1)), 404)
    op = patch_op({"op": "replace", "path": "title", "value": "Lead"})
    assert_scim_error(await idp.patch(url, json=op), 404)
    assert_scim_error(await idp.delete(url), 404)
    r = await idp.get("/scim/v2/Users")
    assert [u["externalId"] for u in r.json()["Resources"]] == ["E00002"]
    assert r.json()["totalResults"] == 1
    r = await idp.get("/scim/v2/Users", params={"filter": 'userName eq "person1@example.com"'})
    assert r.json()["totalResults"] == 0 and r.json()["Resources"] == []

    # the employee stays for the directory and the reports, inactive
    r = await admin.get("/v1/employees/E00001")
    assert r.status_code == 200
    assert r.json()["active"] is False
    assert r.json()["deactivated_at"] is not None
    employee = await stored("E00001")
    assert employee.scim_deleted_at is not None
    assert_scim_error(await idp.delete(f"/scim/v2/Users/{uuid.uuid4()}"), 404)
    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
    assert actions.count("employee.deactivated") == 1
    assert actions.count("employee.scim_deleted") == 1


async def test_a_post_after_delete_provisions_the_same_employee_again(idp, admin, create, stored):
    created = await create(1)
    assert (await idp.delete(f"/scim/v2/Users/{created['id']}")).status_code == 204

    # the same externalId: the employee comes back, same id, active, with the new values
    r = await idp.post("/scim/v2/Users", json=scim_user(1, title="Team Lead"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == created["id"]
    assert r.headers["location"] == f"http://test/scim/v2/Users/{created['id']}"
    assert (body["active"], body["title"]) == (True, "Team Lead")
    assert (await idp.get(f"/scim/v2/Users/{created['id']}")).status_code == 200
    employee = await stored("E00001")
    assert (employee.active, employee.deactivated_at, employee.scim_deleted_at) == (
        True,
        None,
        None,
    )
    assert (await idp.get("/scim/v2/Users")).json()["totalResults"] == 1

    # by userName alone (no externalId): found by its userName, the key stays
    assert (await idp.delete(f"/scim/v2/Users/{created['id']}")).status_code == 204
    r = await idp.post(
        "/scim/v2/Users", json={"schemas": [CORE], "userName": "PERSON1@example.com"}
    )
    assert r.status_code == 201, r.text
    assert (r.json()["id"], r.json()["externalId"]) == (created["id"], "E00001")
    assert (await admin.get("/v1/employees/E00001")).json()["active"] is True

    # a POST that says `active: false` provisions it inactive
    assert (await idp.delete(f"/scim/v2/Users/{created['id']}")).status_code == 204
    r = await idp.post("/scim/v2/Users", json=scim_user(1, active=False))
    assert (r.status_code, r.json()["active"]) == (201, False)


async def test_a_deleted_user_still_holds_its_user_name_for_others(idp, create):
    first = await create(1)
    assert (await idp.delete(f"/scim/v2/Users/{first['id']}")).status_code == 204
    # another live user cannot take the userName of the deleted (still existing) employee
    second = await create(2)
    r = await idp.put(
        f"/scim/v2/Users/{second['id']}", json=scim_user(2, userName="person1@example.com")
    )
    assert_scim_error(r, 409, "uniqueness")
    # nor can a POST with another live user's externalId revive the deleted one
    r = await idp.post("/scim/v2/Users", json=scim_user(1, externalId="E00002"))
    assert_scim_error(r, 409, "uniqueness")


async def test_a_deleted_manager_is_no_reference(idp, create):
    boss = await create(1)
    report = await create(2, **{ENTERPRISE: {"manager": {"value": boss["id"]}}})
    assert report[ENTERPRISE]["manager"]["$ref"].endswith(boss["id"])
    assert (await idp.delete(f"/scim/v2/Users/{boss['id']}")).status_code == 204
    r = await idp.get(f"/scim/v2/Users/{report['id']}")
    assert r.json()[ENTERPRISE]["manager"] == {"value": "E00001"}


async def test_erased_employees_are_gone_for_scim(idp, admin, create):
    created = await create(1)
    assert (await admin.delete("/v1/employees/E00001", params={"erase": "true"})).status_code == 204
    assert_scim_error(await idp.get(f"/scim/v2/Users/{created['id']}"), 404)
    assert_scim_error(await idp.put(f"/scim/v2/Users/{created['id']}", json=scim_user(1)), 404)
    r = await idp.get("/scim/v2/Users")
    assert r.json()["totalResults"] == 0


async def test_employees_read_cannot_provision(client_for, create):
    created = await create(1)
    reader = await client_for(Scope.EMPLOYEES_READ)
    for r in (
        await reader.get("/scim/v2/Users"),
        await reader.get(f"/scim/v2/Users/{created['id']}"),
        await reader.post("/scim/v2/Users", json=scim_user(2)),
        await reader.delete(f"/scim/v2/Users/{created['id']}"),
        await reader.get("/scim/v2/ServiceProviderConfig"),
    ):
        assert "employees:write" in assert_scim_error(r, 403)["detail"]


async def test_a_provisioned_late_joiner_becomes_a_recipient(idp, admin, everyone, db):
    r = await admin.post(
        "/v1/messages", json={"category": "news", "title": "Hello", "audience_ids": [everyone]}
    )
    message_id = r.json()["id"]
    r = await admin.post(f"/v1/messages/{message_id}/publish", json={})
    assert r.status_code == 200, r.text
    assert r.json()["recipient_count"] == 0

    created = (await idp.post("/scim/v2/Users", json=scim_user(1))).json()
    async with db() as s:
        rows = (
            (
                await s.execute(
                    select(Recipient.employee_id).where(
                        Recipient.message_id == uuid.UUID(message_id)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [str(i) for i in rows] == [created["id"]]
