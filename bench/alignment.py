"""The brand-alignment report on a kept data set: from the summary (`alignment_weeks`) against
the recipient rows (the statement and settings before the summary), interleaved, in-process.

    .venv/bin/python bench/alignment.py DATABASE [--calls 7] [--days 90] [--group-by department]

DATABASE: a data set kept by `bench/company.py --keep` on the bench server
(`BRANDCAST_BENCH_DATABASE_URL`, else postgresql://postgres@127.0.0.1:5432/postgres), migrated
to 0020 or later. Read-only. Prints each variant's p50 with the load average, and the figures
of both, which must be the same.
"""

import argparse
import asyncio
import os
import statistics
import time
from datetime import timedelta
from unittest import mock

from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.database import Database, utcnow
from app.core.principal import Principal
from app.reports import service as reports
from app.reports.aggregates import ReportGroupBy

SERVER = os.environ.get(
    "BRANDCAST_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SYSTEM = Principal.system("bench")


def load() -> str:
    with open("/proc/loadavg") as f:
        return " / ".join(f.read().split()[:3])


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("database")
    p.add_argument("--calls", type=int, default=7)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--group-by", default="department")
    args = p.parse_args()
    url = make_url(SERVER).set(database=args.database).render_as_string(hide_password=False)
    db = Database(Settings(database_url=url, run_scheduler=False))
    until = utcnow()
    since = until - timedelta(days=args.days)
    full = reports.alignment_statement

    set_local = reports.sql.set_local

    def recipients_only(*a, **kw):  # the statement as it was: every row from `recipients`
        return full(*a, **kw | {"summarized": False})

    async def settings_as_before(session, **settings):  # JIT and nested loops as they were
        settings.pop("jit", None)
        settings.pop("enable_nestloop", None)
        await set_local(session, **settings)

    async def report(summarized: bool):
        started = time.perf_counter()
        with (
            mock.patch.object(
                reports, "alignment_statement", full if summarized else recipients_only
            ),
            mock.patch.object(
                reports.sql, "set_local", set_local if summarized else settings_as_before
            ),
        ):
            async with db.session_scope(write=False) as session:
                out = await reports.brand_alignment(
                    session,
                    SYSTEM,
                    min_group_size=5,
                    since=since,
                    until=until,
                    group_by=ReportGroupBy(args.group_by),
                )
        return (time.perf_counter() - started) * 1000, out

    times: dict[bool, list[float]] = {True: [], False: []}
    outs = {}
    try:
        await report(True)  # warm-up
        await report(False)
        for _ in range(args.calls):
            for summarized in (False, True):
                ms, outs[summarized] = await report(summarized)
                times[summarized].append(ms)
    finally:
        await db.dispose()
    print(f"{args.database}: {args.days} days to now, by {args.group_by}, {args.calls} calls each")
    for summarized, label in ((False, "recipient rows (before)"), (True, "summary (after)")):
        ms = times[summarized]
        print(
            f"  {label:24} p50 {statistics.median(ms):7.0f} ms"
            f"  (min {min(ms):.0f}, max {max(ms):.0f})"
        )
    print(f"  load average at the end: {load()}")
    same = outs[True].model_dump() == outs[False].model_dump()
    print(f"  same figures: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
