"""What the comprehension check's feed column costs, on PostgreSQL, in-process.

    .venv/bin/python -m bench.quiz_feed [--messages 200] [--calls 400]

In a throwaway database (created, migrated, dropped): one employee with `--messages` live
messages in their feed, a third of them with a quiz and attempts by that employee, and 20,000
attempts by others. It then times the feed page statement (`app.me.service._feed_page`, 20
items) on a raw asyncpg connection, alternating the statement as it is with the same
statement without the quiz column (`quiz_standing`), and prints the
medians, the ratio and the machine's load (ratios within one run are what to compare).

Server: BRANDCAST_BENCH_DATABASE_URL, else BRANDCAST_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres.
"""

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import timedelta

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from app.core.database import utcnow
from app.core.migrations import upgrade
from app.me import service as me

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def asyncpg_dsn(url: str, database: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", database=database)
        .render_as_string(hide_password=False)
    )


QUIZ = '{"questions": [{"id": "q1", "kind": "single", "text": "?", "options": [{"id": "a", "text": "A", "correct": true}, {"id": "b", "text": "B", "correct": false}]}], "pass_mark": 1.0, "max_attempts": null}'


def _compiled(with_quiz: bool) -> tuple[str, tuple[str, ...], dict]:
    """The statement's text, its parameter names in order and their defaults."""
    stmt = me._feed_page(None, False, False).statement("postgresql")
    if not with_quiz:
        columns = [c for c in stmt.selected_columns if c.key != "quiz_standing"]
        stmt = stmt.with_only_columns(*columns)
    compiled = stmt.compile(dialect=postgresql.asyncpg.dialect())
    return str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params)


async def arrange(conn: asyncpg.Connection, messages: int) -> uuid.UUID:
    now = utcnow()
    me_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO employees (id, external_id, active, customer_facing, attributes, revision,"
        " created_at, updated_at) VALUES ($1, 'E-1', true, false, '{}', 1, $2, $2)",
        me_id,
        now,
    )
    others = [uuid.uuid4() for _ in range(200)]
    await conn.executemany(
        "INSERT INTO employees (id, external_id, active, customer_facing, attributes, revision,"
        " created_at, updated_at) VALUES ($1, $2, true, false, '{}', 1, $3, $3)",
        [(o, f"O-{i}", now) for i, o in enumerate(others)],
    )
    for i in range(messages):
        mid = uuid.uuid4()
        at = now - timedelta(minutes=i)
        await conn.execute(
            "INSERT INTO messages (id, category, title, body, locale, translations, priority, tags,"
            " requires_acknowledgement, feedback, channels, chat_target_ids, status, published_at,"
            " version, acknowledgement_version, recipient_count, revision, created_by, created_at,"
            " updated_at, quiz) VALUES ($1, 'policy', $2, 'body', 'en', '{}', 'normal', '[]', true,"
            " '{}', '[\"feed\"]', '[]', 'published', $3, 1, 1, 1, 1, 'bench', $3, $3, $4::jsonb)",
            mid,
            f"Message {i}",
            at,
            QUIZ if i % 3 == 0 else None,
        )
        await conn.execute(
            "INSERT INTO recipients (message_id, employee_id, targeted_at, published_at)"
            " VALUES ($1, $2, $3, $3)",
            mid,
            me_id,
            at,
        )
        if i % 3 == 0:
            rows = [(uuid.uuid4(), mid, me_id, 1, 1, False, at)] + [
                (uuid.uuid4(), mid, o, 1, n + 1, n == 1, at) for o in others[:50] for n in range(2)
            ]
            await conn.executemany(
                "INSERT INTO quiz_attempts (id, message_id, employee_id, acknowledgement_version,"
                " number, version, quiz_sha256, locale, answers, correct, total, passed,"
                " attempted_at) VALUES ($1, $2, $3, $4, $5, 1, repeat('0', 64), 'en', '{}', 0, 1,"
                " $6, $7)",
                rows,
            )
    await conn.execute("ANALYZE")
    return me_id


async def run(url: str, messages: int, calls: int) -> None:
    name = f"brandcast_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = asyncpg_dsn(url, name)
        await asyncio.to_thread(upgrade, dsn)
        conn = await asyncpg.connect(dsn)
        try:
            me_id = await arrange(conn, messages)
            compiled = {q: _compiled(q) for q in (True, False)}
            statements = {q: await conn.prepare(c[0]) for q, c in compiled.items()}
            timings: dict[bool, list[float]] = {True: [], False: []}
            for i in range(calls * 2):
                with_quiz = i % 2 == 0
                values = {
                    **compiled[with_quiz][2],
                    "employee_id": me_id,
                    "now": utcnow(),
                    "limit": 21,
                }
                args = [values[name] for name in compiled[with_quiz][1]]
                started = time.perf_counter()
                await statements[with_quiz].fetch(*args)
                timings[with_quiz].append(time.perf_counter() - started)
        finally:
            await conn.close()
        load = os.getloadavg()
        with_q, without = (statistics.median(timings[q]) * 1000 for q in (True, False))
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(
            f"feed page (20 of {messages}), median of {calls}: with the quiz column "
            f"{with_q:.3f} ms, without {without:.3f} ms, ratio {with_q / without:.2f}"
        )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    url = (
        os.environ.get("BRANDCAST_BENCH_DATABASE_URL")
        or os.environ.get("BRANDCAST_TEST_DATABASE_URL")
        or DEFAULT_URL
    )
    asyncio.run(run(url, args.messages, args.calls))


if __name__ == "__main__":
    main()
