"""The "same SQL" baseline of `company.py`: the service's own hot-path statements, bare.

A minimal FastAPI app with two plain routes (no dependencies, no response models, no
middleware, no sign-in cache) that runs exactly the statements the service runs on those paths,
on an asyncpg pool: each is compiled once from the service's own builders (`Prepared`) and sent
as text with its positional parameters, with no transaction around it (as the service's
`Direct` connection does on PostgreSQL). Per request:

- the employee's HS256 JWT decoded with the same library (python-jose), `iss`, `aud` and
  `exp` checked;
- the service's sign-in statement (`app.auth.signin`, by `external_id`);
- feed: the service's feed statement (`app.me.service._feed_page`, no filters, first page),
  the texts from a per-process content cache validated by revision (the service's
  `ContentCache`, reading what it lacks with the service's statement), items built by the
  service's `feed_item`;
- acknowledgement: the service's one-statement CTE (`app.receipts.acknowledgements`), its
  parameters (evidence hash, audit row, outbox event) made by the service's own functions,
  batched with concurrent ones as the service batches them (`app.core.batching`).

So the gap between this app and the service is what the service spends around the same SQL
(routing through dependencies, middleware, rate limit, errors), and the gap between this app
and `hand_app.py` is what the service's SQL does beyond what a hand-written endpoint does.

    BENCH_DATABASE_URL=postgresql://… BENCH_JWT_SECRET=… BENCH_JWT_ISSUER=… \
    BENCH_JWT_AUDIENCE=… .venv/bin/python -m uvicorn raw_app:app --app-dir bench \
        --loop uvloop --http httptools

Like the service in the bench: up to 20 pooled connections kept open, no JIT, and what exists
at start-up frozen out of the garbage collector's full passes.
"""

import gc
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import Response
from jose import jwt
from jose.exceptions import JOSEError
from pydantic_core import to_json
from sqlalchemy.dialects import postgresql

from app.auth.signin import _SIGN_IN
from app.core.database import utcnow
from app.core.direct import Prepared, Row
from app.core.observability import request_id_var
from app.core.pagination import PageParams
from app.core.principal import Principal
from app.me import service as me
from app.messages.content import ContentCache
from app.messages.locales import preferences
from app.receipts import acknowledgements as acks
from app.receipts import rules

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = os.environ.get("BENCH_JWT_SECRET", "")
ISSUER = os.environ.get("BENCH_JWT_ISSUER", "https://sso.bench.example")
AUDIENCE = os.environ.get("BENCH_JWT_AUDIENCE", "brandcast")
POOL_MIN, POOL_MAX = 10, 20  # connections are kept once opened, up to 20
DEFAULT_LIMIT = 20

DIALECT = postgresql.asyncpg.dialect()
FEED = me._feed_page(None, False, False)
SIGN_IN = _SIGN_IN["external_id"]
CURRENT = acks._CURRENT


class BareDirect:
    """The `Direct` protocol on a bare asyncpg connection: the compiled text of a `Prepared`
    statement and its parameters in order, nothing else (what `app.core.direct` does)."""

    __slots__ = ("_conn",)
    session = None

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Row]:
        compiled = prepared.compiled(DIALECT)
        args = []
        for name in compiled.names:
            value = params[name] if name in params else compiled.defaults[name]
            processor = compiled.processors.get(name)
            args.append(processor(value) if processor is not None else value)
        rows: Sequence[Row] = await self._conn.fetch(compiled.text, *args)
        return rows

    async def fetchrow(self, prepared: Prepared, params: Mapping[str, Any]) -> Row | None:
        rows = await self.fetch(prepared, params)
        return rows[0] if rows else None


async def _init(conn: asyncpg.Connection) -> None:
    # as SQLAlchemy's asyncpg dialect: JSON parameters arrive serialized, results are parsed
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=str, decoder=json.loads, schema="pg_catalog")


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await asyncpg.create_pool(
        DATABASE_URL,
        min_size=POOL_MIN,
        max_size=POOL_MAX,
        init=_init,
        # the session settings of the service's engine (app/core/database.py)
        server_settings={"application_name": "brandcast-raw", "jit": "off"},
    )
    app.state.contents = ContentCache()
    app.state.acknowledgement_batches = acks.acknowledgement_batches()
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(content), status_code=status, media_type="application/json",
                    headers=headers)  # fmt: skip


def _problem(status: int, detail: str) -> Response:
    body = json.dumps({"status": status, "detail": detail})
    return Response(body, status_code=status, media_type="application/problem+json")


def _subject(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
            options={"require_exp": True},
        )  # fmt: skip
    except JOSEError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


async def _signed_in(conn: BareDirect, request: Request) -> tuple[Principal, Row] | None:
    subject = _subject(request)
    if subject is None:
        return None
    row = await conn.fetchrow(SIGN_IN, {"value": subject})
    if row is None:
        return None
    principal = Principal(
        kind="employee",
        id=str(row["id"]),
        name=row["display_name"] or row["external_id"],
        employee_id=row["id"],
        external_id=row["external_id"],
    )
    return principal, row


@app.get("/healthz")
async def healthz() -> Response:
    return _json({"status": "ok"})


@app.get("/v1/me/messages")
async def feed(request: Request) -> Response:
    limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
    async with request.app.state.pool.acquire() as raw:
        conn = BareDirect(raw)
        signed_in = await _signed_in(conn, request)
        if signed_in is None:
            return _problem(401, "Unauthorized")
        principal, employee = signed_in
        prefs = preferences(request.headers.get("accept-language"), employee["locale"])
        page = await me.list_feed(
            conn,
            principal,
            page=PageParams(limit=limit, after=None),
            cache=request.app.state.contents,
            prefs=prefs,
        )
    return _json(page, headers={"Vary": "Accept-Language"})


@app.post("/v1/me/messages/{message_id}/acknowledgement")
async def acknowledge(message_id: uuid.UUID, request: Request) -> Response:
    """The service's one-statement acknowledgement, its retry loop left out (the bench's
    messages do not change while it runs): 201 when created, 200 when already given."""
    now = utcnow()
    request_id_var.set(uuid.uuid4().hex)  # the service's middleware gives each request an id
    cache: ContentCache = request.app.state.contents
    async with request.app.state.pool.acquire() as raw:
        conn = BareDirect(raw)
        signed_in = await _signed_in(conn, request)
        if signed_in is None:
            return _problem(401, "Unauthorized")
        principal, employee = signed_in
        prefs = preferences(request.headers.get("accept-language"), employee["locale"])
        content = cache.latest(message_id) or await cache.load(conn, message_id)
        if content is None:
            return _problem(404, acks.NOT_SENT)
        # the bench's messages have no quiz and its employees no edition: HQ's text
        attempt = acks.acknowledgement_attempt(principal, message_id, content, prefs, now)
        row = await request.app.state.acknowledgement_batches.submit(conn, attempt)
        if row is None:
            return _problem(404, acks.NOT_SENT)
        if not row["requires_acknowledgement"]:
            return _problem(409, acks.NOT_ASKED)
        if row["ack_id"] is not None:
            return _json(acks._ack_out(message_id, row).model_dump(mode="json"))
        if row["inserted_id"] is None:
            if not rules.is_live(row["status"], row["expires_at"], now):
                return _problem(409, acks.CLOSED)
            winner = await conn.fetchrow(CURRENT, {"caller_id": principal.employee_id,
                                                   "delivered_id": message_id})  # fmt: skip
            return _json(acks._ack_out(message_id, winner).model_dump(mode="json"))
    out = acks.created_by(attempt).model_dump(mode="json")
    location = f"/v1/me/messages/{message_id}/acknowledgement"
    return _json(out, status=201, headers={"Location": location})


# as the service's `app_from_env` does: what exists at start-up stays out of full collections
gc.collect()
gc.freeze()
