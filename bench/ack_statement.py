"""What the acknowledgement statement costs PostgreSQL, alone and shared by K attempts.

Runs the service's own batch statement (`app.receipts.acknowledgements._acknowledge_batch`)
sequentially on one connection, committed, for pending (employee, message) pairs of a kept
data set, K attempts a statement, and prints the PostgreSQL backend's CPU (from
/proc/<pid>/stat: PostgreSQL runs on this machine) and this process's CPU per acknowledgement.
It acknowledges what it runs: each run uses up `--count` pending pairs of the data set.

    .venv/bin/python bench/ack_statement.py --database brandcast_scale_100000_300 --k 1,4,8,16
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.database import utcnow
from app.core.direct import _AsyncpgDirect
from app.core.principal import Principal
from app.messages.content import ContentCache
from app.receipts import acknowledgements as acks

TICK = os.sysconf("SC_CLK_TCK")
PENDING = """
SELECT e.id, e.external_id, r.message_id FROM recipients r
JOIN messages m ON m.id = r.message_id JOIN employees e ON e.id = r.employee_id
WHERE m.status = 'published' AND m.requires_acknowledgement AND m.quiz = 'null'::jsonb
  AND (m.expires_at IS NULL OR m.expires_at > now()) AND r.acknowledged_version IS NULL
  AND r.edition_id IS NULL AND e.active
ORDER BY random() LIMIT $1
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def attempts(conn: asyncpg.Connection, direct: _AsyncpgDirect, count: int) -> list[dict]:
    """The service's own parameters for `count` pending pairs (HQ's text, no quiz)."""
    cache = ContentCache()
    out = []
    for row in await conn.fetch(PENDING, count):
        principal = Principal(
            kind="employee", id=str(row["id"]), name=row["external_id"],
            employee_id=row["id"], external_id=row["external_id"],
        )  # fmt: skip
        message_id = row["message_id"]
        content = cache.latest(message_id) or await cache.load(direct, message_id)
        out.append(acks.acknowledgement_attempt(principal, message_id, content, (), utcnow()))
    return out


async def main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(f"{args.server.rstrip('/')}/{args.database}")
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=str, decoder=json.loads, schema="pg_catalog")
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    direct = _AsyncpgDirect(conn, asyncpg_dialect.dialect())
    try:
        for k in args.k:
            items = await attempts(conn, direct, args.count)
            if len(items) < args.count:
                raise SystemExit("not enough pending acknowledgements left; rebuild the data set")
            pg0, own0 = cpu_seconds(backend), time.process_time()
            made = 0
            for start in range(0, len(items), k):
                rows = await acks._acknowledge_batch(direct, items[start : start + k])
                made += sum(1 for row in rows if row is not None and row["inserted_id"])
            pg1, own1 = cpu_seconds(backend), time.process_time()
            per = 1000 / len(items)
            print(
                f"K = {k:>3}: {made:,} acknowledged; PostgreSQL {(pg1 - pg0) * per:.3f} ms, "
                f"this process {(own1 - own0) * per:.3f} ms an acknowledgement"
            )
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="brandcast_scale_100000_300")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--count", type=int, default=2000, help="acknowledgements per K")
    parser.add_argument(
        "--k", type=lambda text: [int(n) for n in text.split(",")], default=[1, 4, 8, 16]
    )
    asyncio.run(main(parser.parse_args()))
