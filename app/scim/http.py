"""SCIM on the wire: `application/scim+json` responses and RFC 7644 §3.12 error bodies.

Errors under `/scim/` are SCIM error bodies, whatever raised them (authentication, the
employee services, request validation, routing, an unexpected failure); everywhere else
the application's problem+json handlers answer unchanged. `install_scim_errors` wraps those
handlers rather than duplicating them, so logging and status decisions stay in one place.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from scim2_models import Error, SCIMException
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.core.errors import DATABASE_ERRORS, AppError, format_loc
from app.employees.service import AlreadyTaken
from app.scim.schemas import ERROR_SCHEMA, SCIM_MEDIA_TYPE, SCIM_PREFIX

Handler = Callable[[Request, Any], Awaitable[Response]]

# Headers of the wrapped problem response that a SCIM client needs too.
_KEPT_HEADERS = ("www-authenticate", "allow", "retry-after")
_ATTRIBUTES = {"external_id": "externalId", "email": "emails", "user_name": "userName"}
# Request-validation errors that mean "this body is not a SCIM JSON object at all".
_SYNTAX_ERRORS = {"missing", "dict_type", "model_attributes_type"}


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


def is_scim(request: Request) -> bool:
    path: str = request.scope["path"]
    return path == SCIM_PREFIX or path.startswith(f"{SCIM_PREFIX}/")


def _request_validation(exc: RequestValidationError) -> tuple[str, str]:
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = tuple(first.get("loc", ()))
    msg = str(first.get("msg", "The request is not valid.")).removeprefix("Value error, ")
    kind = first.get("type")
    if kind == "json_invalid" or (loc == ("body",) and kind in _SYNTAX_ERRORS):
        return "invalidSyntax", f"The body is not a SCIM JSON object: {msg}"
    return "invalidValue", f"{format_loc(loc)}: {msg}"


def _translate(exc: Exception, problem: Response) -> ScimJSONResponse:
    status = problem.status_code
    body = json.loads(bytes(problem.body)) if problem.body else {}
    detail = str(body.get("detail") or "The request failed.")
    scim_type = None
    if isinstance(exc, RequestValidationError):
        status = 400
        scim_type, detail = _request_validation(exc)
    elif isinstance(exc, AlreadyTaken):
        scim_type = "uniqueness"
        detail = f"Another user already has this {_ATTRIBUTES.get(exc.field, exc.field)}."
    elif isinstance(exc, IntegrityError):
        scim_type = "uniqueness"
    elif status == 422:  # SCIM has no 422: a value the service refused
        status, scim_type = 400, "invalidValue"
    headers = {k: v for k, v in problem.headers.items() if k.lower() in _KEPT_HEADERS}
    return scim_error(status, detail, scim_type, headers)


def _scoped(fallback: Handler) -> Handler:
    async def handler(request: Request, exc: Any) -> Response:
        problem = await fallback(request, exc)
        if not is_scim(request):
            return problem
        return _translate(exc, problem)

    return handler


async def _scim_exception(_request: Request, exc: SCIMException) -> Response:
    return scim_error(exc.status, exc.detail, exc.scim_type or None)


def install_scim_errors(app: FastAPI) -> None:
    """Render errors under /scim as SCIM error bodies; call after the app's own handlers."""
    for exc_class in (
        AppError,
        RequestValidationError,
        StarletteHTTPException,
        IntegrityError,
        *DATABASE_ERRORS,
        Exception,
    ):
        fallback = app.exception_handlers.get(exc_class)
        if fallback is not None:
            app.add_exception_handler(exc_class, _scoped(fallback))
    app.add_exception_handler(SCIMException, _scim_exception)
