"""The hand-written baseline of `company.py`: what a team would write instead of Brandcast.

FastAPI + asyncpg and nothing of the service's: the employee's JWT verified with python-jose
(HS256, like the bench's tokens; `iss`, `aud` and `exp` checked), the employee found by
`external_id` inside the same statement as the work, and

- `GET /v1/me/messages`: ONE statement, the 20 newest live messages sent to the employee (the
  recipient rows in the order of the (employee_id, published_at, message_id) index, joined to
  the messages) with their title, summary (the message's own language: no localization) and
  the receipt state (read, acknowledged, due);
- `POST /v1/me/messages/{id}/acknowledgement`: ONE conditional `UPDATE` of the recipient row
  (the message asks for it, is live, and the employee owes a current acknowledgement), and
  nothing else: no evidence row, no audit row, no outbox event.

No transaction around either (each is one statement), no ORM, no middleware; `json.dumps`.

    BENCH_DATABASE_URL=postgresql://… BENCH_JWT_SECRET=… BENCH_JWT_ISSUER=… \
    BENCH_JWT_AUDIENCE=… .venv/bin/python -m uvicorn hand_app:app --app-dir bench \
        --loop uvloop --http httptools
"""

import gc
import json
import os
import uuid
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import Response
from jose import jwt
from jose.exceptions import JOSEError

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = os.environ.get("BENCH_JWT_SECRET", "")
ISSUER = os.environ.get("BENCH_JWT_ISSUER", "https://sso.bench.example")
AUDIENCE = os.environ.get("BENCH_JWT_AUDIENCE", "brandcast")

FEED_SQL = """
SELECT m.id, m.title, m.summary, m.category, m.priority, r.published_at, r.read_at,
    CASE WHEN r.acknowledged_version >= m.acknowledgement_version THEN r.acknowledged_at END
        AS acknowledged_at,
    m.requires_acknowledgement, r.due_at
FROM employees e
JOIN recipients r ON r.employee_id = e.id
JOIN messages m ON m.id = r.message_id
WHERE e.external_id = $1 AND e.active
  AND m.status = 'published' AND (m.expires_at IS NULL OR m.expires_at > now())
ORDER BY r.published_at DESC, r.message_id DESC
LIMIT $2
"""
ACK_SQL = """
UPDATE recipients r
SET acknowledged_at = now(), acknowledged_version = m.version,
    read_at = coalesce(r.read_at, now())
FROM employees e, messages m
WHERE e.external_id = $1 AND e.active
  AND r.employee_id = e.id AND r.message_id = $2 AND m.id = r.message_id
  AND m.requires_acknowledgement AND m.status = 'published'
  AND (m.expires_at IS NULL OR m.expires_at > now())
  AND (r.acknowledged_version IS NULL OR r.acknowledged_version < m.acknowledgement_version)
RETURNING r.acknowledged_at, r.acknowledged_version
"""


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await asyncpg.create_pool(
        DATABASE_URL,
        min_size=10,
        max_size=20,
        server_settings={"application_name": "brandcast-hand", "jit": "off"},
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(content: object, status: int = 200) -> Response:
    return Response(json.dumps(content), status_code=status, media_type="application/json")


def _subject(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(
            auth[7:], SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
            options={"require_exp": True},
        )  # fmt: skip
    except JOSEError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


@app.get("/healthz")
async def healthz() -> Response:
    return _json({"status": "ok"})


@app.get("/v1/me/messages")
async def feed(request: Request) -> Response:
    subject = _subject(request)
    if subject is None:
        return _json({"detail": "Unauthorized"}, 401)
    limit = min(100, int(request.query_params.get("limit", 20)))
    rows = await request.app.state.pool.fetch(FEED_SQL, subject, limit)
    items = [
        {
            "id": str(r["id"]),
            "title": r["title"],
            "summary": r["summary"],
            "category": r["category"],
            "priority": r["priority"],
            "published_at": _iso(r["published_at"]),
            "read_at": _iso(r["read_at"]),
            "acknowledged_at": _iso(r["acknowledged_at"]),
            "acknowledge_by": _iso(r["due_at"]) if r["requires_acknowledgement"] else None,
            "requires_acknowledgement": r["requires_acknowledgement"],
        }
        for r in rows
    ]
    return _json({"items": items})


@app.post("/v1/me/messages/{message_id}/acknowledgement")
async def acknowledge(message_id: uuid.UUID, request: Request) -> Response:
    subject = _subject(request)
    if subject is None:
        return _json({"detail": "Unauthorized"}, 401)
    row = await request.app.state.pool.fetchrow(ACK_SQL, subject, message_id)
    if row is None:  # not sent to them, not asked, closed, or already acknowledged
        return _json({"detail": "Nothing to acknowledge."}, 409)
    body = {
        "message_id": str(message_id),
        "version": row["acknowledged_version"],
        "acknowledged_at": _iso(row["acknowledged_at"]),
    }
    return _json(body, 201)


gc.collect()
gc.freeze()
