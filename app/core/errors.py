"""Domain errors and how every error reaches the client.

Services raise `AppError`s; the framework raises validation and HTTP errors; the database
layer raises its own. Each handler here turns what was raised into one `ErrorBody`, and the
error format registered for the request's path renders it: RFC 9457 problem+json by default,
SCIM error bodies under `/scim` (registered by the SCIM area). The same choice serves the
handlers, the body-size middleware and the OpenAPI document.
"""

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

from app.core import db_errors
from app.core.db_errors import DATABASE_ERRORS, DatabaseFailure

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


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


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


@dataclass(frozen=True)
class ErrorBody:
    """An error on its way to the client, before a format renders it."""

    status: int
    detail: str
    title: str | None = None  # the status phrase when None
    slug: str | None = None  # `type` is `about:blank` when None
    headers: Mapping[str, str] = field(default_factory=dict)
    members: Mapping[str, Any] = field(default_factory=dict)  # e.g. `errors`, `current_etag`
    cause: BaseException | None = None  # what was raised, for formats that tell kinds apart


ErrorRenderer = Callable[[ErrorBody], Response]


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"


def render_problem(error: ErrorBody) -> JSONResponse:
    """RFC 9457 `application/problem+json`."""
    phrase = _phrase(error.status)
    body: dict[str, Any] = {
        "type": problem_type(error.slug) if error.slug else "about:blank",
        "title": error.title or phrase,
        "status": error.status,
        "detail": error.detail or phrase,
        **error.members,
    }
    return JSONResponse(
        body, status_code=error.status, headers=dict(error.headers), media_type=PROBLEM_MEDIA_TYPE
    )


class ErrorFormats:
    """Which renderer answers the errors of which paths: problem+json unless a path prefix
    registered another (SCIM). Decided here once, for handlers, middleware and OpenAPI."""

    def __init__(self) -> None:
        self._prefixes: list[tuple[str, ErrorRenderer]] = []

    def register(self, prefix: str, renderer: ErrorRenderer) -> None:
        self._prefixes.append((prefix.rstrip("/"), renderer))

    def for_path(self, path: str) -> ErrorRenderer:
        for prefix, renderer in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return renderer
        return render_problem

    def is_problem_json(self, path: str) -> bool:
        return self.for_path(path) is render_problem


def error_formats(app: Any) -> ErrorFormats:
    """The app's error formats (created on first use)."""
    formats = getattr(app.state, "error_formats", None)
    if formats is None:
        formats = app.state.error_formats = ErrorFormats()
    return formats


def render(request: Request, error: ErrorBody) -> Response:
    """`error` in the format of the request's path."""
    return error_formats(request.app).for_path(request.scope["path"])(error)


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value"))
        # pydantic prefixes messages raised by our own validators; clients need not see it
        msg = msg.removeprefix("Value error, ")
        out.append(field_error(format_loc(err.get("loc", ())), msg, str(err.get("type", ""))))
    return out


def _json_syntax(error: Any, document: Any) -> Any:
    """A JSON syntax error at `body`, with its line and column, where FastAPI names the
    character offset (`body[14]`, which reads like an index into the body)."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") != "json_invalid" or len(loc) != 2 or not isinstance(loc[1], int):
        return error
    reason = str((error.get("ctx") or {}).get("error") or "not JSON")
    if isinstance(document, bytes):
        document = document.decode("utf-8", "replace")
    if not isinstance(document, str):
        return {**error, "loc": ("body",), "msg": f"Invalid JSON: {reason}"}
    where = json.JSONDecodeError(reason, document, loc[1])  # counts lines and columns
    msg = f"Invalid JSON at line {where.lineno}, column {where.colno}: {reason}"
    return {**error, "loc": ("body",), "msg": msg}


def readable(exc: RequestValidationError) -> RequestValidationError:
    """`exc` with its JSON syntax errors told by line and column, for every error format."""
    errors = list(exc.errors())
    if not any(error.get("type") == "json_invalid" for error in errors):
        return exc
    rewritten = [_json_syntax(error, exc.body) for error in errors]
    return RequestValidationError(rewritten, body=exc.body, endpoint_ctx=exc.endpoint_ctx)


def invalid(errors: list[dict[str, str]], cause: BaseException | None = None) -> ErrorBody:
    """The 422 for these field errors."""
    return ErrorBody(
        422,
        _summarize(errors),
        title="Validation failed",
        slug="validation-error",
        members={"errors": errors},
        cause=cause,
    )


def database_error(exc: BaseException) -> ErrorBody:
    """The client's view of a database failure: 422, 503 (retry) or a bare 500."""
    failure = db_errors.classify(exc) or DatabaseFailure.FAULT
    if failure is DatabaseFailure.BAD_VALUE:
        logger.warning("the database refused a value: %s", exc.__class__.__name__)
        errors = [field_error("request", "A value cannot be stored or compared.", "value_error")]
        return ErrorBody(
            422,
            "A value in the request cannot be stored or compared (out of range, or a "
            "character such as NUL that text cannot hold).",
            title="Validation failed",
            slug="validation-error",
            members={"errors": errors},
            cause=exc,
        )
    if failure is DatabaseFailure.UNAVAILABLE:
        logger.error("database unavailable: %s", exc.__class__.__name__)
        return ErrorBody(
            503,
            "The database is not reachable; try again shortly.",
            slug="service-unavailable",
            headers={"Retry-After": "5"},
            cause=exc,
        )
    logger.error("unhandled database error", exc_info=exc)
    return _internal_error(exc)


def _internal_error(exc: BaseException) -> ErrorBody:
    return ErrorBody(500, "An unexpected error occurred.", slug="internal-error", cause=exc)


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
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


def _from_http(request: Request, exc: StarletteHTTPException) -> ErrorBody:
    reason = _malformed_body(exc)
    if reason is not None:
        return invalid([field_error("body", reason, "json_invalid")], exc)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such resource."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        detail = "This method is not allowed on this resource."
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return ErrorBody(
        exc.status_code, detail or _phrase(exc.status_code), headers=headers, cause=exc
    )


def install_error_handlers(app: FastAPI) -> None:
    """One handler per kind of exception; each renders through the path's error format."""
    error_formats(app)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        error = ErrorBody(
            exc.status,
            exc.detail,
            title=exc.title,
            slug=exc.slug,
            headers=exc.headers,
            members=exc.extra,
            cause=exc,
        )
        return render(request, error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        exc = readable(exc)
        return render(request, invalid(validation_errors(exc), exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return render(request, _from_http(request, exc))

    @app.exception_handler(sa_exc.IntegrityError)
    async def _integrity(request: Request, exc: sa_exc.IntegrityError) -> Response:
        # the constraint, not the driver's text: PostgreSQL's DETAIL quotes the values
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
        logger.warning(
            "integrity error not handled by a service: %s on %s",
            type(exc.orig).__name__,
            constraint or "a constraint",
        )
        error = ErrorBody(
            409,
            "The change conflicts with existing data.",
            title="Conflict",
            slug="conflict",
            cause=exc,
        )
        return render(request, error)

    # Handled here rather than by the catch-all below: answered like any other error, without
    # the traceback the server logs for an exception that escapes the application.
    async def _database(request: Request, exc: Exception) -> Response:
        return render(request, database_error(exc))

    for exc_class in DATABASE_ERRORS:
        app.add_exception_handler(exc_class, _database)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if db_errors.classify(exc) in (DatabaseFailure.BAD_VALUE, DatabaseFailure.UNAVAILABLE):
            return render(request, database_error(exc))
        logger.exception("unhandled error")
        return render(request, _internal_error(exc))
