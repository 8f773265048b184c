"""Publication bench: `materialize_recipients` against the bare `INSERT … SELECT`.

On PostgreSQL, in a throwaway database this script creates, migrates and drops: N employees
(100,000 by default), an audience and a published message going to it. Each repetition empties
`recipients`, then times one publication fan-out (`materialize_recipients` in a transaction of
the service's own session, commit included) and the same fan-out as one hand-written statement
on a raw asyncpg connection (commit included); the order alternates between repetitions.

Two audiences: everyone (`{"all": []}`), and the issue's "customer-facing staff in ES, MX and AR
hired before 2025" with an include list of 1,000 and an exclude list of 100.

    .venv/bin/python bench/publish.py [--employees 100000] [--repeat 5]

Server: BRANDCAST_BENCH_DATABASE_URL, else BRANDCAST_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres. The target is a ratio of at most 3x.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.audiences.service import message_audience_specs
from app.core.config import Settings
from app.core.database import Database
from app.core.migrations import upgrade
from app.receipts.service import materialize_recipients

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 3.0
ACK_DAYS = 14

EMPLOYEES_SQL = """
INSERT INTO employees (
    id, external_id, email, display_name, department, division, location, country, job_title,
    job_level, employment_type, customer_facing, hire_date, locale, active, attributes,
    revision, created_at, updated_at
)
SELECT
    gen_random_uuid(),
    'E' || lpad(g::text, 7, '0'),
    'e' || g || '@example.com',
    'Employee ' || g,
    (ARRAY['Sales', 'Support', 'Engineering', 'Marketing', 'Operations'])[1 + g % 5],
    (ARRAY['Retail', 'Service', 'Tech'])[1 + g % 3],
    'Site ' || (g % 200),
    (ARRAY['ES', 'MX', 'AR', 'DE', 'US', 'FR', 'BR'])[1 + g % 7],
    'Job ' || (g % 50),
    g % 10,
    (ARRAY['full_time', 'part_time', 'contractor'])[1 + g % 3],
    g % 3 = 0,
    date '2015-01-01' + (g % 3650),
    'es-ES',
    g % 50 <> 0,
    jsonb_build_object('cost_center', (4000 + g % 40)::text, 'shift_hours', g % 9),
    1,
    now(),
    now()
FROM generate_series(1, $1::int) AS g
"""

FRONTLINE_RULE = {
    "all": [
        {"attribute": "customer_facing", "op": "eq", "value": True},
        {"attribute": "country", "op": "in", "value": ["ES", "MX", "AR"]},
        {"attribute": "hire_date", "op": "lt", "value": "2025-01-01"},
    ]
}

BARE_EVERYONE = """
INSERT INTO recipients (message_id, employee_id, targeted_at, published_at, due_at)
SELECT $1, id, $2, $2, $3 FROM employees WHERE active
"""
BARE_FRONTLINE = """
INSERT INTO recipients (message_id, employee_id, targeted_at, published_at, due_at)
SELECT $1, id, $2, $2, $3 FROM employees
WHERE active
  AND ((customer_facing AND country IN ('ES', 'MX', 'AR') AND hire_date < date '2025-01-01')
       OR external_id = ANY($4::text[]))
  AND NOT external_id = ANY($5::text[])
"""


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def arrange(dsn: str, employees: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(EMPLOYEES_SQL, employees)
        include = [
            r["external_id"]
            for r in await conn.fetch(
                "SELECT external_id FROM employees WHERE country = 'DE' ORDER BY external_id "
                "LIMIT 1000"
            )
        ]
        exclude = [
            r["external_id"]
            for r in await conn.fetch(
                "SELECT external_id FROM employees WHERE customer_facing AND country = 'ES' "
                "ORDER BY external_id LIMIT 100"
            )
        ]
        scenarios = {}
        for name, rule, inc, exc in (
            ("everyone", {"all": []}, [], []),
            (
                "frontline ES/MX/AR before 2025 (+1,000 / -100 listed)",
                FRONTLINE_RULE,
                include,
                exclude,
            ),
        ):
            audience_id, message_id = uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                "INSERT INTO audiences (id, name, rule, include_external_ids, "
                "exclude_external_ids, revision, created_by, created_at, updated_at) "
                "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, 1, 'bench', now(), now())",
                audience_id,
                name,
                json.dumps(rule),
                json.dumps(inc),
                json.dumps(exc),
            )
            await conn.execute(
                "INSERT INTO messages (id, category, title, body, locale, translations, priority, "
                "tags, requires_acknowledgement, acknowledge_within_days, status, published_at, "
                "version, acknowledgement_version, recipient_count, revision, created_by, "
                "created_at, updated_at) VALUES ($1, 'brand_promise', 'Bench', 'Body', 'en', "
                "'{}', 'normal', '[]', true, $2, 'published', now(), 1, 1, 0, 1, 'bench', "
                "now(), now())",
                message_id,
                ACK_DAYS,
            )
            await conn.execute(
                "INSERT INTO message_audiences (message_id, audience_id, position) "
                "VALUES ($1, $2, 0)",
                message_id,
                audience_id,
            )
            scenarios[name] = {"message_id": message_id, "include": inc, "exclude": exc}
        await conn.execute("VACUUM ANALYZE")
        return scenarios
    finally:
        await conn.close()


async def time_ours(db: Database, message_id: uuid.UUID) -> tuple[float, int]:
    now = datetime.now(UTC)
    start = time.perf_counter()
    async with db.session_scope() as session:
        # what publishing does: the message's audiences read once, then the fan-out
        audiences = await message_audience_specs(session, message_id=message_id)
        count = await materialize_recipients(
            session,
            message_id=message_id,
            audiences=[spec for _, spec in audiences],
            published_at=now,
            acknowledge_within_days=ACK_DAYS,
        )
    return time.perf_counter() - start, count


async def time_bare(conn: asyncpg.Connection, sql: str, args: list[Any]) -> tuple[float, int]:
    now = datetime.now(UTC)
    start = time.perf_counter()
    async with conn.transaction():
        status = await conn.execute(sql, *args[:1], now, now + timedelta(days=ACK_DAYS), *args[1:])
    return time.perf_counter() - start, int(status.split()[-1])


async def bench(url: str, employees: int, repeat: int) -> bool:
    name = f"brandcast_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    target = make_url(url).set(database=name).render_as_string(hide_password=False)
    ok = True
    try:
        await asyncio.to_thread(upgrade, target)
        started = time.perf_counter()
        scenarios = await arrange(asyncpg_dsn(target), employees)
        print(f"fixture: {employees:,} employees in {time.perf_counter() - started:.1f} s")
        db = Database(Settings(database_url=target))
        raw = await asyncpg.connect(asyncpg_dsn(target))
        try:
            for label, s in scenarios.items():
                bare_sql, bare_args = (
                    (BARE_EVERYONE, [s["message_id"]])
                    if not s["include"]
                    else (BARE_FRONTLINE, [s["message_id"], s["include"], s["exclude"]])
                )
                ours, bare = [], []
                for i in range(repeat + 1):  # the first round warms caches and is not counted
                    order = ("ours", "bare") if i % 2 else ("bare", "ours")
                    for which in order:
                        await raw.execute("TRUNCATE recipients")
                        if which == "ours":
                            elapsed, n_ours = await time_ours(db, s["message_id"])
                            (ours if i else []).append(elapsed)
                        else:
                            elapsed, n_bare = await time_bare(raw, bare_sql, bare_args)
                            (bare if i else []).append(elapsed)
                    if n_ours != n_bare:
                        raise SystemExit(f"recipient counts differ: {n_ours} vs {n_bare}")
                ratio = statistics.median(ours) / statistics.median(bare)
                ok = ok and ratio <= TARGET_RATIO
                print(f"\naudience: {label}: {n_ours:,} recipients, {repeat} runs each")
                print(
                    f"  materialize_recipients  median {statistics.median(ours) * 1000:8.1f} ms"
                    f"   min {min(ours) * 1000:8.1f} ms"
                )
                print(
                    f"  bare INSERT … SELECT    median {statistics.median(bare) * 1000:8.1f} ms"
                    f"   min {min(bare) * 1000:8.1f} ms"
                )
                print(
                    f"  ratio (medians)         {ratio:8.2f}x  "
                    f"({'within' if ratio <= TARGET_RATIO else 'OVER'} the {TARGET_RATIO:g}x target)"
                )
        finally:
            await raw.close()
            await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = (
        os.environ.get("BRANDCAST_BENCH_DATABASE_URL")
        or os.environ.get("BRANDCAST_TEST_DATABASE_URL")
        or DEFAULT_URL
    )
    ok = asyncio.run(bench(url, args.employees, args.repeat))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
