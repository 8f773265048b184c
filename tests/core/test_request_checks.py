"""What every operation checks of a request: a JSON body (415 otherwise), JSON syntax errors by
line and column, only the query parameters it declares (422 otherwise), and header names in
errors spelled as the OpenAPI document spells them."""

import httpx
import pytest
from sqlalchemy import func, select

from app.core.principal import Scope
from app.messages.models import Message
from app.tokens.models import ApiToken
from tests.me.conftest import bearer, hs256
from tests.messages.helpers import assert_problem

TOKEN = {"name": "ci", "scopes": ["messages:read"]}
DRAFT = {"category": "news", "title": "Canteen closes early", "body": "From 3 pm."}


async def _count(db, model) -> int:
    async with db() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


# --- 415 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "named"),
    [
        (b'{"name": "ci", "scopes": ["messages:read"]}', "text/plain", "`text/plain`"),
        (b"name=ci&scopes=messages%3Aread", "application/x-www-form-urlencoded", None),
        (b'{"name": "ci", "scopes": ["messages:read"]}', None, "no `Content-Type`"),
        (b"<token><name>ci</name></token>", "application/xml", "`application/xml`"),
        (b'{"name": "ci", "scopes": ["messages:read"]}', "application/problem+json", None),
    ],
)
async def test_a_body_that_is_not_json_is_415_and_nothing_is_made(
    admin: httpx.AsyncClient, db, content, content_type, named
):
    before = await _count(db, ApiToken)
    headers = {"content-type": content_type} if content_type else {}
    r = await admin.post("/v1/tokens", content=content, headers=headers)
    body = assert_problem(r, 415)
    assert body["type"] == "urn:brandcast:problem:unsupported-media-type"
    assert body["title"] == "Unsupported media type"
    assert body["accepted_media_types"] == ["application/json"]
    assert "`application/json`" in body["detail"]
    assert (named or f"`{content_type}`") in body["detail"]
    assert "accept-patch" not in r.headers  # only a PATCH answers it
    assert await _count(db, ApiToken) == before


async def test_a_form_posted_by_a_browser_is_415(admin: httpx.AsyncClient, db):
    r = await admin.post("/v1/messages", data={"title": "Hi", "category": "news"})
    assert_problem(r, 415, detail_contains="application/x-www-form-urlencoded")
    assert await _count(db, Message) == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_json_with_parameters_or_in_another_case_is_read(
    admin: httpx.AsyncClient, content_type
):
    r = await admin.post(
        "/v1/tokens",
        content=b'{"name": "ci", "scopes": ["messages:read"]}',
        headers={"content-type": content_type},
    )
    assert r.status_code == 201, r.text


async def test_a_patch_that_is_not_json_is_415_with_accept_patch(admin: httpx.AsyncClient):
    created = await admin.post("/v1/messages", json=DRAFT)
    assert created.status_code == 201
    url = f"/v1/messages/{created.json()['id']}"
    # not JSON merge patch either: nested objects (`translations`, `rule`) are replaced, not
    # merged as RFC 7396 would, so a merge-patch client is told rather than surprised
    for content_type in ("text/plain", "application/merge-patch+json"):
        r = await admin.patch(
            url, content=b'{"title": "Changed"}', headers={"content-type": content_type}
        )
        body = assert_problem(r, 415)
        assert r.headers["accept-patch"] == "application/json"
        assert body["accepted_media_types"] == ["application/json"]
    assert (await admin.get(url)).json()["title"] == DRAFT["title"]


async def test_no_body_at_all_is_the_operations_own_422(admin: httpx.AsyncClient):
    # nothing was sent in a wrong format: the missing body is a validation error
    r = await admin.post("/v1/tokens", headers={"content-type": "text/plain"})
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == "body"
    assert body["errors"][0]["type"] == "missing"


# --- malformed JSON ----------------------------------------------------------------------------


async def test_malformed_json_says_line_and_column(admin: httpx.AsyncClient, db):
    before = await _count(db, ApiToken)
    raw = b'{\n  "name": "ci",\n  "scopes": ["messages:read"] "expires_in_days": 3\n}'
    r = await admin.post("/v1/tokens", content=raw, headers={"content-type": "application/json"})
    body = assert_problem(r, 422)
    assert body["errors"] == [
        {
            "loc": "body",
            "msg": "Invalid JSON at line 3, column 31: Expecting ',' delimiter",
            "type": "json_invalid",
        }
    ]
    assert body["detail"] == "body: Invalid JSON at line 3, column 31: Expecting ',' delimiter"
    assert await _count(db, ApiToken) == before


@pytest.mark.parametrize(
    ("raw", "msg"),
    [
        (b'{"name": "ci",', "Invalid JSON at line 1, column 15: Expecting property name"),
        (b"", None),  # no body: `missing`, not a syntax error
        (b"{}\n\n  x", "Invalid JSON at line 3, column 3: Extra data"),
        ('{\n"name": "Zoë" ,,}'.encode(), "Invalid JSON at line 2, column 16: Expecting"),
    ],
)
async def test_every_json_syntax_error_has_a_position(admin: httpx.AsyncClient, raw, msg):
    r = await admin.post("/v1/tokens", content=raw, headers={"content-type": "application/json"})
    error = assert_problem(r, 422)["errors"][0]
    assert error["loc"] == "body"
    if msg is None:
        assert error["type"] == "missing"
    else:
        assert error["type"] == "json_invalid"
        assert error["msg"].startswith(msg), error["msg"]


# --- unknown query parameters ------------------------------------------------------------------


async def test_a_misspelt_filter_is_422_naming_it(admin: httpx.AsyncClient):
    for n, department in enumerate(("Sales", "Support")):
        person = {"email": f"p{n}@example.com", "display_name": f"P{n}", "department": department}
        assert (await admin.put(f"/v1/employees/E-{n}", json=person)).status_code == 201
    r = await admin.get("/v1/employees", params={"department": "Sales"})
    assert [e["external_id"] for e in r.json()["items"]] == ["E-0"]

    r = await admin.get("/v1/employees", params={"departmnet": "Sales", "limit": 1, "x": "1"})
    body = assert_problem(r, 422)
    assert [e["loc"] for e in body["errors"]] == ["query.departmnet", "query.x"]
    assert body["errors"][0]["type"] == "extra_forbidden"
    assert "`department`" in body["errors"][0]["msg"]  # what it takes, to spot the typo
    assert "`cursor`" in body["errors"][0]["msg"]  # the pagination dependency's, too
    assert body["detail"].startswith("query.departmnet: Unknown query parameter")


async def test_an_operation_without_parameters_says_so(admin: httpx.AsyncClient, db):
    r = await admin.post("/v1/messages?dry_run=true", json=DRAFT)
    body = assert_problem(r, 422)
    assert body["errors"] == [
        {
            "loc": "query.dry_run",
            "msg": "Unknown query parameter; this operation takes no query parameters.",
            "type": "extra_forbidden",
        }
    ]
    assert await _count(db, Message) == 0  # refused before anything was written


async def test_an_employee_route_refuses_an_unknown_parameter(admin: httpx.AsyncClient, app):
    person = {"email": "e1@example.com", "display_name": "E1"}
    assert (await admin.put("/v1/employees/E-1", json=person)).status_code == 201
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=bearer(hs256("E-1"))
    ) as employee:
        assert (await employee.get("/v1/me/messages", params={"limit": 5})).status_code == 200
        r = await employee.get("/v1/me/messages", params={"limit": 5, "_": "1712345678"})
        assert assert_problem(r, 422)["errors"][0]["loc"] == "query._"


def _filled(path: str) -> str:
    # any value: the check comes before the path's own validation and the lookup
    return path.replace("{", "").replace("}", "")


async def test_every_operation_refuses_an_unknown_parameter(admin: httpx.AsyncClient, app, db):
    document = app.openapi()
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("x-browser-page"):
                continue  # opened from e-mails: trackers add parameters (tested in receipts)
            r = await admin.request(method, _filled(path), params={"zz_unknown": "1"})
            if path.startswith("/scim/"):
                assert r.status_code == 400, (method, path, r.text)
                assert "query.zz_unknown" in r.json()["detail"]
            else:
                body = assert_problem(r, 422)
                assert body["errors"][0]["loc"] == "query.zz_unknown", (method, path)
            checked += 1
    assert checked > 60
    assert await _count(db, Message) == 0


async def test_operations_outside_the_api_are_not_checked(anon: httpx.AsyncClient):
    # the documentation pages are not operations: a cache-busting parameter is harmless there
    assert (await anon.get("/docs", params={"v": "2"})).status_code == 200
    redirect = await anon.get("/docs/oauth2-redirect", params={"code": "c", "state": "s"})
    assert redirect.status_code == 200
    assert (await anon.get("/openapi.json", params={"v": "2"})).status_code == 200


# --- header names ------------------------------------------------------------------------------


def _header_names(document: dict) -> set[str]:
    return {
        p["name"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for p in operation.get("parameters", [])
        if p["in"] == "header"
    }


async def test_headers_are_documented_in_their_canonical_spelling(app):
    assert _header_names(app.openapi()) == {"Idempotency-Key", "If-Match", "Accept-Language"}


async def test_a_header_is_named_one_way_in_every_error(admin: httpx.AsyncClient, app):
    assert "Idempotency-Key" in _header_names(app.openapi())
    # refused by the framework (the pattern) ...
    r = await admin.post("/v1/messages", json=DRAFT, headers={"Idempotency-Key": "has space"})
    by_framework = assert_problem(r, 422)["errors"][0]["loc"]
    # ... and by the service (a key reused with another body)
    headers = {"Idempotency-Key": "k-1"}
    assert (await admin.post("/v1/messages", json=DRAFT, headers=headers)).status_code == 201
    other = {**DRAFT, "title": "Another"}
    by_service = assert_problem(await admin.post("/v1/messages", json=other, headers=headers), 422)[
        "errors"
    ][0]["loc"]
    assert by_framework == by_service == "header.Idempotency-Key"


async def test_if_match_is_read_whatever_the_case(admin: httpx.AsyncClient):
    created = await admin.post("/v1/messages", json=DRAFT)
    url = f"/v1/messages/{created.json()['id']}"
    r = await admin.patch(url, json={"title": "New"}, headers={"if-match": '"stale-1"'})
    assert_problem(r, 412)
    r = await admin.patch(url, json={"title": "New"}, headers={"IF-MATCH": created.headers["etag"]})
    assert r.status_code == 200, r.text


async def test_scopes_still_apply_after_the_checks(client_for):
    reader = await client_for(Scope.MESSAGES_READ)
    r = await reader.post("/v1/messages", json=DRAFT)
    assert_problem(r, 403)
