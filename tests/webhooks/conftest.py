"""A real HTTP receiver on 127.0.0.1 (allow-listed), and helpers to subscribe and dispatch."""

import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.webhooks.dispatcher import dispatch_once
from tests.conftest import TEST_JWT_SECRET


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        run_scheduler=False,
        jwt_algorithms="HS256",
        jwt_secret=TEST_JWT_SECRET,
        webhook_allowed_hosts="127.0.0.1",
        webhook_timeout_seconds=0.5,
        webhook_retry_base_seconds=10,
        webhook_retry_max_delay_seconds=3600,
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; `behaviour(body)` returns (status, seconds to wait before answering)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    behaviour: Callable[[bytes], tuple[int, float]] = lambda _body: (200, 0.0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, *answers: int | tuple[int, float], event_id: object = None) -> None:
        """Answer the next requests (only those carrying `event_id`, if given) with these
        statuses (or (status, delay)); then 200."""
        queue = [a if isinstance(a, tuple) else (a, 0.0) for a in answers]

        def _next(body: bytes) -> tuple[int, float]:
            if event_id is not None and json.loads(body).get("id") != str(event_id):
                return (200, 0.0)
            return queue.pop(0) if queue else (200, 0.0)

        self.behaviour = _next

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.json for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                status, delay = state.behaviour(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                state.received.append(Received(self.path, headers, body))
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the dispatcher gave up waiting
                pass

        def log_message(self, *_args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 64  # the dispatcher opens up to 10 connections at once

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def subscribe(admin: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create a webhook through the API; returns the 201 body (with its secret)."""

    async def _subscribe(url: str, events: list[str] | None = None, **fields: Any):
        r = await admin.post("/v1/webhooks", json={"url": url, "events": events or ["*"], **fields})
        assert r.status_code == 201, r.text
        return r.json()

    return _subscribe


@pytest.fixture
def dispatch(app, settings: Settings) -> Callable[..., Awaitable[int]]:
    async def _dispatch(now: datetime | None = None, **overrides: Any) -> int:
        used = settings.model_copy(update=overrides) if overrides else settings
        return await dispatch_once(app.state.db, used, now=now)

    return _dispatch
