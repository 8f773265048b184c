"""The bare baseline of `company.py`: the feed and the acknowledgement by hand.

A minimal FastAPI app with two plain routes (no dependencies, no response models, no
middleware of its own) that does what the service does on those paths with the raw driver: it
decodes the employee's HS256 JWT with the same library (python-jose), looks the employee up,
and runs the service's statements through an asyncpg pool, in one transaction per request
(BEGIN … COMMIT, as the service's session does). The feed statement is compiled once from the
service's own builders, so it is exactly the one `list_feed` runs; the acknowledgement's
statements are written out by hand. Rows become the same JSON the service answers (checked by
`company.py` before it measures), with the service's own pure functions for the locale choice,
the pulse question, the reaction counts and the evidence hash, and `json.dumps`.

    BENCH_DATABASE_URL=postgresql://… BENCH_JWT_SECRET=… \
        .venv/bin/python -m uvicorn raw_app:app --app-dir bench --loop uvloop --http httptools

Like the service in the bench: up to 20 pooled connections kept open, no JIT, and what exists at
start-up frozen out of the garbage collector's full passes.
"""

import base64
import gc
import json
import os
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import Response
from jose import jwt
from jose.exceptions import JOSEError
from sqlalchemy.dialects import postgresql

from app.core.pagination import PageParams, keyset
from app.core.principal import Principal
from app.feedback.counts import reaction_counts
from app.feedback.service import localized_pulse_question
from app.me.service import feed_columns, languages_of
from app.messages.locales import choose_locale, preferences
from app.messages.models import DEFAULT_FEEDBACK, Message
from app.receipts.access import visible_to
from app.receipts.acknowledgements import content_sha256

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = os.environ.get("BENCH_JWT_SECRET", "")
POOL_MIN, POOL_MAX = 10, 20  # connections are kept once opened, up to 20

EMPLOYEE_SQL = """
SELECT id, external_id, email, display_name, given_name, family_name, department, division,
    location, country, job_title, job_level, manager_external_id, employment_type,
    customer_facing, hire_date, locale, active, attributes
FROM employees WHERE external_id = $1 AND active IS true
"""


def _feed_statement() -> tuple[str, Callable[[uuid.UUID, datetime, list[str]], list[Any]]]:
    """The service's feed statement (first page of 50) as SQL text for asyncpg, and how to
    fill its parameters: compiled once from the service's own builders, so that the
    baseline always runs exactly the statement `list_feed` runs."""
    employee, now = uuid.UUID(int=0xB), datetime(2001, 2, 3, tzinfo=UTC)
    caller = Principal(kind="employee", id="", name="", employee_id=employee)
    stmt = keyset(
        visible_to(caller, now, *feed_columns("postgresql")),
        PageParams(limit=LIMIT, after=None),
        [Message.published_at, Message.id],
    )
    compiled = stmt.compile(dialect=postgresql.asyncpg.dialect())
    names = list(compiled.positiontup)
    values = [compiled.params[name] for name in names]

    def args(employee_id: uuid.UUID, at: datetime, languages: list[str]) -> list[Any]:
        return [
            languages
            if name == "languages"
            else employee_id
            if value == employee
            else at
            if value == now
            else value
            for name, value in zip(names, values, strict=True)
        ]

    return str(compiled), args


LIMIT = 50
FEED_SQL, feed_args = _feed_statement()
DELIVERY_SQL = """
SELECT messages.id, messages.status, messages.expires_at, messages.version,
    messages.acknowledgement_version, messages.requires_acknowledgement, messages.title,
    messages.summary, messages.body, messages.locale, messages.translations,
    messages.acknowledgement_text, acknowledgements.id AS ack_id,
    acknowledgements.version AS ack_version, acknowledgements.statement AS ack_statement,
    acknowledgements.locale AS ack_locale, acknowledgements.content_sha256 AS ack_sha256,
    acknowledgements.acknowledged_at AS ack_at
FROM recipients JOIN messages ON messages.id = recipients.message_id
LEFT OUTER JOIN acknowledgements ON acknowledgements.message_id = recipients.message_id
    AND acknowledgements.employee_id = recipients.employee_id
    AND acknowledgements.acknowledgement_version = messages.acknowledgement_version
WHERE recipients.employee_id = $1 AND recipients.message_id = $2
    AND messages.status IN ($3, $4)
"""
INSERT_ACK_SQL = """
INSERT INTO acknowledgements (id, message_id, employee_id, acknowledgement_version, version,
    statement, locale, content_sha256, acknowledged_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (message_id, employee_id, acknowledgement_version) DO NOTHING
RETURNING acknowledgements.id
"""
WINNER_SQL = """
SELECT id AS ack_id, version AS ack_version, statement AS ack_statement, locale AS ack_locale,
    content_sha256 AS ack_sha256, acknowledged_at AS ack_at
FROM acknowledgements
WHERE message_id = $1 AND employee_id = $2 AND acknowledgement_version = $3
"""
UPDATE_RECIPIENT_SQL = """
UPDATE recipients SET acknowledged_at = $3, acknowledged_version = $4,
    read_at = coalesce(recipients.read_at, $3)
WHERE recipients.message_id = $1 AND recipients.employee_id = $2
"""
AUDIT_SQL = """
INSERT INTO audit_events (id, occurred_at, actor, actor_name, action, entity_type, entity_id,
    request_id, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
EVENT_SQL = """
INSERT INTO events (id, type, created_at, data, ordering_key) VALUES ($1, $2, $3, $4, $5)
RETURNING events.seq
"""
SUBSCRIBERS_SQL = """
SELECT webhooks.id FROM webhooks
WHERE webhooks.active AND (webhooks.events @> $1 OR webhooks.events @> $2)
"""
DELIVERY_INSERT_SQL = """
INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_seq, ordering_key, status,
    attempt, next_attempt_at, created_at)
VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)
"""


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


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
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


def _iso(value: datetime | None) -> str | None:
    # pydantic writes UTC as `Z`
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _problem(status: int, detail: str) -> Response:
    body = json.dumps({"status": status, "detail": detail})
    return Response(body, status_code=status, media_type="application/problem+json")


def _subject(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(auth[7:], SECRET, algorithms=["HS256"])
    except JOSEError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def _localized(row: Any, prefs: tuple[str, ...]) -> tuple[str, str, str | None, str]:
    locale = choose_locale(prefs, row["locale"], row["translations"])
    if locale == row["locale"]:
        return locale, row["title"], row["summary"], row["body"]
    content = row["translations"][locale]
    return locale, content["title"], content.get("summary"), content.get("body") or ""


def _encode_cursor(published_at: datetime, message_id: uuid.UUID) -> str:
    raw = json.dumps(
        [{"t": published_at.isoformat()}, {"u": str(message_id)}], separators=(",", ":")
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@app.get("/healthz")
async def healthz() -> Response:
    return _json({"status": "ok"})


@app.get("/v1/me/messages")
async def feed(request: Request) -> Response:
    subject = _subject(request)
    if subject is None:
        return _problem(401, "Unauthorized")
    limit = LIMIT
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        me = await conn.fetchrow(EMPLOYEE_SQL, subject)
        if me is None:
            return _problem(401, "The token names no active employee.")
        prefs = preferences(request.headers.get("accept-language"), me["locale"])
        rows = await conn.fetch(
            FEED_SQL, *feed_args(me["id"], datetime.now(UTC), languages_of(prefs))
        )
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        locale, title, summary, body = _localized(row, prefs)
        current = row["acknowledged_version"] is not None and (
            row["acknowledged_version"] >= row["acknowledgement_version"]
        )
        items.append(
            {
                "id": str(row["id"]),
                "category": row["category"],
                "priority": row["priority"],
                "title": title,
                "summary": summary,
                "body": body,
                "locale": locale,
                "tags": row["tags"],
                "requires_acknowledgement": row["requires_acknowledgement"],
                "acknowledgement_text": row["acknowledgement_text"],
                "version": row["version"],
                "published_at": _iso(row["published_at"]),
                "expires_at": _iso(row["expires_at"]),
                "read_at": _iso(row["read_at"]),
                "acknowledged_at": _iso(row["acknowledged_at"]) if current else None,
                "acknowledge_by": _iso(row["due_at"]) if row["requires_acknowledgement"] else None,
                "pulse_question": localized_pulse_question(
                    row["pulse_question"], row["translations"], locale
                ),
                "feedback": {**DEFAULT_FEEDBACK, **row["feedback"]},
                "reactions": reaction_counts(row["reaction_counts"]),
                "my_reaction": row["my_reaction"],
                "my_pulse": row["my_pulse"],
            }
        )
    cursor = _encode_cursor(rows[-1]["published_at"], rows[-1]["id"]) if more else None
    return _json({"items": items, "next_cursor": cursor}, headers={"Vary": "Accept-Language"})


def _ack_body(message_id: uuid.UUID, row: Any) -> dict[str, Any]:
    return {
        "id": str(row["ack_id"]),
        "message_id": str(message_id),
        "version": row["ack_version"],
        "statement": row["ack_statement"],
        "locale": row["ack_locale"],
        "content_sha256": row["ack_sha256"],
        "acknowledged_at": _iso(row["ack_at"]),
    }


@app.post("/v1/me/messages/{message_id}/acknowledgement")
async def acknowledge(message_id: uuid.UUID, request: Request) -> Response:
    subject = _subject(request)
    if subject is None:
        return _problem(401, "Unauthorized")
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        me = await conn.fetchrow(EMPLOYEE_SQL, subject)
        if me is None:
            return _problem(401, "The token names no active employee.")
        row = await conn.fetchrow(DELIVERY_SQL, me["id"], message_id, "published", "archived")
        if row is None:
            return _problem(404, "No message with this id was sent to you.")
        if not row["requires_acknowledgement"]:
            return _problem(409, "This message asks for no acknowledgement.")
        if row["ack_id"] is not None:
            return _json(_ack_body(message_id, row))
        if row["status"] != "published" or (
            row["expires_at"] is not None and row["expires_at"] <= now
        ):
            return _problem(409, "This message is closed.")
        prefs = preferences(request.headers.get("accept-language"), me["locale"])
        locale, title, _summary, body = _localized(row, prefs)
        ack = {
            "id": uuid.uuid4(),
            "message_id": message_id,
            "version": row["version"],
            "statement": row["acknowledgement_text"] or "",
            "locale": locale,
            "content_sha256": content_sha256(title=title, body=body, locale=locale),
            "acknowledged_at": now,
        }
        inserted = await conn.fetchval(
            INSERT_ACK_SQL,
            ack["id"],
            message_id,
            me["id"],
            row["acknowledgement_version"],
            ack["version"],
            ack["statement"],
            locale,
            ack["content_sha256"],
            now,
        )
        if inserted is None:  # a concurrent request of the same caller won
            winner = await conn.fetchrow(
                WINNER_SQL, message_id, me["id"], row["acknowledgement_version"]
            )
            return _json(_ack_body(message_id, winner))
        await conn.execute(UPDATE_RECIPIENT_SQL, message_id, me["id"], now, row["version"])
        await conn.execute(
            AUDIT_SQL,
            uuid.uuid4(),
            now,
            f"employee:{me['external_id']}",
            me["display_name"] or me["external_id"],
            "acknowledgement.created",
            "acknowledgement",
            str(ack["id"]),
            uuid.uuid4().hex,  # the service's middleware gives each request an id
            {
                "message_id": str(message_id),
                "version": row["version"],
                "acknowledgement_version": row["acknowledgement_version"],
                "locale": locale,
            },
        )
        out = {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in ack.items()}
        out = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in out.items()}
        event_id = uuid.uuid4()
        seq = await conn.fetchval(
            EVENT_SQL,
            event_id,
            "acknowledgement.created",
            now,
            {**out, "employee_external_id": me["external_id"]},
            f"message:{message_id}",
        )
        hooks = await conn.fetch(SUBSCRIBERS_SQL, ["acknowledgement.created"], ["*"])
        if hooks:
            await conn.executemany(
                DELIVERY_INSERT_SQL,
                [
                    (uuid.uuid4(), h["id"], event_id, seq, f"message:{message_id}", now)
                    for h in hooks
                ],
            )
    location = f"/v1/me/messages/{message_id}/acknowledgement"
    return _json(out, status=201, headers={"Location": location})


# as the service's `app_from_env` does: what exists at start-up stays out of full collections
gc.collect()
gc.freeze()
