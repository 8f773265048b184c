"""Hostile input: oversized and deeply nested bodies, tampered pagination, header injection,
SQL-looking and Unicode-heavy filter values, NUL characters. Never a 500; always problem+json.

The operations are read from the app's own OpenAPI document, so a new list endpoint or filter
is covered without touching this file.
"""

import base64
import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.audiences.models import Audience
from app.employees.models import Employee
from app.messages.models import Message

PROBLEM = "application/problem+json"
MiB = 1024 * 1024

# Each of these must reach a filter as plain data: 200 (matches or not) or 422, never a 500.
HOSTILE = [
    "' OR 1=1 --",
    '"; DROP TABLE employees; --',
    "%",
    "_",
    "%_%",
    "\\",
    "\\%",
    "\x00",
    "a\x00b",
    "\u200f\u202eevil\u202c",  # RTL mark and bidi override
    "🎉👩‍👩‍👧‍👦",
    "e\u0301\u0327",  # combining marks
    "\ufeff\uffff",
    "ꙮ" * 5000,
    "x" * 5000,
    "9" * 40,
    "-1",
    "1e309",
    "NaN",
    "null",
    "2020-13-45T99:99:99",
]


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.fixture
async def world(admin: httpx.AsyncClient, employee_client) -> dict[str, Any]:
    """A little of everything, so that every list endpoint has a real resource to list."""
    people = [
        {
            "external_id": f"E-{i}",
            "email": f"e{i}@example.com",
            "display_name": f"100% Employee_{i}" if i == 1 else f"Employee {i}",
            "department": "Sales",
            "country": "ES",
        }
        for i in range(1, 4)
    ]
    r = await admin.post("/v1/employees/bulk", json={"employees": people, "mode": "upsert"})
    assert r.status_code == 200, r.text
    r = await admin.post("/v1/audiences", json={"name": "Everyone", "rule": {"all": []}})
    assert r.status_code == 201, r.text
    audience_id = r.json()["id"]
    r = await admin.post(
        "/v1/messages",
        json={
            "category": "values",
            "title": "100% committed",
            "body": "Our values.",
            "audience_ids": [audience_id],
            "requires_acknowledgement": True,
            "acknowledgement_text": "I have read it.",
        },
    )
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]
    r = await admin.post(
        "/v1/messages", json={"category": "news", "title": "Plain news", "audience_ids": []}
    )
    assert r.status_code == 201, r.text
    r = await admin.post(f"/v1/messages/{message_id}/publish", json={})
    assert r.status_code == 200, r.text
    async with employee_client("E-1") as employee:
        r = await employee.post(f"/v1/me/messages/{message_id}/acknowledgement", json={})
        assert r.status_code == 201, r.text
        r = await employee.post(f"/v1/me/messages/{message_id}/comments", json={"body": "Why?"})
        assert r.status_code == 201, r.text
    r = await admin.post(
        "/v1/webhooks", json={"url": "https://127.0.0.1:9/hook", "events": ["message.published"]}
    )
    assert r.status_code == 201, r.text
    webhook_id = r.json()["id"]
    r = await admin.post(f"/v1/webhooks/{webhook_id}/ping")
    assert r.status_code == 202, r.text
    r = await admin.get("/scim/v2/Users", params={"filter": 'externalId eq "E-1"'})
    assert r.status_code == 200, r.text
    return {
        "message_id": message_id,
        "audience_id": audience_id,
        "webhook_id": webhook_id,
        "external_id": "E-1",
        "user_id": r.json()["Resources"][0]["id"],
        "name": "User",
        "schema_id": "urn:ietf:params:scim:schemas:core:2.0:User",
    }


def _get_operations(app, *, lists_only: bool) -> list[tuple[str, list[str]]]:
    """(path template, query parameter names) of the GET operations in the OpenAPI document."""
    out = []
    for path, item in app.openapi()["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        ok = op["responses"].get("200", {}).get("content", {})
        ref = json.dumps(ok)
        if lists_only and "#/components/schemas/Page_" not in ref:
            continue
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        out.append((path, names))
    return out


def _fill(path: str, world: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(world[m.group(1)]), path)


@pytest.fixture
async def employee(world, employee_client):
    async with employee_client("E-1") as client:
        yield client


def _caller_for(path: str, admin: httpx.AsyncClient, employee: httpx.AsyncClient):
    return employee if re.match(r"/v1/me(/|$)", path) else admin


# -- bodies ------------------------------------------------------------------------------------


async def test_body_over_one_mib_is_413_before_the_app_reads_it(admin: httpx.AsyncClient):
    body = b'{"category": "news", "title": "t", "body": "' + b"x" * MiB + b'"}'
    assert len(body) > MiB + 1
    r = await admin.post("/v1/messages", content=body, headers={"content-type": "application/json"})
    _problem(r, 413)


async def test_one_mib_plus_one_byte_is_413_and_one_mib_is_not(admin: httpx.AsyncClient):
    head = b'{"category": "news", "title": "t"}'
    exactly = head + b" " * (MiB - len(head))
    r = await admin.post(
        "/v1/messages", content=exactly, headers={"content-type": "application/json"}
    )
    assert r.status_code == 201, r.text
    r = await admin.post(
        "/v1/messages", content=exactly + b" ", headers={"content-type": "application/json"}
    )
    _problem(r, 413)


async def test_streamed_body_without_length_is_cut_at_the_limit(admin: httpx.AsyncClient):
    async def chunks():
        yield b'{"category": "news", "title": "'
        for _ in range(20):
            yield b"x" * 65536

    r = await admin.post(
        "/v1/messages", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    _problem(r, 413)


async def test_bulk_boundary_is_ten_mib(admin: httpx.AsyncClient, db):
    record = {"external_id": "B-1", "email": "b1@example.com", "display_name": "Bulk"}
    head = json.dumps({"employees": [record], "mode": "upsert"}).encode()
    exactly = head + b" " * (10 * MiB - len(head))
    headers = {"content-type": "application/json"}
    r = await admin.post("/v1/employees/bulk", content=exactly + b" ", headers=headers)
    _problem(r, 413)
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Employee)) == 0
    r = await admin.post("/v1/employees/bulk", content=exactly, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1
    # and the 1 MiB limit still holds for the one-record upsert next to it
    r = await admin.put(
        "/v1/employees/B-2",
        content=b'{"email": "b2@example.com"}' + b" " * MiB,
        headers=headers,
    )
    _problem(r, 413)


# -- nesting -----------------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"all": []}
    for _ in range(depth):
        rule = {"not": rule}
    return rule


@pytest.mark.parametrize("path", ["/v1/audiences", "/v1/audiences/preview"])
async def test_rule_eleven_levels_deep_is_422_naming_the_place(admin: httpx.AsyncClient, path):
    body = {"rule": _nested(11)} | ({"name": "Deep"} if path == "/v1/audiences" else {})
    r = await admin.post(path, json=body)
    problem = _problem(r, 422)
    assert problem["errors"][0]["loc"].startswith("body.rule.not.not")
    ten = {"rule": _nested(9)} | ({"name": "Ten"} if path == "/v1/audiences" else {})
    assert (await admin.post(path, json=ten)).status_code in (200, 201)


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "x", "rule": ' + '{"not": ' * 10_000 + '{"all": []}' + "}" * 10_000 + "}",
        '{"name": "x", "rule": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"name": "x", "rule": {"all": ' + "[" * 10_000 + "]" * 10_000 + "}}",
    ],
    ids=["10k-not", "100k-lists", "10k-lists-in-all"],
)
async def test_pathological_nesting_is_422_not_a_crash(admin: httpx.AsyncClient, db, raw):
    for path in ("/v1/audiences", "/v1/audiences/preview"):
        r = await admin.post(path, content=raw, headers={"content-type": "application/json"})
        problem = _problem(r, 422)
        assert problem["errors"][0]["loc"].startswith("body")
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Audience)) == 0


async def test_nesting_with_a_nul_inside_is_still_422(admin: httpx.AsyncClient):
    raw = '{"name": "x\\u0000", "rule": ' + "[" * 5_000 + "]" * 5_000 + "}"
    r = await admin.post("/v1/audiences", content=raw, headers={"content-type": "application/json"})
    _problem(r, 422)


# -- pagination --------------------------------------------------------------------------------

TAMPERED = [
    "not-a-cursor",
    "!!!!",
    "A" * 1025,
    _cursor([]),
    _cursor({"a": 1}),
    _cursor([1, 2, 3, 4]),
    _cursor([None, None]),
    _cursor([None]),
    _cursor([True, False]),
    _cursor(["a", "b"]),
    _cursor([1.5, "x"]),
    _cursor([2**70, 2**70]),
    _cursor([2**70]),
    _cursor([{"t": "not a time"}, {"u": "not a uuid"}]),
    _cursor([{"u": "00000000-0000-0000-0000-000000000000"}, {"t": "2020-01-01T00:00:00+00:00"}]),
    _cursor([{"t": "2020-01-01T00:00:00+00:00"}, 12]),
    _cursor([{"x": 1}, {"y": 2}]),
    _cursor([[1], [2]]),
    base64.urlsafe_b64encode(b"\xff\xfe\x00garbage").decode(),
]


async def test_limit_out_of_range_is_422_on_every_list(
    app, admin: httpx.AsyncClient, employee, world
):
    lists = _get_operations(app, lists_only=True)
    assert len(lists) >= 12, lists
    for path, params in lists:
        assert "limit" in params and "cursor" in params, path
        caller = _caller_for(path, admin, employee)
        url = _fill(path, world)
        for limit in ("0", "-1", "201", str(10**30), "1e3", "abc", ""):
            r = await caller.get(url, params={"limit": limit})
            assert r.status_code == 422, (path, limit, r.status_code, r.text)
            assert r.json()["errors"][0]["loc"] == "query.limit", r.text
        r = await caller.get(url, params={"limit": "200"})
        assert r.status_code == 200, (path, r.text)


async def test_tampered_cursors_are_422_on_every_list(
    app, admin: httpx.AsyncClient, employee, world
):
    for path, _params in _get_operations(app, lists_only=True):
        caller = _caller_for(path, admin, employee)
        url = _fill(path, world)
        for cursor in TAMPERED:
            r = await caller.get(url, params={"cursor": cursor})
            assert r.status_code == 422, (path, cursor, r.status_code, r.text)
            problem = _problem(r, 422)
            assert problem["errors"][0]["loc"] == "query.cursor", r.text


async def test_a_cursor_from_another_list_is_refused(admin: httpx.AsyncClient, world):
    # employees are keyed by external id, messages by (created_at, id): not interchangeable
    r = await admin.get("/v1/employees", params={"limit": 1})
    cursor = r.json()["next_cursor"]
    assert cursor
    r = await admin.get("/v1/messages", params={"cursor": cursor})
    _problem(r, 422)
    r = await admin.get("/v1/messages", params={"limit": 1})
    cursor = r.json()["next_cursor"]
    r = await admin.get("/v1/employees", params={"cursor": cursor})
    _problem(r, 422)
    r = await admin.get("/v1/messages", params={"cursor": cursor, "limit": 1})
    assert r.status_code == 200


# -- X-Request-ID ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "abc\r\nSet-Cookie: session=stolen",
        "abc\nX-Injected: 1",
        "abc\rx",
        "a" * 129,
        "a" * 10_000,
        "<script>alert(1)</script>",
        "id with spaces",
        "ünïcödé".encode(),
        "",
    ],
)
async def test_unsafe_request_ids_are_replaced_not_echoed(anon: httpx.AsyncClient, value):
    r = await anon.get("/healthz", headers={"X-Request-ID": value})
    assert r.status_code == 200
    echoed = r.headers["x-request-id"]
    assert echoed != (value.decode() if isinstance(value, bytes) else value)
    assert re.fullmatch(r"[0-9a-f]{32}", echoed), echoed
    for name, header in r.headers.raw:
        assert b"\r" not in header and b"\n" not in header, name
    assert "set-cookie" not in r.headers and "x-injected" not in r.headers


async def test_a_safe_request_id_is_echoed_on_errors_too(anon: httpx.AsyncClient):
    r = await anon.get("/v1/messages", headers={"X-Request-ID": "req-123.abc:9"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "req-123.abc:9"


# -- filters -----------------------------------------------------------------------------------

PREVIEW = "/v1/messages/{message_id}/preview"


async def test_hostile_strings_in_every_filter_are_200_or_422(
    app, admin: httpx.AsyncClient, employee, world
):
    operations = _get_operations(app, lists_only=False)
    checked = 0
    for path, params in operations:
        filters = [p for p in params if p not in ("limit", "cursor")]
        if not filters:
            continue
        caller = _caller_for(path, admin, employee)
        url = _fill(path, world)
        allowed = {200, 400} if path.startswith("/scim/") else {200, 422}
        for name in filters:
            # the preview's `employee` names one person, not a filter: nobody by that key is 404
            expected = allowed | {404} if (path, name) == (PREVIEW, "employee") else allowed
            for value in HOSTILE:
                r = await caller.get(url, params={name: value})
                assert r.status_code in expected, (path, name, value[:20], r.status_code, r.text)
                if r.status_code >= 400:
                    assert r.headers["content-type"] in (PROBLEM, "application/scim+json")
                checked += 1
    assert checked > 300


async def test_like_wildcards_in_search_match_only_themselves(admin: httpx.AsyncClient, world):
    r = await admin.get("/v1/messages", params={"q": "%"})
    assert [m["title"] for m in r.json()["items"]] == ["100% committed"]
    r = await admin.get("/v1/messages", params={"q": "_"})
    assert r.json()["items"] == []
    r = await admin.get("/v1/employees", params={"q": "%"})
    assert [e["external_id"] for e in r.json()["items"]] == ["E-1"]
    r = await admin.get("/v1/employees", params={"q": "e_1"})
    assert [e["external_id"] for e in r.json()["items"]] == ["E-1"]
    r = await admin.get("/v1/employees", params={"q": "e_"})
    assert [e["external_id"] for e in r.json()["items"]] == ["E-1"]
    r = await admin.get("/v1/employees", params={"department": "' OR 1=1 --"})
    assert r.json()["items"] == []


# -- NUL characters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("post", "/v1/messages", {"category": "news", "title": "a\x00b"}, "body.title"),
        (
            "post",
            "/v1/messages",
            {"category": "news", "title": "t", "body": "x\x00"},
            "body.body",
        ),
        (
            "post",
            "/v1/messages",
            {"category": "news", "title": "t", "tags": ["\x00"]},
            "body.tags[0]",
        ),
        ("post", "/v1/audiences", {"name": "\x00", "rule": {"all": []}}, "body.name"),
        (
            "post",
            "/v1/audiences",
            {"name": "n", "rule": {"attribute": "department", "op": "eq", "value": "S\x00"}},
            "body.rule.value",
        ),
        (
            "post",
            "/v1/audiences/preview",
            {"rule": {"attribute": "attributes.k\x00", "op": "exists"}},
            "body.rule.attribute",
        ),
        (
            "put",
            "/v1/employees/E-9",
            {"email": "e9@example.com", "display_name": "N\x00"},
            "body.display_name",
        ),
        (
            "put",
            "/v1/employees/E-9",
            {"email": "e9@example.com", "attributes": {"k\x00": 1}},
            "body.attributes.k\\u0000",
        ),
        (
            "post",
            "/v1/employees/bulk",
            {"employees": [{"external_id": "E\x00", "email": "x@example.com"}]},
            "body.employees[0].external_id",
        ),
        ("post", "/v1/tokens", {"name": "t\x00", "scopes": ["admin"]}, "body.name"),
    ],
)
async def test_nul_in_a_json_string_is_422_naming_the_field(
    admin: httpx.AsyncClient, db, method, path, body, loc
):
    r = await getattr(admin, method)(path, json=body)
    problem = _problem(r, 422)
    assert problem["errors"][0]["loc"] == loc, problem
    assert "NUL" in problem["errors"][0]["msg"]
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 0
        assert await s.scalar(select(func.count()).select_from(Employee)) == 0


async def test_nul_in_employee_writes_through_the_feed_and_comments(
    admin: httpx.AsyncClient, employee_client, world
):
    mid = world["message_id"]
    async with employee_client("E-1") as employee:
        r = await employee.post(f"/v1/me/messages/{mid}/comments", json={"body": "a\x00"})
        assert _problem(r, 422)["errors"][0]["loc"] == "body.body"
        r = await employee.post(f"/v1/me/messages/{mid}/acknowledgement", json={"locale": "\x00"})
        assert _problem(r, 422)["errors"][0]["loc"] == "body.locale"
        r = await employee.get("/v1/me/messages", params={"category": "\x00"})
        assert _problem(r, 422)["errors"][0]["loc"] == "query.category"
        r = await employee.get("/v1/me", headers={"Accept-Language": "es"})
        assert r.status_code == 200


async def test_nul_in_path_and_query_is_422(admin: httpx.AsyncClient, world):
    r = await admin.get("/v1/employees/E%001")
    assert _problem(r, 422)["errors"][0]["loc"] == "path.external_id"
    r = await admin.put("/v1/employees/E%001", json={"email": "x@example.com"})
    assert _problem(r, 422)["errors"][0]["loc"] == "path.external_id"
    r = await admin.get("/v1/audit-events", params={"actor": "a\x00"})
    assert _problem(r, 422)["errors"][0]["loc"] == "query.actor"
    r = await admin.get("/scim/v2/Users", params={"filter": 'userName eq "a\x00"'})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/scim+json"


async def test_a_literal_backslash_u0000_is_text_not_nul(admin: httpx.AsyncClient):
    # the JSON string "\\u0000" is six characters, no NUL: stored as written
    r = await admin.post("/v1/messages", json={"category": "news", "title": "\\u0000"})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "\\u0000"


async def test_unicode_heavy_text_round_trips(admin: httpx.AsyncClient):
    title = "\u200f\u202e👩‍👩‍👧‍👦 e\u0301 ' OR 1=1 -- %_"
    r = await admin.post("/v1/messages", json={"category": "news", "title": title})
    assert r.status_code == 201, r.text
    r = await admin.get(f"/v1/messages/{r.json()['id']}")
    assert r.json()["title"] == title
    r = await admin.put(
        "/v1/employees/Ünï-☃", json={"email": "snow@example.com", "display_name": "☃" * 100}
    )
    assert r.status_code == 201, r.text
    r = await admin.get("/v1/employees/Ünï-☃")
    assert r.status_code == 200 and r.json()["display_name"] == "☃" * 100
