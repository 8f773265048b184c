"""SCIM under the checks every operation makes: both JSON media types read, anything else a
SCIM 415; JSON syntax by line and column; RFC 7644's query parameters tolerated on every
endpoint, other names refused as `invalidValue`."""

import pytest

from tests.scim.conftest import SCIM_JSON, assert_scim_error, patch_op, scim_user

JSON = "application/json"


@pytest.mark.parametrize("content_type", [SCIM_JSON, JSON, f"{SCIM_JSON}; charset=utf-8"])
async def test_users_are_provisioned_in_either_json_media_type(idp, stored, content_type):
    r = await idp.post("/scim/v2/Users", json=scim_user(1), headers={"Content-Type": content_type})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == SCIM_JSON
    assert (await stored("E00001")).email == "person1@example.com"


async def test_a_patch_in_either_media_type_is_read(idp, create, stored):
    user = await create(1)
    for n, content_type in enumerate((SCIM_JSON, JSON)):
        body = patch_op({"op": "replace", "path": "title", "value": f"Lead {n}"})
        r = await idp.patch(
            f"/scim/v2/Users/{user['id']}", json=body, headers={"Content-Type": content_type}
        )
        assert r.status_code == 200, r.text
        assert (await stored("E00001")).job_title == f"Lead {n}"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
async def test_a_body_that_is_not_json_is_a_scim_415(idp, stored, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    if content_type is None:
        idp.headers.pop("Content-Type")
    r = await idp.post("/scim/v2/Users", content=b'{"userName": "x"}', headers=headers)
    body = assert_scim_error(r, 415)
    assert f"`{SCIM_JSON}` or `{JSON}`" in body["detail"]
    assert await stored("E00001") is None


async def test_a_patch_that_is_not_json_says_accept_patch(idp, create, stored):
    user = await create(1)
    r = await idp.patch(
        f"/scim/v2/Users/{user['id']}",
        content=b"title=Boss",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_scim_error(r, 415)
    assert r.headers["accept-patch"] == f"{SCIM_JSON}, {JSON}"
    assert (await stored("E00001")).job_title == "Account Executive"


async def test_malformed_json_is_invalid_syntax_with_line_and_column(idp, stored):
    raw = b'{\n  "userName": "a@example.com"\n  "externalId": "E1"\n}'
    r = await idp.post("/scim/v2/Users", content=raw)
    body = assert_scim_error(r, 400, "invalidSyntax")
    assert body["detail"] == (
        "The body is not a SCIM JSON object: Invalid JSON at line 3, column 3: "
        "Expecting ',' delimiter"
    )
    assert await stored("E1") is None


async def test_an_unknown_query_parameter_is_invalid_value(idp, create):
    user = await create(1)
    r = await idp.get("/scim/v2/Users", params={"filter": 'userName eq "x"', "fitler": "x"})
    body = assert_scim_error(r, 400, "invalidValue")
    assert body["detail"].startswith("query.fitler: Unknown query parameter")
    r = await idp.get(f"/scim/v2/Users/{user['id']}", params={"expand": "manager"})
    assert assert_scim_error(r, 400, "invalidValue")["detail"].startswith("query.expand")
    r = await idp.delete(f"/scim/v2/Users/{user['id']}", params={"force": "true"})
    assert_scim_error(r, 400, "invalidValue")
    assert (await idp.get(f"/scim/v2/Users/{user['id']}")).status_code == 200  # not deleted


async def test_rfc7644_parameters_are_tolerated_everywhere(idp, create):
    await create(1)
    await create(2)
    # sorting is not supported (ServiceProviderConfig says so): sortBy is ignored, not refused
    r = await idp.get(
        "/scim/v2/Users", params={"sortBy": "userName", "sortOrder": "descending", "count": 1}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["totalResults"], r.json()["itemsPerPage"]) == (2, 1)
    # RFC 7644 §4: the discovery endpoints SHALL ignore filtering, sorting and pagination
    for path in ("/scim/v2/ServiceProviderConfig", "/scim/v2/Schemas", "/scim/v2/ResourceTypes"):
        r = await idp.get(path, params={"startIndex": 1, "count": 10, "sortBy": "id"})
        assert r.status_code == 200, (path, r.text)


async def test_the_tolerated_parameters_stay_out_of_the_document(app):
    paths = app.openapi()["paths"]

    def names(path: str, method: str) -> list[str]:
        return [p["name"] for p in paths[path][method].get("parameters", [])]

    assert names("/scim/v2/ServiceProviderConfig", "get") == []
    assert names("/scim/v2/Users", "post") == []
    # what GET /Users documents is what it uses; `sortBy` is tolerated, not offered
    assert names("/scim/v2/Users", "get") == [
        "filter", "startIndex", "count", "attributes", "excludedAttributes"
    ]  # fmt: skip
