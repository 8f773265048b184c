"""The OpenAPI document, with the error responses the service really sends.

FastAPI documents every 422 as its own `HTTPValidationError` in `application/json` and knows
nothing of the errors raised by dependencies (credentials, scopes, rate limits, the database).
Integrators read this document to write their error handling, so every error response of the
`/v1` operations is described here as what goes over the wire: `application/problem+json`
(RFC 9457), with `errors` naming each bad field on a 422. SCIM operations keep their SCIM
error bodies (`ScimError`), documented by their router.
"""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from app.core.errors import PROBLEM_MEDIA_TYPE, ErrorFormats, error_formats


class FieldError(BaseModel):
    loc: str = Field(description="Where: `body.rule.all[1].value`, `query.limit`, …")
    msg: str = Field(description="What is wrong, for a person.")
    type: str = Field(description="A machine-readable kind, such as `missing` or `value_error`.")


class Problem(BaseModel):
    """An RFC 9457 problem; some problems add members of their own (e.g. `current_etag`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="`urn:brandcast:problem:<slug>`, or `about:blank` for a plain HTTP status.",
        examples=["urn:brandcast:problem:not-found"],
    )
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No message with this id."])


class ValidationProblem(Problem):
    """A 422: the request was understood but a value in it is not acceptable."""

    errors: list[FieldError] = Field(description="Every bad field, not only the first.")


class MediaTypeProblem(Problem):
    """A 415: the body is in a media type the operation does not read."""

    accepted_media_types: list[str] = Field(
        description="What the operation reads, e.g. `application/json`.",
        examples=[["application/json"]],
    )


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}
# Shared responses (`components.responses`), referred to by every operation they apply to.
_SHARED: dict[str, tuple[str, dict[str, Any]]] = {
    "401": (
        "Unauthorized",
        {"description": "No credential, or one that is invalid, expired or revoked."},
    ),
    "403": (
        "Forbidden",
        {
            "description": "The credential may not do this: a scope is missing, or the route "
            "is for employees (or for API tokens) only."
        },
    ),
    "404": (
        "NotFound",
        {"description": "Nothing the caller may see is named by this path."},
    ),
    "412": (
        "PreconditionFailed",
        {"description": "`If-Match` does not match the current `ETag`; read it again."},
    ),
    "413": ("PayloadTooLarge", {"description": "The body is larger than the route accepts."}),
    "415": (
        "UnsupportedMediaType",
        {
            "description": "The body is not sent as `application/json` (`accepted_media_types` "
            "lists what is); on a PATCH, `Accept-Patch` says it too."
        },
    ),
    "422": (
        "ValidationFailed",
        {
            "description": "A value is not valid, or a query parameter is not one the operation "
            "takes: `errors` names each bad field."
        },
    ),
    "429": (
        "TooManyRequests",
        {
            "description": "Too many requests with this credential; retry after `Retry-After`.",
            "headers": _RETRY_AFTER,
        },
    ),
    "503": (
        "ServiceUnavailable",
        {
            "description": "The database (or the JWT key source) is not reachable; retry "
            "after `Retry-After`.",
            "headers": _RETRY_AFTER,
        },
    ),
}
# what every operation behind a credential may answer besides its own errors
_CREDENTIAL_ERRORS = ("401", "403", "429", "503")


_PROBLEM_SCHEMAS = {"415": "MediaTypeProblem", "422": "ValidationProblem"}


def _problem_content(code: str) -> dict[str, Any]:
    name = _PROBLEM_SCHEMAS.get(code, "Problem")
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _shared(code: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{_SHARED[code][0]}"}


def document_errors(document: dict[str, Any], formats: ErrorFormats) -> dict[str, Any]:
    """Describe the error responses of every problem+json operation, in place."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (FieldError, Problem, ValidationProblem, MediaTypeProblem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    components["responses"] = {
        name: {**response, "content": _problem_content(code)}
        for code, (name, response) in _SHARED.items()
    }
    for path, operations in document.get("paths", {}).items():
        if not formats.is_problem_json(path):
            continue  # another error format (SCIM) documents its own errors
        for operation in operations.values():
            if operation.get("x-browser-page"):
                # a page for a browser (from an e-mail) documents its own HTML answers; its only
                # parameter is a string in the path, so the framework's JSON 422 never happens
                operation["responses"].pop("422", None)
                continue
            responses = operation["responses"]
            if "security" in operation:
                for code in _CREDENTIAL_ERRORS:
                    responses.setdefault(code, _shared(code))
            if "requestBody" in operation:
                responses.setdefault("413", _shared("413"))
                responses.setdefault("415", _shared("415"))
            # any operation refuses a query parameter it does not declare
            responses["422"] = _shared("422")
            parameters = operation.get("parameters", [])
            if any(p["in"] == "path" for p in parameters):
                responses.setdefault("404", _shared("404"))
            if any(p["in"] == "header" and p["name"].lower() == "if-match" for p in parameters):
                responses.setdefault("412", _shared("412"))
            for code, response in responses.items():
                if code[0] in "45" and "$ref" not in response:
                    response["content"] = _problem_content(code)
            operation["responses"] = dict(sorted(responses.items()))
    text = repr(document["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            schemas.pop(unused, None)
    components["schemas"] = dict(sorted(schemas.items()))
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve (and cache) the document with the error responses described."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate(), error_formats(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
