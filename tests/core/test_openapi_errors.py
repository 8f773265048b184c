"""The OpenAPI document describes the errors the service sends: problem+json, every one."""

import httpx
import pytest

from app.core.principal import Scope

PROBLEM = "application/problem+json"
JSON_TYPES = {"string": str, "integer": int, "array": list, "object": dict}


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        section, _, name = node["$ref"].removeprefix("#/components/").partition("/")
        node = document["components"][section][name]
    return node


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _documented(document: dict, path: str, method: str, status: int) -> dict:
    """The schema of `status`'s problem body for the operation (fails if not documented)."""
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    content = _resolve(document, responses[str(status)])["content"]
    assert list(content) == [PROBLEM]
    return _resolve(document, content[PROBLEM]["schema"])


def _conforms(document: dict, schema: dict, body: dict) -> None:
    for name in schema.get("required", []):
        assert name in body, f"{name} missing from {body}"
    for name, value in body.items():
        declared = schema.get("properties", {}).get(name)
        if declared is None:
            continue
        declared = _resolve(document, declared)
        assert isinstance(value, JSON_TYPES[declared["type"]]), (name, value)
        if declared["type"] == "array":
            item_schema = _resolve(document, declared["items"])
            for item in value:
                assert isinstance(item, JSON_TYPES[item_schema["type"]]), (name, item)
                if item_schema["type"] == "object":
                    _conforms(document, item_schema, item)


async def test_every_error_of_the_v1_operations_is_problem_json(app):
    document = app.openapi()
    checked = 0
    for path, method, operation in _operations(document):
        if path.startswith("/scim/"):
            continue
        if operation.get("x-browser-page"):
            # pages opened from e-mails answer HTML, as their own responses document
            assert all(
                "text/html" in _resolve(document, r).get("content", {"text/html": {}})
                for code, r in operation["responses"].items()
                if code[0] in "45"
            ), (method, path)
            continue
        responses = operation["responses"]
        if "security" in operation:
            assert {"401", "403", "429", "503"} <= responses.keys(), (method, path)
        if "requestBody" in operation:
            assert {"413", "415"} <= responses.keys(), (method, path)
        assert "422" in responses, (method, path)  # an unknown query parameter, at least
        parameters = operation.get("parameters", [])
        if any(p["in"] == "path" for p in parameters):
            assert "404" in responses, (method, path)
        if any(p["in"] == "header" and p["name"] == "If-Match" for p in parameters):
            assert "412" in responses, (method, path)
        for code, response in responses.items():
            if code[0] not in "45":
                continue
            content = _resolve(document, response)["content"]
            assert list(content) == [PROBLEM], (method, path, code)
            name = content[PROBLEM]["schema"]["$ref"].rsplit("/", 1)[1]
            expected = {"415": "MediaTypeProblem", "422": "ValidationProblem"}.get(code, "Problem")
            assert name == expected
            checked += 1
    assert checked > 300
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_retry_after_is_documented_where_it_is_sent(app):
    document = app.openapi()
    for name in ("TooManyRequests", "ServiceUnavailable"):
        assert "Retry-After" in document["components"]["responses"][name]["headers"]


@pytest.mark.parametrize(
    ("call", "path", "status"),
    [
        (lambda c: c.post("/v1/messages", json={"title": ""}), "/v1/messages", 422),
        (lambda c: c.get("/v1/messages", params={"limit": 0}), "/v1/messages", 422),
        (lambda c: c.get("/v1/messages", params={"colour": "red"}), "/v1/messages", 422),
        (lambda c: c.get("/v1/me/messages", params={"x": "1"}), "/v1/me/messages", 422),
        (lambda c: c.post("/v1/messages", content=b"title=Hi"), "/v1/messages", 415),
        (
            lambda c: c.get("/v1/messages/00000000-0000-0000-0000-000000000000"),
            "/v1/messages/{message_id}",
            404,
        ),
    ],
)
async def test_real_errors_match_their_documented_schema(admin, app, call, path, status):
    document = app.openapi()
    r = await call(admin)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    method = r.request.method.lower()
    _conforms(document, _documented(document, path, method, status), r.json())
    if status == 422:
        assert r.json()["errors"], "a 422 names the bad fields"


async def test_credential_errors_match_their_documented_schema(app, anon, client_for):
    document = app.openapi()
    r = await anon.get("/v1/messages")
    assert r.status_code == 401
    _conforms(document, _documented(document, "/v1/messages", "get", 401), r.json())

    reader = await client_for(Scope.AUDIENCES_READ)
    r = await reader.get("/v1/messages")
    assert r.status_code == 403
    _conforms(document, _documented(document, "/v1/messages", "get", 403), r.json())


async def test_the_served_document_is_the_described_one(anon: httpx.AsyncClient, app):
    r = await anon.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == app.openapi()
