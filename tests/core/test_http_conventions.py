"""Conventions every route shares: problem+json errors, request ids, limits, health, metrics."""

import httpx
from asgi_lifespan import LifespanManager

from app.core.config import Settings
from app.main import create_app

PROBLEM = "application/problem+json"


def _assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def test_unknown_route_is_a_problem(anon):
    body = _assert_problem(await anon.get("/v1/nothing-here"), 404)
    assert body["detail"] == "No such resource."


async def test_wrong_method_is_405_with_allow(admin):
    r = await admin.put("/v1/tokens")
    _assert_problem(r, 405)
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


async def test_validation_errors_name_the_field(admin):
    r = await admin.post("/v1/tokens", json={"name": "", "scopes": ["nope"]})
    body = _assert_problem(r, 422)
    locs = {e["loc"] for e in body["errors"]}
    assert {"body.name", "body.scopes[0]"} <= locs
    r = await admin.get("/v1/tokens", params={"limit": 201})
    assert _assert_problem(r, 422)["errors"][0]["loc"] == "query.limit"
    r = await admin.post(
        "/v1/tokens", content=b"{not json", headers={"content-type": "application/json"}
    )
    _assert_problem(r, 422)


async def test_a_body_that_is_not_utf8_is_422_naming_the_body(admin):
    r = await admin.post(
        "/v1/tokens", content=b'{"name": "\xff"}', headers={"content-type": "application/json"}
    )
    body = _assert_problem(r, 422)
    assert body["errors"] == [
        {"loc": "body", "msg": "The body is not UTF-8 encoded JSON.", "type": "json_invalid"}
    ]


async def test_tampered_cursor_is_422(admin):
    for cursor in ("garbage", "eyJ4Ijox", "W10", "x" * 2000):
        r = await admin.get("/v1/tokens", params={"cursor": cursor})
        body = _assert_problem(r, 422)
        assert body["errors"][0]["loc"] == "query.cursor"


async def test_oversized_body_is_413(admin):
    big = {"name": "x" * (1024 * 1024 + 10), "scopes": ["admin"]}
    _assert_problem(await admin.post("/v1/tokens", json=big), 413)

    async def chunks():
        yield b'{"name": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'", "scopes": ["admin"]}'

    r = await admin.post(
        "/v1/tokens", content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_problem(r, 413)


async def test_unexpected_errors_are_500_without_internals(settings):
    application = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("secret internals: SELECT * FROM api_tokens")

    application.add_api_route("/boom", boom)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.get("/boom")
    body = _assert_problem(r, 500)
    assert "secret" not in r.text and "SELECT" not in r.text
    assert body["detail"] == "An unexpected error occurred."


async def test_request_id_is_echoed_or_generated(anon):
    r = await anon.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await anon.get("/healthz", headers={"X-Request-ID": "evil\tvalue<script>"})
    assert r.headers["x-request-id"] != "evil\tvalue<script>"
    assert len(r.headers["x-request-id"]) == 32
    r = await anon.get("/healthz")
    assert len(r.headers["x-request-id"]) == 32


async def test_audit_rows_carry_the_request_id(admin):
    r = await admin.post(
        "/v1/tokens",
        json={"name": "n", "scopes": ["audit:read"]},
        headers={"X-Request-ID": "req-42"},
    )
    assert r.status_code == 201
    params = {"action": "token.created", "entity_id": r.json()["id"]}
    events = (await admin.get("/v1/audit-events", params=params)).json()["items"]
    assert [(e["request_id"], e["entity_type"]) for e in events] == [("req-42", "token")]
    assert events[0]["actor"].startswith("token:")


async def test_health_readiness_and_metrics(anon):
    assert (await anon.get("/healthz")).json() == {"status": "ok"}
    assert (await anon.get("/readyz")).json() == {"status": "ready"}
    r = await anon.get("/metrics")
    assert r.status_code == 200
    assert 'brandcast_http_requests_total{method="GET",route="/readyz",status="200"}' in r.text


async def test_readiness_is_503_when_the_database_is_down(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/missing/dir/x.db", run_scheduler=False)
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            _assert_problem(await c.get("/readyz"), 503)
            r = await c.get(
                "/v1/tokens", headers={"Authorization": "Bearer bc_abcdefgh_" + "x" * 40}
            )
            _assert_problem(r, 503)
