"""SCIM on the wire: `application/scim+json` responses and RFC 7644 §3.12 error bodies.

Errors under `/scim` are SCIM error bodies, whatever raised them (authentication, the employee
services, request validation, routing, an unexpected failure): `install_scim_errors` registers
`render_scim_error` as the error format of those paths, so the application's one set of
handlers (which decide status, logging and headers) renders them; nothing is parsed back.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from scim2_models import Error, SCIMException
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from app.core.errors import ErrorBody, error_formats, format_loc, render
from app.employees.service import AlreadyTaken
from app.scim.schemas import ERROR_SCHEMA, SCIM_MEDIA_TYPE, SCIM_PREFIX

# Headers of the error that a SCIM client needs too.
_KEPT_HEADERS = ("www-authenticate", "allow", "retry-after", "accept-patch")
_ATTRIBUTES = {"external_id": "externalId", "email": "emails", "user_name": "userName"}
# Request-validation errors that mean "this body is not a SCIM JSON object at all".
_SYNTAX_ERRORS = {"missing", "dict_type", "model_attributes_type"}
# the first path segment of SCIM: every error below it is a SCIM error body
SCIM_ROOT = "/" + SCIM_PREFIX.strip("/").split("/")[0]


class ScimJSONResponse(JSONResponse):
    media_type = SCIM_MEDIA_TYPE


def scim_error(
    status: int,
    detail: str,
    scim_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> ScimJSONResponse:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return ScimJSONResponse(body, status_code=status, headers=headers)


def from_validation_error(exc: ValidationError) -> SCIMException:
    """The SCIM exception for a payload scim2-models refused (first error, with its keyword)."""
    error = Error.from_validation_errors(exc)[0]
    return SCIMException.from_error(error)


def _request_validation(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = tuple(first.get("loc", ()))
    msg = str(first.get("msg", "The request is not valid.")).removeprefix("Value error, ")
    kind = first.get("type")
    if kind == "json_invalid" or (loc == ("body",) and kind in _SYNTAX_ERRORS):
        return "invalidSyntax", f"The body is not a SCIM JSON object: {msg}"
    return "invalidValue", f"{format_loc(loc)}: {msg}"


def render_scim_error(error: ErrorBody) -> Response:
    """`error` as RFC 7644 §3.12 says: SCIM has no 422, and names a `scimType` where one fits."""
    status, detail, scim_type = error.status, error.detail or "The request failed.", None
    cause = error.cause
    if isinstance(cause, SCIMException):
        scim_type = cause.scim_type or None
    elif isinstance(cause, RequestValidationError):
        status = 400
        scim_type, detail = _request_validation(cause)
    elif isinstance(cause, AlreadyTaken):
        scim_type = "uniqueness"
        detail = f"Another user already has this {_ATTRIBUTES.get(cause.field, cause.field)}."
    elif isinstance(cause, IntegrityError):
        scim_type = "uniqueness"
    elif status == 422:  # a value the service refused
        status, scim_type = 400, "invalidValue"
    headers = {k: v for k, v in error.headers.items() if k.lower() in _KEPT_HEADERS}
    return scim_error(status, detail, scim_type, headers)


async def _scim_exception(request: Request, exc: SCIMException) -> Response:
    return render(request, ErrorBody(exc.status, exc.detail, cause=exc))


def install_scim_errors(app: FastAPI) -> None:
    """Render every error under `/scim` as a SCIM error body."""
    error_formats(app).register(SCIM_ROOT, render_scim_error)
    app.add_exception_handler(SCIMException, _scim_exception)
