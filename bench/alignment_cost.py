"""What keeping the brand-alignment summary costs the writes: an acknowledgement's recipient
UPDATE and a publication to everyone, with the summary's triggers on and off (`ALTER TABLE …
DISABLE TRIGGER` inside the measured transaction), interleaved, everything rolled back.

    .venv/bin/python bench/alignment_cost.py DATABASE [--acks 400] [--publications 3]

DATABASE: a data set migrated to 0020 or later on the bench server
(`BRANDCAST_BENCH_DATABASE_URL`, else postgresql://postgres@127.0.0.1:5432/postgres). Nothing
is kept, but the measured transactions lock `recipients` and `messages`: use a copy.
"""

import argparse
import asyncio
import os
import statistics
import time

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.database import Database
from app.core.principal import Principal
from app.messages.schemas import MessageCreate
from app.messages.service import create_message, publish_message

SERVER = os.environ.get(
    "BRANDCAST_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SYSTEM = Principal.system("bench")
OFF = (
    "ALTER TABLE recipients DISABLE TRIGGER USER",
    "ALTER TABLE messages DISABLE TRIGGER USER",
    "ALTER TABLE pulse_answers DISABLE TRIGGER USER",
)
# the acknowledgement's recipient update (`receipt` in receipts/acknowledgements.py), alone
ACK_SQL = """
UPDATE recipients SET acknowledged_at = now(), acknowledged_version = 1,
    read_at = coalesce(read_at, now()), read_channel = coalesce(read_channel, 'feed')
WHERE message_id = $1 AND employee_id = $2
"""
PENDING_SQL = """
SELECT r.message_id, r.employee_id FROM recipients r JOIN messages m ON m.id = r.message_id
WHERE m.category IN ('brand_promise', 'mission', 'values', 'vision')
  AND m.status = 'published' AND m.requires_acknowledgement AND r.acknowledged_version IS NULL
ORDER BY r.employee_id LIMIT $1
"""


def load() -> str:
    with open("/proc/loadavg") as f:
        return " / ".join(f.read().split()[:3])


async def ack_times(conn: asyncpg.Connection, n: int) -> dict[bool, list[float]]:
    rows = await conn.fetch(PENDING_SQL, 2 * n)
    times: dict[bool, list[float]] = {True: [], False: []}
    for block in range(0, len(rows), 50):  # blocks of 50, on and off in turn
        on = (block // 50) % 2 == 0
        tx = conn.transaction()
        await tx.start()
        try:
            if not on:
                for statement in OFF:
                    await conn.execute(statement)
            for message_id, employee_id in rows[block : block + 50]:
                started = time.perf_counter()
                await conn.execute(ACK_SQL, message_id, employee_id)
                times[on].append((time.perf_counter() - started) * 1e6)
        finally:
            await tx.rollback()
    return times


async def publication_times(url: str, repeat: int) -> dict[bool, list[float]]:
    db = Database(Settings(database_url=url, run_scheduler=False))
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        async with db.sessionmaker() as session:
            everyone = (
                await session.execute(
                    text("SELECT id FROM audiences WHERE rule = '{\"all\": []}'::jsonb")
                )
            ).scalar_one()
        draft = MessageCreate.model_validate(
            {"category": "values", "audience_ids": [str(everyone)], "title": "Bench",
             "body": "Body", "requires_acknowledgement": True,
             "acknowledgement_text": "I have read it.", "acknowledge_within_days": 14}
        )  # fmt: skip
        for i in range(repeat + 1):
            for on in (True, False):
                async with db.sessionmaker() as session:
                    await session.begin()
                    try:
                        if not on:
                            for statement in OFF:
                                await session.execute(text(statement))
                        message = await create_message(session, SYSTEM, data=draft)
                        started = time.perf_counter()
                        await publish_message(session, SYSTEM, message_id=message.id)
                        if i:  # the first round warms up
                            times[on].append(time.perf_counter() - started)
                    finally:
                        await session.rollback()
    finally:
        await db.dispose()
    return times


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("database")
    p.add_argument("--acks", type=int, default=400)
    p.add_argument("--publications", type=int, default=3)
    args = p.parse_args()
    url = make_url(SERVER).set(database=args.database).render_as_string(hide_password=False)
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        print(f"{args.database}: load average at the start {load()}")
        times = await ack_times(conn, args.acks)
        for on in (False, True):
            us = times[on]
            print(
                f"  acknowledgement UPDATE, triggers {'on ' if on else 'off'}: "
                f"p50 {statistics.median(us):6.0f} µs  p90 {statistics.quantiles(us, n=10)[-1]:6.0f}"
                f" µs  ({len(us)} statements)"
            )
    finally:
        await conn.close()
    if args.publications:
        times = await publication_times(url, args.publications)
        for on in (False, True):
            print(
                f"  publication to everyone (values), triggers {'on ' if on else 'off'}: "
                f"median {statistics.median(times[on]):.2f} s  ({len(times[on])} runs)"
            )
    print(f"  load average at the end {load()}")


if __name__ == "__main__":
    asyncio.run(main())
