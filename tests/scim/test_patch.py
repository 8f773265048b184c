"""SCIM PATCH as Okta and Microsoft Entra ID send it: paths, no-path values, quirks, errors."""

import uuid

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.receipts.models import Recipient
from tests.scim.conftest import ENTERPRISE, assert_scim_error, patch_op


async def patch(idp, user_id: str, *operations, status: int = 200) -> dict:
    r = await idp.patch(f"/scim/v2/Users/{user_id}", json=patch_op(*operations))
    assert r.status_code == status, r.text
    if status == 200:
        assert r.headers["content-type"] == "application/scim+json"
        assert r.headers["etag"] == r.json()["meta"]["version"]
    return r.json()


async def test_okta_deactivates_without_a_path(idp, admin, create, db):
    user = await create(1)
    body = await patch(idp, user["id"], {"op": "replace", "value": {"active": False}})
    assert body["active"] is False
    assert (await idp.get(f"/scim/v2/Users/{user['id']}")).json()["active"] is False
    employee = (await admin.get("/v1/employees/E00001")).json()
    assert employee["active"] is False
    assert employee["deactivated_at"] is not None
    async with db() as s:
        details = (
            await s.execute(
                select(AuditEvent.details).where(AuditEvent.action == "employee.updated")
            )
        ).scalar_one()
    assert details == {"fields": ["active"]}


async def test_reactivation_enrolls_the_employee(idp, admin, create, everyone, db):
    user = await create(1)
    await patch(idp, user["id"], {"op": "replace", "value": {"active": False}})
    r = await admin.post(
        "/v1/messages", json={"category": "news", "title": "Hi", "audience_ids": [everyone]}
    )
    message_id = uuid.UUID(r.json()["id"])
    assert (await admin.post(f"/v1/messages/{message_id}/publish", json={})).status_code == 200

    await patch(idp, user["id"], {"op": "replace", "value": {"active": True}})
    async with db() as s:
        recipients = (
            (
                await s.execute(
                    select(Recipient.employee_id).where(Recipient.message_id == message_id)
                )
            )
            .scalars()
            .all()
        )
    assert [str(i) for i in recipients] == [user["id"]]


async def test_entra_capitalised_ops_and_string_booleans(idp, admin, create):
    user = await create(1)
    body = await patch(idp, user["id"], {"op": "Replace", "path": "active", "value": "False"})
    assert body["active"] is False
    assert (await admin.get("/v1/employees/E00001")).json()["active"] is False
    body = await patch(idp, user["id"], {"op": "Replace", "value": {"active": "True"}})
    assert body["active"] is True


async def test_entra_manager_path_with_a_bare_id(idp, create, stored):
    boss = await create(1)
    user = await create(2)
    body = await patch(
        idp, user["id"], {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}
    )
    assert body[ENTERPRISE]["manager"]["value"] == boss["id"]
    assert (await stored("E00002")).manager_external_id == "E00001"

    # an object value, naming a manager this service does not know: kept as the HRIS key
    body = await patch(
        idp,
        user["id"],
        {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": "E77"}},
    )
    assert body[ENTERPRISE]["manager"] == {"value": "E77"}
    assert (await stored("E00002")).manager_external_id == "E77"

    body = await patch(idp, user["id"], {"op": "Remove", "path": f"{ENTERPRISE}:manager"})
    assert "manager" not in body[ENTERPRISE]
    assert (await stored("E00002")).manager_external_id is None

    # a bare id inside a no-path value too
    await patch(idp, user["id"], {"op": "Add", "value": {f"{ENTERPRISE}:manager": boss["id"]}})
    assert (await stored("E00002")).manager_external_id == "E00001"


async def test_work_email_by_filtered_path(idp, admin, create, stored):
    user = await create(1)
    body = await patch(
        idp,
        user["id"],
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "New.One@Example.com"},
    )
    assert body["emails"] == [{"value": "new.one@example.com", "type": "work", "primary": True}]
    assert (await stored("E00001")).email == "new.one@example.com"

    # Entra adds the work address of a user that has none: the entry is created
    r = await idp.post(
        "/scim/v2/Users", json={"schemas": [], "userName": "bob", "externalId": "E9"}
    )
    bob = r.json()
    assert "emails" not in bob
    body = await patch(
        idp,
        bob["id"],
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "bob@example.com"},
    )
    # the entry reads back as added (no `primary`), and is the employee's e-mail
    assert body["emails"] == [{"value": "bob@example.com", "type": "work"}]
    assert (await stored("E9")).email == "bob@example.com"

    r = await idp.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch_op({"op": "replace", "path": 'emails[type eq "work"].value', "value": "nope"}),
    )
    assert assert_scim_error(r, 400, "invalidValue")["detail"].startswith("emails:")


async def test_name_department_and_other_paths(idp, create, stored):
    user = await create(1)
    body = await patch(
        idp,
        user["id"],
        {"op": "replace", "path": "name.givenName", "value": "Ana"},
        {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Marketing"},
        {"op": "add", "path": "userType", "value": "Intern"},
        {"op": "remove", "path": "title"},
    )
    assert body["name"] == {"givenName": "Ana", "familyName": "Number1"}
    assert body[ENTERPRISE]["department"] == "Marketing"
    assert body["userType"] == "Intern"  # as sent; stored as the employment type it names
    assert "title" not in body
    employee = await stored("E00001")
    assert (employee.given_name, employee.department) == ("Ana", "Marketing")
    assert (employee.employment_type, employee.job_title) == ("intern", None)


async def test_no_path_values_keyed_by_urns_and_dotted_paths(idp, create, stored):
    user = await create(1)
    body = await patch(
        idp,
        user["id"],
        {
            "op": "Replace",
            "value": {
                "name.familyName": "García",
                f"{ENTERPRISE}:division": "Retail",
                "displayName": "Ana García",
                "externalId": "E00001",
            },
        },
        {"op": "Add", "value": {ENTERPRISE: {"employeeNumber": "42"}}},
    )
    assert body["name"]["familyName"] == "García"
    assert body["displayName"] == "Ana García"
    assert body[ENTERPRISE]["division"] == "Retail"
    assert body[ENTERPRISE]["employeeNumber"] == "42"
    employee = await stored("E00001")
    assert (employee.family_name, employee.division, employee.employee_number) == (
        "García",
        "Retail",
        "42",
    )


async def test_unchanged_and_unknown_attributes_write_nothing(idp, create, db):
    user = await create(1)
    version = user["meta"]["version"]
    body = await patch(
        idp, user["id"], {"op": "replace", "path": "title", "value": "Account Executive"}
    )
    assert body["meta"]["version"] == version
    body = await patch(
        idp,
        user["id"],
        {"op": "replace", "path": 'phoneNumbers[type eq "work"].value', "value": "1"},
    )
    assert body["meta"]["version"] == version
    async with db() as s:
        actions = (await s.execute(select(AuditEvent.action))).scalars().all()
    assert "employee.updated" not in actions


async def test_hris_employee_keeps_no_stored_user_name(idp, admin, stored):
    r = await admin.put("/v1/employees/E7", json={"email": "seven@example.com"})
    user_id = r.json()["id"]
    body = await patch(idp, user_id, {"op": "replace", "value": {"active": False}})
    assert body["userName"] == "seven@example.com"
    employee = await stored("E7")
    assert (employee.user_name, employee.active) == (None, False)

    await patch(idp, user_id, {"op": "replace", "path": "userName", "value": "Seven"})
    assert (await stored("E7")).user_name == "seven"


async def test_patch_errors_are_scim_errors(idp, create):
    user = await create(1)
    other = await create(2)
    url = f"/scim/v2/Users/{user['id']}"
    cases = [
        ({"op": "remove"}, "noTarget"),
        ({"op": "replace", "path": 'emails[type eq "work"', "value": "x"}, "invalidPath"),
        ({"op": "replace", "path": "id", "value": "x"}, "mutability"),
        ({"op": "remove", "path": "userName"}, "mutability"),
        ({"op": "frobnicate", "path": "title", "value": "x"}, "invalidValue"),
        ({"op": "replace", "path": "active", "value": "perhaps"}, "invalidValue"),
    ]
    for operation, scim_type in cases:
        assert_scim_error(await idp.patch(url, json=patch_op(operation)), 400, scim_type)
    assert_scim_error(
        await idp.patch(url, json={"schemas": [], "Operations": []}), 400, "invalidValue"
    )
    assert_scim_error(await idp.patch(url, json={"schemas": []}), 400, "invalidValue")

    taken = {"op": "replace", "path": "userName", "value": other["userName"].upper()}
    assert_scim_error(await idp.patch(url, json=patch_op(taken)), 409, "uniqueness")
    assert_scim_error(await idp.patch(f"/scim/v2/Users/{uuid.uuid4()}", json=patch_op(taken)), 404)
    # nothing was applied
    assert (await idp.get(url)).json() == user
