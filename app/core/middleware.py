"""One pure-ASGI middleware for what every request needs: id, body limit, log, metrics."""

import functools
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import ErrorBody, error_formats
from app.core.observability import LATENCY, REQUESTS, request_id_var

access_log = logging.getLogger("brandcast.access")

# Only ids that are safe to echo into a header and a log line are taken from the caller.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BULK_PATH = re.compile(r"/bulk/?$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_bulk_body = settings.max_bulk_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = [500]
        limit = self.max_bulk_body if _BULK_PATH.search(scope["path"]) else self.max_body

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(scope, receive, send, request_id, limit)
            self._observe(scope, 413, started, request_id)
            return

        received = 0
        response_started = False
        too_large = False

        async def limited_receive() -> Message:
            # A body that grows past the limit without declaring its length: answer 413 here
            # and tell the app the client is gone (it must not answer on top of us).
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    if not response_started:
                        await _send_too_large(scope, receive, send, request_id, limit)
                        status_holder[0] = 413
                    return {"type": "http.disconnect"}
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if too_large:
                return
            if message["type"] == "http.response.start":
                response_started = True
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception:
            if not too_large:
                raise
        finally:
            self._observe(scope, status_holder[0], started, request_id)

    @staticmethod
    def _observe(scope: Scope, status: int, started: float, request_id: str) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        count, latency = _series(method, template, status)
        count.inc()
        latency.observe(elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return
        access_log.info(
            "request",
            extra={
                "fields": {
                    "method": method,
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                }
            },
        )


@functools.lru_cache(maxsize=4096)
def _series(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of a route and status (labels resolved
    once: by route template, so there are as many as routes times statuses)."""
    return REQUESTS.labels(method, template, str(status)), LATENCY.labels(method, template)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.match(candidate) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(
    scope: Scope, receive: Receive, send: Send, request_id: str, limit: int
) -> None:
    error = ErrorBody(
        413,
        f"The request body exceeds {limit} bytes.",
        title="Payload too large",
        slug="payload-too-large",
    )
    response = error_formats(scope["app"]).for_path(scope["path"])(error)
    response.headers["x-request-id"] = request_id
    response.headers["connection"] = "close"
    await response(scope, receive, send)
