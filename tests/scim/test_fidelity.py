"""A User reads back as the identity provider wrote it (RFC 7644 §3.5), while the employee
stores what the directory understands: free-text locales, userTypes that name no employment
type, several e-mail addresses, removed attributes."""

import uuid

import pytest

from app.employees.models import Employee
from tests.scim.conftest import CORE, ENTERPRISE, assert_scim_error, patch_op, scim_user

# What IdPs put in free-text locale fields; a UUID (36 characters) is what scim2-tester sends.
NOT_TAGS = ["English", "en_US.UTF-8", "no such locale!", "9c1e6d0a-2f4b-4c55-8d3e-1f2a3b4c5d6e"]


async def patch(idp, user_id: str, *operations) -> dict:
    r = await idp.patch(f"/scim/v2/Users/{user_id}", json=patch_op(*operations))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("text", NOT_TAGS)
async def test_a_locale_that_is_no_tag_provisions_and_reads_back(idp, admin, stored, text):
    r = await idp.post(
        "/scim/v2/Users", json=scim_user(1, locale=text, preferredLanguage=text + " (UK)")
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["locale"], body["preferredLanguage"]) == (text, text + " (UK)")
    assert (await idp.get(f"/scim/v2/Users/{body['id']}")).json() == body
    # not a tag: no locale for localization
    assert (await stored("E00001")).locale is None
    assert (await admin.get("/v1/employees/E00001")).json()["locale"] is None


async def test_a_long_locale_is_kept_beyond_the_column(idp, stored):
    text = "English (United Kingdom), as spoken in the north-east"  # > 35 characters
    created = (await idp.post("/scim/v2/Users", json=scim_user(1, locale="es-ES"))).json()
    body = await patch(idp, created["id"], {"op": "replace", "path": "locale", "value": text})
    assert body["locale"] == text
    assert (await stored("E00001")).locale is None


async def test_the_first_valid_tag_localizes(idp, stored):
    # an invalid locale gives way to the preferred language, its most preferred valid tag
    r = await idp.post(
        "/scim/v2/Users",
        json=scim_user(1, locale="English", preferredLanguage="klingon!, fr-ca;q=0.8, de;q=0.9"),
    )
    assert r.status_code == 201, r.text
    assert (r.json()["locale"], r.json()["preferredLanguage"]) == (
        "English",
        "klingon!, fr-ca;q=0.8, de;q=0.9",
    )
    assert (await stored("E00001")).locale == "de"
    # a valid locale wins, stored normalized, read back as sent
    user_id = r.json()["id"]
    body = await patch(idp, user_id, {"op": "replace", "path": "locale", "value": "pt_br"})
    assert body["locale"] == "pt_br"
    assert (await stored("E00001")).locale == "pt-BR"


async def test_free_text_locales_through_put_and_patch(idp, stored):
    created = (await idp.post("/scim/v2/Users", json=scim_user(1))).json()
    url = f"/scim/v2/Users/{created['id']}"
    r = await idp.put(url, json=scim_user(1, locale="Español", preferredLanguage="Spanish"))
    assert r.status_code == 200, r.text
    assert (r.json()["locale"], r.json()["preferredLanguage"]) == ("Español", "Spanish")
    assert (await stored("E00001")).locale is None

    body = await patch(
        idp,
        created["id"],
        {"op": "add", "path": "preferredLanguage", "value": "Deutsch"},
        {"op": "replace", "value": {"locale": "Français"}},
    )
    assert (body["locale"], body["preferredLanguage"]) == ("Français", "Deutsch")
    body = await patch(idp, created["id"], {"op": "remove", "path": "preferredLanguage"})
    assert "preferredLanguage" not in body and body["locale"] == "Français"


async def test_the_v1_api_keeps_its_strict_locale(admin):
    r = await admin.put("/v1/employees/E1", json={"locale": "English"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.locale"
    assert (await admin.put("/v1/employees/E1", json={"locale": "x" * 36})).status_code == 422
    assert (await admin.get("/v1/employees/E1")).status_code == 404


async def test_a_directory_change_shows_through(idp, admin, create):
    created = await create(1, locale="English", userType="Contractor-ish")
    assert created["locale"] == "English"
    # the HRIS sets a locale: the SCIM view shows the directory's value from then on
    record = (await admin.get("/v1/employees/E00001")).json()
    keep = {
        k: record[k]
        for k in ("email", "user_name", "display_name", "given_name", "family_name", "department")
    }
    r = await admin.put("/v1/employees/E00001", json={**keep, "locale": "fr-FR"})
    assert r.status_code == 200, r.text
    body = (await idp.get(f"/scim/v2/Users/{created['id']}")).json()
    assert body["locale"] == "fr-FR"
    assert body["userType"] == "Contractor-ish"  # the directory holds still what it stored


async def test_user_type_round_trips_and_names_the_employment_type(idp, admin, stored):
    created = (await idp.post("/scim/v2/Users", json=scim_user(1, userType="Employee"))).json()
    assert created["userType"] == "Employee"
    assert (await stored("E00001")).employment_type is None  # names no employment type

    body = await patch(
        idp, created["id"], {"op": "replace", "path": "userType", "value": "Full-Time"}
    )
    assert body["userType"] == "Full-Time"
    assert (await stored("E00001")).employment_type == "full_time"

    # an unknown userType leaves the employment type as it was
    body = await patch(idp, created["id"], {"op": "add", "path": "userType", "value": "Vendor"})
    assert body["userType"] == "Vendor"
    assert (await stored("E00001")).employment_type == "full_time"
    body = await patch(idp, created["id"], {"op": "remove", "path": "userType"})
    assert "userType" not in body

    r = await idp.put(f"/scim/v2/Users/{created['id']}", json=scim_user(1, userType="Intern"))
    assert r.json()["userType"] == "Intern"
    assert (await stored("E00001")).employment_type == "intern"
    # a PUT without userType: none in the User; the directory's employment type stays
    r = await idp.put(f"/scim/v2/Users/{created['id']}", json=scim_user(1))
    assert "userType" not in r.json()
    assert (await admin.get("/v1/employees/E00001")).json()["employment_type"] == "intern"


async def test_several_emails_round_trip(idp, admin, stored):
    emails = [
        {"value": "Ana@Home.example", "type": "home", "primary": False},
        {"value": "ana@example.com", "type": "work", "primary": True},
        {"value": "ana.garcia@example.org", "type": "other"},
    ]
    created = (await idp.post("/scim/v2/Users", json=scim_user(1, emails=emails))).json()
    # addresses are case-insensitive, kept lower-cased
    assert created["emails"] == [{**emails[0], "value": "ana@home.example"}, *emails[1:]]
    assert (await stored("E00001")).email == "ana@example.com"  # the primary one

    # PATCH replace: one address of another type, not primary
    one = [{"value": "ana@personal.example", "type": "private", "primary": False}]
    body = await patch(idp, created["id"], {"op": "replace", "path": "emails", "value": one})
    assert body["emails"] == one
    assert (await stored("E00001")).email == "ana@personal.example"  # the only one

    # PATCH add appends
    added = {"value": "ana@work.example", "type": "work", "primary": True}
    body = await patch(idp, created["id"], {"op": "add", "path": "emails", "value": [added]})
    assert body["emails"] == [*one, added]
    assert (await stored("E00001")).email == "ana@work.example"
    assert (await idp.get(f"/scim/v2/Users/{created['id']}")).json()["emails"] == [*one, added]

    # PUT replaces them all
    r = await idp.put(
        f"/scim/v2/Users/{created['id']}",
        json=scim_user(1, emails=[{"value": "ana@example.com", "type": "work"}]),
    )
    assert r.json()["emails"] == [{"value": "ana@example.com", "type": "work"}]
    assert (await admin.get("/v1/employees/E00001")).json()["email"] == "ana@example.com"


async def test_a_secondary_email_is_no_uniqueness_conflict_but_the_chosen_one_is(idp, create):
    await create(1)
    # person1's address as a secondary one of another user: not the employee's e-mail
    r = await idp.post(
        "/scim/v2/Users",
        json=scim_user(
            2,
            emails=[
                {"value": "person2@example.com", "type": "work", "primary": True},
                {"value": "person1@example.com", "type": "other"},
            ],
        ),
    )
    assert r.status_code == 201, r.text
    r = await idp.post(
        "/scim/v2/Users",
        json=scim_user(3, emails=[{"value": "person1@example.com", "type": "home"}]),
    )
    assert_scim_error(r, 409, "uniqueness")


async def test_removed_external_id_and_active_read_as_removed(idp, admin, create, stored):
    created = await create(1)
    body = await patch(
        idp,
        created["id"],
        {"op": "remove", "path": "externalId"},
        {"op": "remove", "path": "active"},
    )
    assert "externalId" not in body and "active" not in body
    # the directory keeps its key and the employee's state
    employee = await stored("E00001")
    assert (employee.external_id, employee.active) == ("E00001", True)
    assert (await idp.get(f"/scim/v2/Users/{created['id']}")).json() == body

    # a deactivation by the IdP shows again
    body = await patch(idp, created["id"], {"op": "replace", "path": "active", "value": False})
    assert body["active"] is False
    assert (await admin.get("/v1/employees/E00001")).json()["active"] is False


async def test_a_plain_user_keeps_nothing_extra(idp, stored):
    # a User the directory renders exactly as sent stores nothing besides the employee
    r = await idp.post("/scim/v2/Users", json=scim_user(1))
    assert r.status_code == 201
    assert (await stored("E00001")).scim_attributes is None


async def test_erasure_forgets_what_the_idp_sent(idp, admin, create, db):
    emails = [
        {"value": "person1@example.com", "type": "work", "primary": True},
        {"value": "private@example.org", "type": "home"},
    ]
    created = await create(1, emails=emails, locale="English")
    r = await admin.delete("/v1/employees/E00001", params={"erase": "true"})
    assert r.status_code == 204
    async with db() as s:
        employee = await s.get(Employee, uuid.UUID(created["id"]))
    assert employee.erased_at is not None
    assert employee.scim_attributes is None
    assert_scim_error(await idp.get(f"/scim/v2/Users/{created['id']}"), 404)


async def test_no_path_values_and_sub_attributes(idp, create):
    created = await create(1)
    body = await patch(
        idp,
        created["id"],
        {"op": "Replace", "value": {"userType": "Seasonal", "locale": "Klingon"}},
        {"op": "add", "path": 'emails[type eq "home"].value', "value": "p1@home.example"},
    )
    assert (body["userType"], body["locale"]) == ("Seasonal", "Klingon")
    assert body["emails"] == [
        {"value": "person1@example.com", "type": "work", "primary": True},
        {"value": "p1@home.example", "type": "home"},
    ]
    assert body["schemas"] == [CORE, ENTERPRISE]
