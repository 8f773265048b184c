"""Feed and receipt-report timings on PostgreSQL, in-process.

    .venv/bin/python bench/feed.py [--employees 100000] [--calls 300]

In a throwaway database this script creates, migrates and drops: N employees, 12 messages
published to everyone (N recipients each, with reads, acknowledgements and due dates spread
over them) and 200 smaller messages to the first 1,000 employees, so that those employees'
feeds hold 212 messages. Then, for random employees among the first 1,000, it times:

- the feed statement through `app.me.service.list_feed` (a session per call, like a request:
  BEGIN, the statement, localization, the page object, COMMIT), against
- the same SQL on a raw asyncpg connection with a prepared statement (the floor), and
- `GET /v1/me/messages` through the whole app (httpx's ASGI transport: JWT check, sign-in
  lookup, the feed, JSON), one request at a time;

and the stats of one message with N recipients (`message_stats`, overall and per department
and location) with the plan of its aggregate.

Server: BRANDCAST_BENCH_DATABASE_URL, else BRANDCAST_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from jose import jwt
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.database import Database, utcnow
from app.core.migrations import upgrade
from app.core.pagination import PageParams, keyset
from app.core.principal import Principal
from app.main import create_app
from app.me.service import feed_columns, languages_of, list_feed
from app.messages.models import Message
from app.receipts.access import visible_to
from app.receipts.reports import message_facts, message_stats, stats_statement
from app.reports.aggregates import GroupBy

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-for-hs256-at-least-32-bytes!"
BIG_MESSAGES = 12
SMALL_MESSAGES = 200
SMALL_AUDIENCE = 1_000

EMPLOYEES_SQL = """
INSERT INTO employees (id, external_id, email, display_name, department, division, location,
    country, customer_facing, locale, active, attributes, revision, created_at, updated_at)
SELECT gen_random_uuid(), 'E' || lpad(g::text, 7, '0'), 'e' || g || '@example.com',
    'Employee ' || g,
    (ARRAY['Sales', 'Support', 'Engineering', 'Marketing', 'Operations'])[1 + g % 5],
    (ARRAY['Retail', 'Service', 'Tech'])[1 + g % 3], 'Site ' || (g % 200),
    (ARRAY['ES', 'MX', 'AR', 'DE', 'US', 'FR', 'BR'])[1 + g % 7], g % 3 = 0,
    (ARRAY['es-MX', 'en', 'de-DE', 'fr-FR'])[1 + g % 4], g % 50 <> 0, '{}'::jsonb, 1, now(), now()
FROM generate_series(1, $1::int) AS g
"""
MESSAGE_SQL = """
INSERT INTO messages (id, category, title, summary, body, locale, translations, priority, tags,
    requires_acknowledgement, acknowledgement_text, acknowledge_within_days, status, publish_at,
    published_at, version, acknowledgement_version, recipient_count, revision, created_by,
    created_at, updated_at)
VALUES ($1, 'policy', $2, 'A summary of the policy', $3, 'en', $4::jsonb, 'normal',
    '["bench"]'::jsonb, $5, 'I have read and understood.', 14, 'published', $6, $6, 1, 1, 0, 1,
    'bench', $6, $6)
"""
# reads, acknowledgements and due dates spread over the recipients
RECIPIENTS_SQL = """
INSERT INTO recipients (message_id, employee_id, targeted_at, published_at, due_at, read_at,
    acknowledged_at, acknowledged_version)
SELECT $1, e.id, $2::timestamptz, $2::timestamptz, $2::timestamptz + (CASE WHEN n % 3 = 0 THEN -1 ELSE 14 END) * interval '1 day',
    CASE WHEN n % 2 = 0 THEN $2::timestamptz + interval '1 hour' END,
    CASE WHEN n % 5 = 0 THEN $2::timestamptz + interval '2 hours' END,
    CASE WHEN n % 5 = 0 THEN 1 END
FROM (SELECT id, row_number() OVER (ORDER BY external_id) AS n FROM employees
      ORDER BY external_id LIMIT $3) AS e
"""


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def body_text(words: int) -> str:
    return " ".join(f"word{i % 97}" for i in range(words))


async def arrange(dsn: str, employees: int) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(EMPLOYEES_SQL, employees)
        translations = json.dumps(
            {
                "es": {"title": "Política", "summary": "Resumen", "body": body_text(300)},
                "de-DE": {"title": "Richtlinie", "summary": None, "body": body_text(300)},
            }
        )
        now = utcnow()
        big = []
        for i in range(BIG_MESSAGES + SMALL_MESSAGES):
            message_id = uuid.uuid4()
            published = now - timedelta(hours=BIG_MESSAGES + SMALL_MESSAGES - i)
            await conn.execute(
                MESSAGE_SQL,
                message_id,
                f"Message {i}",
                body_text(300),
                translations,
                i % 2 == 0,
                published,
            )
            size = employees if i < BIG_MESSAGES else SMALL_AUDIENCE
            await conn.execute(RECIPIENTS_SQL, message_id, published, size)
            if i < BIG_MESSAGES and i % 2 == 0:  # one that asks for acknowledgement
                big.append(message_id)
        await conn.execute("ANALYZE")
        return big[-1]
    finally:
        await conn.close()


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{name:<58} median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms"


async def timed(calls: int, fn: Callable[[int], Awaitable[Any]]) -> list[float]:
    for i in range(min(20, calls)):  # warm caches, pools and statement caches
        await fn(i)
    out = []
    for i in range(calls):
        started = time.perf_counter()
        await fn(i)
        out.append(time.perf_counter() - started)
    return out


async def run(url: str, employees: int, calls: int) -> None:
    name = f"brandcast_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = asyncpg_dsn(url, name)
    try:
        await asyncio.to_thread(upgrade, dsn)
        started = time.perf_counter()
        big = await arrange(dsn, employees)
        print(f"arranged {employees:,} employees in {time.perf_counter() - started:.1f} s")

        settings = Settings(
            database_url=dsn, run_scheduler=False, jwt_algorithms="HS256", jwt_secret=SECRET
        )
        db = Database(settings)
        raw = await asyncpg.connect(dsn)
        rows = await raw.fetch(
            "SELECT id, external_id FROM (SELECT * FROM employees ORDER BY external_id LIMIT $1)"
            " AS first WHERE active",
            SMALL_AUDIENCE,
        )
        people = [(r["id"], r["external_id"]) for r in rows]
        rng = random.Random(7)
        picks = [rng.choice(people) for _ in range(calls + 20)]
        page = PageParams(limit=50, after=None)

        async def service_call(i: int) -> None:
            employee_id, _ = picks[i]
            principal = Principal(
                kind="employee", id=str(employee_id), name="", employee_id=employee_id
            )
            async with db.session_scope(write=False) as session:
                await list_feed(session, principal, page=page, prefs=("es-mx", "en"))

        placeholder = uuid.uuid4()
        stmt = keyset(
            visible_to(
                Principal(kind="employee", id="", name="", employee_id=placeholder),
                utcnow(),
                *feed_columns("postgresql"),
            ),
            page,
            [Message.published_at, Message.id],
        )
        compiled = stmt.compile(dialect=postgresql.asyncpg.dialect())
        sql = str(compiled)
        prepared = await raw.prepare(sql)
        languages = languages_of(("es-mx", "en"))

        def raw_args(employee_id: uuid.UUID) -> list:
            """The statement's parameters, in order, for this employee and now."""
            out = []
            for name in compiled.positiontup:
                value = compiled.params[name]
                if name == "languages":
                    value = languages
                elif value == placeholder:
                    value = employee_id
                elif isinstance(value, datetime):
                    value = utcnow()
                out.append(value)
            return out

        async def raw_call(i: int) -> None:
            async with raw.transaction():
                await prepared.fetch(*raw_args(picks[i][0]))

        # the same, decoding the JSON columns (`translations`, `tags`) as the service must
        decoding = await asyncpg.connect(dsn)
        await decoding.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        prepared_decoding = await decoding.prepare(sql)

        async def raw_decoding_call(i: int) -> None:
            async with decoding.transaction():
                await prepared_decoding.fetch(*raw_args(picks[i][0]))

        app = create_app(settings)
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                tokens = {
                    ext: jwt.encode(
                        {"sub": ext, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256"
                    )
                    for _, ext in set(picks)
                }

                async def http_call(i: int) -> None:
                    r = await client.get(
                        "/v1/me/messages",
                        headers={
                            "Authorization": f"Bearer {tokens[picks[i][1]]}",
                            "Accept-Language": "es-MX,es;q=0.9,en;q=0.5",
                        },
                    )
                    assert r.status_code == 200 and len(r.json()["items"]) == 50, r.status_code

                print(f"\nfeed, first page of 50 of 212 messages, {calls} calls")
                print(summary("raw asyncpg, prepared (floor)", await timed(calls, raw_call)))
                print(
                    summary(
                        "raw asyncpg, prepared, JSON decoded",
                        await timed(calls, raw_decoding_call),
                    )
                )
                print(summary("list_feed in a session (service)", await timed(calls, service_call)))
                print(
                    summary("GET /v1/me/messages (whole app, ASGI)", await timed(calls, http_call))
                )

        explain = await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *raw_args(picks[0][0]))
        print("\n" + "\n".join(r[0] for r in explain))

        system = Principal.system("bench")
        print(f"\nstats of one message with {employees:,} recipients, 10 calls each")
        for group_by in (None, GroupBy.DEPARTMENT, GroupBy.LOCATION):

            async def stats_call(_i: int, group_by=group_by) -> None:
                async with db.session_scope(write=False) as session:
                    await message_stats(session, system, message_id=big, group_by=group_by)

            label = f"message_stats(group_by={group_by.value if group_by else None})"
            print(summary(label, await timed(10, stats_call)))
        async with db.session_scope(write=False) as session:
            facts = await message_facts(session, system, message_id=big)
        aggregate = stats_statement(facts, utcnow(), GroupBy.DEPARTMENT).compile(
            dialect=postgresql.asyncpg.dialect(), compile_kwargs={"literal_binds": True}
        )
        explain = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {aggregate}")
        print(f"\n{aggregate}\n" + "\n".join(r[0] for r in explain))
        await raw.close()
        await decoding.close()
        await db.dispose()
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    url = (
        os.environ.get("BRANDCAST_BENCH_DATABASE_URL")
        or os.environ.get("BRANDCAST_TEST_DATABASE_URL")
        or DEFAULT_URL
    )
    asyncio.run(run(url, args.employees, args.calls))


if __name__ == "__main__":
    main()
