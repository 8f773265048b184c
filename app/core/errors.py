"""Domain errors and their one rendering: RFC 9457 problem+json."""

import logging
from http import HTTPStatus
from typing import Any

from asyncpg import exceptions as asyncpg_exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

logger = logging.getLogger("brandcast.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_type(slug: str) -> str:
    return f"urn:brandcast:problem:{slug}"


class AppError(Exception):
    """An error a client can act on; services raise it, the handler renders it."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if title is not None:
            self.title = title
        self.headers = headers or {}
        self.extra = extra


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str = "A valid bearer credential is required.", **kw: Any):
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class ValidationFailed(AppError):
    """422 raised by a service, with the same `errors` list as framework validation."""

    status, slug, title = 422, "validation-error", "Validation failed"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None, **kw: Any):
        super().__init__(detail or _summarize(errors), errors=errors, **kw)


class TooManyRequests(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


def field_error(loc: str, msg: str, type_: str = "value_error") -> dict[str, str]:
    return {"loc": loc, "msg": msg, "type": type_}


def format_loc(loc: tuple[Any, ...] | list[Any]) -> str:
    """("body", "rule", "all", 1, "value") -> "body.rule.all[1].value"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _summarize(errors: list[dict[str, str]]) -> str:
    if not errors:
        return "The request is not valid."
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['loc']}: {first['msg']}{more}"


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value"))
        # pydantic prefixes messages raised by our own validators; clients need not see it
        msg = msg.removeprefix("Value error, ")
        out.append(field_error(format_loc(err.get("loc", ())), msg, str(err.get("type", ""))))
    return out


# SQLSTATE classes meaning "the database cannot serve this now, try again": connection
# exception, transaction rollback (deadlock, serialization), insufficient resources, operator
# intervention (shutting down, starting up, statement cancelled).
_RETRYABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})
# Class 22, data exception: a value the database cannot hold or compare (NUL in text, out of
# range). Validation should have refused it first; this keeps a missed case from being a 500.
_DATA_EXCEPTION_CLASS = "22"
# Raised by the database layer, not by the code: mapped to 503 or 422 by `_database_error`.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
)


def _sqlstate(exc: sa_exc.DBAPIError) -> str:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else ""


def _is_bad_value(exc: BaseException) -> bool:
    if isinstance(exc, OverflowError):  # e.g. an integer SQLite cannot store
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if _sqlstate(exc).startswith(_DATA_EXCEPTION_CLASS):
        return True
    # asyncpg refuses some arguments before sending them (an integer beyond 64 bits)
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(cause, asyncpg_exceptions.DataError)


def _is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.TimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return (
            bool(exc.connection_invalidated)
            or isinstance(exc, sa_exc.OperationalError)
            or _sqlstate(exc)[:2] in _RETRYABLE_SQLSTATE_CLASSES
            or (isinstance(exc, sa_exc.InterfaceError) and not _is_bad_value(exc))
        )
    return isinstance(exc, OSError)


def _database_error(exc: BaseException) -> JSONResponse:
    if _is_bad_value(exc):
        logger.warning("the database refused a value: %s", exc.__class__.__name__)
        errors = [field_error("request", "A value cannot be stored or compared.", "value_error")]
        return problem_response(
            422,
            title="Validation failed",
            detail="A value in the request cannot be stored or compared (out of range, or a "
            "character such as NUL that text cannot hold).",
            slug="validation-error",
            errors=errors,
        )
    if _is_database_unavailable(exc):
        logger.error("database unavailable: %s", exc.__class__.__name__)
        return problem_response(
            503,
            detail="The database is not reachable; try again shortly.",
            slug="service-unavailable",
            headers={"Retry-After": "5"},
        )
    logger.error("unhandled database error", exc_info=exc)
    return problem_response(500, detail="An unexpected error occurred.", slug="internal-error")


def _leaf_routes(routes):
    for route in routes:
        nested = getattr(route, "original_router", None)
        yield from _leaf_routes(nested.routes) if nested is not None else (route,)


def _allowed_methods(request: Request) -> list[str]:
    # Starlette names only the first route that matched the path; the path may have several.
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "__probe__"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


# what FastAPI says when it cannot decode a request body
_UNPARSABLE_BODY = "There was an error parsing the body"


def _malformed_body(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse the body, for its 400s that are malformed bodies (answered
    as 422, like JSON syntax errors), else None."""
    if isinstance(exc.__cause__, RecursionError):  # nesting past any real need
        return "The JSON nests too deeply."
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:  # bytes that are not UTF-8
        return "The body is not UTF-8 encoded JSON."
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            exc.status,
            title=exc.title,
            detail=exc.detail,
            slug=exc.slug,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        return problem_response(
            422,
            title="Validation failed",
            detail=_summarize(errors),
            slug="validation-error",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = _malformed_body(exc)
        if reason is not None:
            errors = [field_error("body", reason, "json_invalid")]
            return problem_response(
                422,
                title="Validation failed",
                detail=_summarize(errors),
                slug="validation-error",
                errors=errors,
            )
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource."
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            detail = "This method is not allowed on this resource."
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(exc.status_code, detail=detail, headers=headers)

    @app.exception_handler(sa_exc.IntegrityError)
    async def _integrity(_request: Request, exc: sa_exc.IntegrityError) -> JSONResponse:
        logger.warning("integrity error not handled by a service: %s", exc.orig)
        return problem_response(
            409,
            title="Conflict",
            detail="The change conflicts with existing data.",
            slug="conflict",
        )

    # Handled here rather than by the catch-all below: answered like any other error, without
    # the traceback the server logs for an exception that escapes the application.
    async def _database(_request: Request, exc: Exception) -> JSONResponse:
        return _database_error(exc)

    for exc_class in DATABASE_ERRORS:
        app.add_exception_handler(exc_class, _database)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        if _is_database_unavailable(exc) or _is_bad_value(exc):
            return _database_error(exc)
        logger.exception("unhandled error")
        return problem_response(500, detail="An unexpected error occurred.", slug="internal-error")
