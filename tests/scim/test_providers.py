"""End to end, with the payloads Okta and Microsoft Entra ID send (from their SCIM guides)."""

from tests.scim.conftest import CORE, ENTERPRISE, PATCH_OP


async def test_okta_lifecycle(idp, admin, stored):
    # Okta looks the user up by userName first, then creates it
    r = await idp.get(
        "/scim/v2/Users",
        params={"filter": 'userName eq "test.user@acme.com"', "startIndex": 1, "count": 100},
    )
    assert r.json()["totalResults"] == 0 and r.json()["Resources"] == []
    okta_user = {
        "schemas": [CORE],
        "userName": "test.user@acme.com",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@acme.com", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",  # not stored, not echoed
        "active": True,
    }
    r = await idp.post("/scim/v2/Users", json=okta_user)
    assert r.status_code == 201, r.text
    created = r.json()
    assert "password" not in created and "groups" not in created

    # a profile change: Okta PUTs the whole user, id and meta included
    r = await idp.put(
        f"/scim/v2/Users/{created['id']}",
        json={**okta_user, "id": created["id"], "meta": created["meta"], "displayName": "T. User"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "T. User"

    # deactivation: a PATCH without a path; Okta never sends DELETE
    r = await idp.patch(
        f"/scim/v2/Users/{created['id']}",
        json={"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await admin.get("/v1/employees/00ujl29u0le5T6Aj10h7")).json()["active"] is False
    r = await idp.get("/scim/v2/Users", params={"filter": 'userName eq "test.user@acme.com"'})
    assert [u["active"] for u in r.json()["Resources"]] == [False]
    employee = await stored("00ujl29u0le5T6Aj10h7")
    assert (employee.display_name, employee.locale, employee.active) == ("T. User", "en-US", False)


async def test_entra_lifecycle(idp, admin, create, stored):
    manager = await create(1)
    r = await idp.get(
        "/scim/v2/Users", params={"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}
    )
    assert r.json()["totalResults"] == 0
    entra_user = {
        "schemas": [CORE, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee@testuser.com",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
        "addresses": [{"type": "work", "country": "ES", "locality": "Madrid"}],
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
    }
    r = await idp.post("/scim/v2/Users", json=entra_user)
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]

    r = await idp.patch(
        f"/scim/v2/Users/{user_id}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "updatedEmail@microsoft.com",
                },
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager["id"]},
                {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Sales"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["emails"][0]["value"] == "updatedemail@microsoft.com"
    assert body["name"] == {"givenName": "givenName", "familyName": "updatedFamilyName"}
    assert body[ENTERPRISE]["manager"]["value"] == manager["id"]

    # soft delete, then the hard delete some days later: both leave an inactive employee, and
    # after the hard delete the User is gone for SCIM (RFC 7644 §3.6)
    r = await idp.patch(
        f"/scim/v2/Users/{user_id}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert r.json()["active"] is False
    assert (await idp.delete(f"/scim/v2/Users/{user_id}")).status_code == 204
    assert (await idp.get(f"/scim/v2/Users/{user_id}")).status_code == 404
    r = await idp.get(
        "/scim/v2/Users", params={"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}
    )
    assert r.json()["totalResults"] == 0
    assert (await admin.get(f"/v1/employees/{entra_user['externalId']}")).json()["active"] is False

    employee = await stored("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
    assert employee.manager_external_id == "E00001"
    assert (employee.department, employee.employee_number) == ("Sales", "701984")
    assert (employee.email, employee.active) == ("updatedemail@microsoft.com", False)
    assert employee.country is None and employee.location is None  # addresses are not stored
