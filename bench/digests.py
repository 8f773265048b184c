"""Digest bench: one morning's digests for 100,000 employees, and the delivery preview of a
message to all of them, on PostgreSQL.

In a throwaway database this script creates, migrates and drops: 100,000 employees with a
daily digest, `--messages` normal messages held for that morning's digest (one delivery row
per employee and message), then:
1. **the build**: `build_digests` at the digest moment, in one transaction with its commit
   (one digest per employee; the held rows join their digest when a sender claims it, a
   batch at a time) — target < 10 s;
2. **the preview**: `delivery_preview` of another message to everyone, best of `--repeat`
   — target < 500 ms;
3. a same-run reference: `SELECT count(*)` over the held rows, so the figures can be read
   against what a plain scan costs on this machine now.

    .venv/bin/python bench/digests.py [--employees 100000] [--messages 5]

Server: BRANDCAST_BENCH_DATABASE_URL, else BRANDCAST_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import asyncpg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.core.config import Settings  # noqa: E402
from app.core.database import Database  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.principal import Principal  # noqa: E402
from app.receipts.digests import build_digests  # noqa: E402
from app.receipts.preview import delivery_preview  # noqa: E402
from bench.publish import EMPLOYEES_SQL, asyncpg_dsn  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MORNING = datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
MESSAGE_SQL = (
    "INSERT INTO messages (id, category, title, summary, body, locale, translations, priority, "
    "tags, requires_acknowledgement, status, published_at, version, acknowledgement_version, "
    "recipient_count, revision, created_by, created_at, updated_at, channels, chat_target_ids) "
    "VALUES ($1, 'news', $2, 'Summary', 'Body', 'en', '{}', 'normal', '[]', false, $3, now(), "
    "1, 1, 0, 1, 'bench', now(), now(), '[\"feed\", \"email\"]', '[]')"
)


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


async def arrange(dsn: str, employees: int, messages: int) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(EMPLOYEES_SQL, employees)
        await conn.execute(
            "INSERT INTO employee_preferences (employee_id, email_off, digest, updated_at) "
            "SELECT id, '[]', 'daily', now() FROM employees"
        )
        for n in range(messages):
            message_id = uuid.uuid4()
            await conn.execute(MESSAGE_SQL, message_id, f"News {n}", "published")
            await conn.execute(
                "INSERT INTO recipients (message_id, employee_id, targeted_at, published_at) "
                "SELECT $1, id, now(), now() FROM employees WHERE active",
                message_id,
            )
            await conn.execute(
                "INSERT INTO deliveries (message_id, channel, employee_id, state, not_before, "
                "attempts, version, planned_at, held_at, reason, digest_period, round) "
                "SELECT $1, 'email', id, 'held', $2, 0, 1, now(), now(), "
                "'waiting for the daily digest of 2030-01-08', '2030-01-08', 0 "
                "FROM employees WHERE active",
                message_id,
                MORNING.replace(hour=8),
            )
        audience_id, preview_id = uuid.uuid4(), uuid.uuid4()
        await conn.execute(MESSAGE_SQL, preview_id, "Preview", "draft")
        await conn.execute(
            "INSERT INTO audiences (id, name, rule, include_external_ids, exclude_external_ids, "
            "revision, created_by, created_at, updated_at) VALUES ($1, 'everyone', "
            "'{\"all\": []}', '[]', '[]', 1, 'bench', now(), now())",
            audience_id,
        )
        await conn.execute(
            "INSERT INTO message_audiences (message_id, audience_id, position) VALUES ($1, $2, 0)",
            preview_id,
            audience_id,
        )
        await conn.execute("VACUUM ANALYZE")
        return preview_id
    finally:
        await conn.close()


async def bench(url: str, args: argparse.Namespace) -> bool:
    name = f"brandcast_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(url, "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    target = make_url(url).set(database=name).render_as_string(hide_password=False)
    ok = True
    try:
        await asyncio.to_thread(upgrade, target)
        started = time.perf_counter()
        preview_id = await arrange(asyncpg_dsn(target), args.employees, args.messages)
        print(
            f"fixture: {args.employees:,} employees, {args.messages} messages held for the "
            f"digest, in {time.perf_counter() - started:.1f} s; load {load()}"
        )
        settings = Settings(database_url=target)
        db = Database(settings)
        try:
            async with db.session_scope() as session:
                started = time.perf_counter()
                held = await session.scalar(
                    text("SELECT count(*) FROM deliveries WHERE state = 'held'")
                )
                scan = time.perf_counter() - started
            print(f"reference: count(*) over {held:,} held rows in {scan * 1000:.0f} ms")

            started = time.perf_counter()
            async with db.session_scope() as session:
                created = await build_digests(session, settings, now=MORNING)
            build = time.perf_counter() - started
            print(
                f"build: {created:,} digests from {held:,} held e-mails in {build:.2f} s "
                f"(target < 10 s; {build / scan:.0f}x the reference scan); load {load()}"
            )
            ok &= build < 10 and created > 0
            async with db.session_scope() as session:
                built = await session.scalar(text("SELECT count(*) FROM digests"))
                again = await build_digests(session, settings, now=MORNING)
            ok &= built == created and again == 0
            print(f"digests in the table: {built:,}; a second build made {again}")

            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                async with db.session_scope(write=False) as session:
                    preview = await delivery_preview(
                        session,
                        Principal.system("bench"),
                        settings=settings,
                        message_id=preview_id,
                        at=MORNING,
                    )
                times.append(time.perf_counter() - started)
            print(
                f"preview of {preview.recipients:,} recipients: best {min(times) * 1000:.0f} ms, "
                f"worst {max(times) * 1000:.0f} ms (target < 500 ms); {preview.email}; "
                f"load {load()}"
            )
            ok &= min(times) < 0.5
        finally:
            await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = (
        os.environ.get("BRANDCAST_BENCH_DATABASE_URL")
        or os.environ.get("BRANDCAST_TEST_DATABASE_URL")
        or DEFAULT_URL
    )
    ok = asyncio.run(bench(url, args))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
