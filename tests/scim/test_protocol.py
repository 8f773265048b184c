"""Discovery documents, authentication, media type and SCIM error bodies on every path."""

import pytest

from app.scim import service
from tests.scim.conftest import CORE, ENTERPRISE, SCIM_JSON, assert_scim_error, scim_user

BASE = "http://test/scim/v2"


async def test_service_provider_config_is_honest(idp):
    r = await idp.get("/scim/v2/ServiceProviderConfig")
    assert r.status_code == 200
    assert r.headers["content-type"] == SCIM_JSON
    body = r.json()
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert body["patch"] == {"supported": True}
    assert body["bulk"] == {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
    assert body["filter"] == {"supported": True, "maxResults": 200}
    assert body["changePassword"] == {"supported": False}
    assert body["sort"] == {"supported": False}
    assert body["etag"] == {"supported": True}
    [scheme] = body["authenticationSchemes"]
    assert scheme["type"] == "oauthbearertoken"
    assert scheme["primary"] is True
    assert body["meta"] == {
        "resourceType": "ServiceProviderConfig",
        "location": f"{BASE}/ServiceProviderConfig",
    }


async def test_resource_types(idp):
    r = await idp.get("/scim/v2/ResourceTypes")
    assert r.headers["content-type"] == SCIM_JSON
    body = r.json()
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (1, 1, 1)
    [user] = body["Resources"]
    assert user["id"] == user["name"] == "User"
    assert user["endpoint"] == "/Users"
    assert user["schema"] == CORE
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert user["meta"]["location"] == f"{BASE}/ResourceTypes/User"

    assert (await idp.get("/scim/v2/ResourceTypes/User")).json() == user
    assert_scim_error(await idp.get("/scim/v2/ResourceTypes/Group"), 404)


async def test_schemas_describe_what_is_stored(idp):
    body = (await idp.get("/scim/v2/Schemas")).json()
    schemas = {s["id"]: s for s in body["Resources"]}
    assert set(schemas) == {CORE, ENTERPRISE}
    core = {a["name"]: a for a in schemas[CORE]["attributes"]}
    assert set(core) == {
        "userName",
        "name",
        "displayName",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "emails",
    }
    assert core["userName"]["required"] is True
    assert core["userName"]["uniqueness"] == "server"
    assert core["userName"]["caseExact"] is False
    assert {a["name"] for a in core["name"]["subAttributes"]} == {"givenName", "familyName"}
    assert core["emails"]["multiValued"] is True
    enterprise = {a["name"]: a for a in schemas[ENTERPRISE]["attributes"]}
    assert set(enterprise) == {"employeeNumber", "division", "department", "manager"}
    manager = {a["name"]: a for a in enterprise["manager"]["subAttributes"]}
    assert manager["value"]["required"] is False
    assert manager["$ref"]["mutability"] == "readOnly"
    assert schemas[CORE]["meta"]["location"] == f"{BASE}/Schemas/{CORE}"

    r = await idp.get(f"/scim/v2/Schemas/{ENTERPRISE}")
    assert r.json() == schemas[ENTERPRISE]
    assert_scim_error(await idp.get("/scim/v2/Schemas/urn:nope"), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/scim/v2/Users"),
        ("POST", "/scim/v2/Users"),
        ("GET", "/scim/v2/Users/4d647c2e-0e14-4b5c-8a5f-a428e28d8019"),
        ("PATCH", "/scim/v2/Users/4d647c2e-0e14-4b5c-8a5f-a428e28d8019"),
        ("GET", "/scim/v2/ServiceProviderConfig"),
        ("GET", "/scim/v2/Schemas"),
    ],
)
async def test_no_or_bad_credential_is_a_scim_401(anon, method, path):
    r = await anon.request(method, path, json=scim_user(1))
    assert_scim_error(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    r = await anon.request(
        method, path, json={}, headers={"Authorization": "Bearer bc_nothing0_secret"}
    )
    assert_scim_error(r, 401)


async def test_routing_errors_are_scim_errors(idp):
    assert_scim_error(await idp.get("/scim/v2/Groups"), 404)
    r = await idp.put("/scim/v2/Users", json=scim_user(1))
    assert_scim_error(r, 405)
    assert r.headers["allow"] == "GET, POST"


async def test_v1_errors_stay_problem_json(idp, anon):
    r = await anon.get("/v1/employees")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    r = await idp.get("/v1/employees")  # employees:write alone cannot read /v1
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 403
    json_body = {"Content-Type": "application/json"}
    r = await idp.put("/v1/employees/E1", json={"email": "nope"}, headers=json_body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "body.email"
    # `/v1` reads `application/json` only; SCIM's media type is a 415 there, as a problem
    r = await idp.put("/v1/employees/E1", json={"email": "nope"})
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["accepted_media_types"] == ["application/json"]


async def test_an_unexpected_failure_is_a_scim_500(idp, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_users", broken)
    r = await idp.get("/scim/v2/Users")
    body = assert_scim_error(r, 500)
    assert "secret" not in r.text
    assert body["detail"] == "An unexpected error occurred."


async def test_too_large_body_is_a_scim_413(idp):
    r = await idp.post("/scim/v2/Users", content=b" " * (1024 * 1024 + 1))
    assert_scim_error(r, 413)


async def test_too_large_body_is_refused(idp):
    r = await idp.post("/scim/v2/Users", content=b" " * (1024 * 1024 + 1))
    assert r.status_code == 413


async def test_openapi_documents_the_scim_operations(idp):
    doc = (await idp.get("/openapi.json")).json()
    operations = {
        op["operationId"]: (method, path, op)
        for path, item in doc["paths"].items()
        if path.startswith("/scim/v2")
        for method, op in item.items()
    }
    assert set(operations) == {
        "listScimUsers",
        "searchScimUsers",
        "searchScim",
        "createScimUser",
        "getScimUser",
        "replaceScimUser",
        "patchScimUser",
        "deleteScimUser",
        "getScimServiceProviderConfig",
        "listScimResourceTypes",
        "getScimResourceType",
        "listScimSchemas",
        "getScimSchema",
    }
    for _method, _path, op in operations.values():
        assert op["tags"] == ["scim"]
        assert op["summary"]
    create = operations["createScimUser"][2]
    assert SCIM_JSON in create["requestBody"]["content"]
    assert SCIM_JSON in create["responses"]["201"]["content"]
    assert SCIM_JSON in create["responses"]["409"]["content"]
