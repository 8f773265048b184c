"""Advocacy bench: the short link `/s/{code}` and the advocacy figures, on PostgreSQL.

In a throwaway database this script creates, migrates and drops: `--employees` employees,
one shareable message published to all of them, `--shares` shares spread over them (set-based
SQL) and `--clicks` counted clicks on them. Then, in one process, through the app in-process
(httpx ASGI transport, no network), alternating rounds of:

1. `HEAD /s/{code}`: the lookup and the redirect, nothing written (the baseline);
2. `GET /s/{code}` from a new visitor each time: the lookup, the day key and one click row;
3. `GET /s/{code}` by the same visitor again: the same, the click already counted;
4. `GET /v1/messages/{id}/stats?group_by=department`: the stats with the advocacy figures,
   and without them (the same statement set minus `advocacy`: `--no-advocacy` run of the
   report function), so the figures' cost is a ratio within the run.

    .venv/bin/python bench/advocacy.py [--employees 20000] [--shares 20000] [--clicks 100000]

Printed: per-request times (median of the rounds' means) and ratios to the baseline, with
`uptime` before and after: the machine is shared, so only ratios within the run mean much.
"""

import sys
from pathlib import Path

# run as `python bench/advocacy.py`, this folder comes first on the path, where `email.py` would
# stand in for the standard library's: take the folder off, put the checkout on
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402

from app.advocacy import figures  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.principal import Principal, Scope  # noqa: E402
from app.main import create_app  # noqa: E402
from app.tokens.schemas import TokenCreate  # noqa: E402
from app.tokens.service import mint  # noqa: E402
from bench.publish import EMPLOYEES_SQL, asyncpg_dsn  # noqa: E402

SERVER = (
    os.environ.get("BRANDCAST_BENCH_DATABASE_URL")
    or os.environ.get("BRANDCAST_TEST_DATABASE_URL")
    or "postgresql://postgres@127.0.0.1:5432/postgres"
)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

SHARES_SQL = """
INSERT INTO shares (id, code, message_id, employee_id, network, locale, text, created_at)
SELECT gen_random_uuid(), 'bench' || lpad(g::text, 8, '0'), $1, e.id,
       (ARRAY['linkedin', 'x', 'facebook', 'xing', 'generic'])[1 + g % 5], 'en', 'Proud.', now()
FROM generate_series(1, $2) AS g
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM employees) AS e
  ON e.n = 1 + g % $3
"""
CLICKS_SQL = """
INSERT INTO share_clicks (share_id, visitor, clicked_at)
SELECT s.id, decode(md5(g::text), 'hex'), date_trunc('hour', now())
FROM generate_series(1, $1) AS g
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM shares) AS s ON s.n = 1 + g % $2
"""
COUNTS_SQL = """
UPDATE shares SET clicks = c.n
FROM (SELECT share_id, count(*) AS n FROM share_clicks GROUP BY share_id) AS c
WHERE c.share_id = shares.id
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def timed(n: int, call) -> float:
    start = time.perf_counter()
    for i in range(n):
        await call(i)
    return (time.perf_counter() - start) / n


async def main(args: argparse.Namespace) -> None:
    name = f"brandcast_bench_adv_{uuid.uuid4().hex[:8]}"
    admin_conn = await asyncpg.connect(asyncpg_dsn(SERVER, "postgres"))
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    url = asyncpg_dsn(SERVER, name)
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(
            database_url=url,
            run_scheduler=False,
            rate_limit_per_minute=0,
            public_url="http://bench",
            jwt_algorithms="HS256",
            jwt_secret="bench-secret-that-is-long-enough-for-hs256",
        )
        app = create_app(settings)
        async with LifespanManager(app):
            async with app.state.db.session_scope() as session:
                token = (
                    await mint(
                        session,
                        Principal.system("bench"),
                        data=TokenCreate(name="bench", scopes=[Scope.ADMIN]),
                    )
                ).token
            transport = httpx.ASGITransport(app=app)
            admin = httpx.AsyncClient(
                transport=transport,
                base_url="http://bench",
                headers={"Authorization": f"Bearer {token}"},
            )
            conn = await asyncpg.connect(url)
            await conn.execute(EMPLOYEES_SQL, args.employees)
            audience = (
                await admin.post("/v1/audiences", json={"name": "All", "rule": {"all": []}})
            ).json()["id"]
            message = (
                await admin.post(
                    "/v1/messages",
                    json={
                        "category": "brand_promise",
                        "title": "Our promise",
                        "audience_ids": [audience],
                        "shareable": True,
                        "share_url": "https://www.brand.example/promise?lang=en",
                    },
                )
            ).json()["id"]
            assert (await admin.post(f"/v1/messages/{message}/publish", json={})).status_code == 200
            await conn.execute(SHARES_SQL, uuid.UUID(message), args.shares, args.employees)
            await conn.execute(CLICKS_SQL, args.clicks, args.shares)
            await conn.execute(COUNTS_SQL)
            await conn.execute("ANALYZE")
            codes = [r["code"] for r in await conn.fetch("SELECT code FROM shares LIMIT 500")]
            await conn.close()

            def client(address: str) -> httpx.AsyncClient:
                return httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app, client=(address, 1)),
                    base_url="http://bench",
                    headers={"User-Agent": BROWSER},
                )

            same = client("10.9.9.9")
            visitors = iter(range(10**9))

            async def head(i: int) -> None:
                assert (await same.head(f"/s/{codes[i % len(codes)]}")).status_code == 302

            async def new_visitor(i: int) -> None:
                v = next(visitors)
                async with client(f"10.{v // 65536 % 256}.{v // 256 % 256}.{v % 256}") as c:
                    assert (await c.get(f"/s/{codes[i % len(codes)]}")).status_code == 302

            async def again(i: int) -> None:
                assert (await same.get(f"/s/{codes[0]}")).status_code == 302

            async def stats(i: int) -> None:
                r = await admin.get(
                    f"/v1/messages/{message}/stats", params={"group_by": "department"}
                )
                assert r.status_code == 200

            original = figures.message_advocacy, figures.per_unit

            async def stats_without(i: int) -> None:
                async def nothing(*_a, **_k):
                    return figures.MessageAdvocacy(sharers=0, shares=0, clicks=0, networks={})

                async def no_units(*_a, **_k):
                    return {}

                figures.message_advocacy, figures.per_unit = nothing, no_units
                try:
                    await stats(i)
                finally:
                    figures.message_advocacy, figures.per_unit = original

            print(f"load before: {uptime()}")
            print(
                f"employees {args.employees}, shares {args.shares}, clicks {args.clicks}, "
                f"{args.rounds} rounds of {args.requests} requests (stats: {args.requests // 10})"
            )
            results: dict[str, list[float]] = {k: [] for k in ("head", "new", "again", "s", "s0")}
            for _ in range(args.rounds):
                results["head"].append(await timed(args.requests, head))
                results["new"].append(await timed(args.requests, new_visitor))
                results["again"].append(await timed(args.requests, again))
                results["s"].append(await timed(args.requests // 10, stats))
                results["s0"].append(await timed(args.requests // 10, stats_without))
            med = {k: statistics.median(v) * 1000 for k, v in results.items()}
            print(f"HEAD /s/{{code}} (baseline)      {med['head']:7.2f} ms")
            print(
                f"GET  /s/{{code}}, new visitor     {med['new']:7.2f} ms  "
                f"{med['new'] / med['head']:.2f}x the baseline"
            )
            print(
                f"GET  /s/{{code}}, same visitor    {med['again']:7.2f} ms  "
                f"{med['again'] / med['head']:.2f}x the baseline"
            )
            print(
                f"stats?group_by=department       {med['s']:7.2f} ms  "
                f"{med['s'] / med['s0']:.2f}x the same without the advocacy figures "
                f"({med['s0']:.2f} ms)"
            )
            print(f"load after:  {uptime()}")
            await same.aclose()
            await admin.aclose()
    finally:
        await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin_conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=20_000)
    parser.add_argument("--shares", type=int, default=20_000)
    parser.add_argument("--clicks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
