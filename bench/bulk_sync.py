"""Time the employee bulk sync on PostgreSQL.

    .venv/bin/python bench/bulk_sync.py [--url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a throwaway database on that server, migrates it, and times through the real app
(`POST /v1/employees/bulk` over httpx's ASGI transport: JSON parsing, validation, SQL, commit):
10,000 new employees in one call, the same 10,000 again (all unchanged), a full sync of
10,000 with 1,000 changed, and 100,000 more in ten calls of 10,000. Then the CLI's path: a
full sync of those 100,000 in one transaction through the service. Drops the database at the end.
"""

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.database import async_url
from app.core.migrations import upgrade
from app.core.principal import Principal, Scope
from app.employees import sync
from app.employees.schemas import EmployeeRecord, SyncMode
from app.main import create_app
from app.tokens.schemas import TokenCreate
from app.tokens.service import mint

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEPARTMENTS = ["Sales", "Marketing", "Engineering", "Customer Service", "Retail", "Finance"]
PLACES = [
    ("ES", "es-ES", "Madrid"),
    ("MX", "es-MX", "Mexico City"),
    ("GB", "en-GB", "London"),
    ("US", "en-US", "Austin"),
    ("DE", "de-DE", "Berlin"),
    ("JP", "ja-JP", "Tokyo"),
    ("BR", "pt-BR", "São Paulo"),
]
TYPES = ["full_time", "full_time", "full_time", "part_time", "contractor", "intern"]


def employee(n: int, rng: random.Random, *, department: str | None = None) -> dict[str, Any]:
    country, locale, city = PLACES[n % len(PLACES)]
    return {
        "external_id": f"E{n:07d}",
        "email": f"employee{n}@example.com",
        "display_name": f"Employee {n}",
        "given_name": "Employee",
        "family_name": f"No{n}",
        "employee_number": str(100000 + n),
        "department": department or DEPARTMENTS[n % len(DEPARTMENTS)],
        "division": "Commercial" if n % 2 else "Corporate",
        "location": f"{city} Office",
        "country": country,
        "job_title": "Specialist",
        "job_level": n % 10,
        "manager_external_id": f"E{n // 10:07d}",
        "employment_type": TYPES[n % len(TYPES)],
        "customer_facing": n % 3 == 0,
        "hire_date": f"{2005 + n % 20}-{1 + n % 12:02d}-{1 + n % 28:02d}",
        "locale": locale,
        "attributes": {"cost_center": f"CC-{n % 50}", "shift_hours": rng.choice([4, 6, 8])},
    }


def batch(start: int, count: int, rng: random.Random, **kw: Any) -> list[dict[str, Any]]:
    return [employee(n, rng, **kw) for n in range(start, start + count)]


async def admin_sql(server_url: str, sql: str) -> None:
    url = make_url(async_url(server_url)).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Timer:
    def __init__(self) -> None:
        self.rows: list[tuple[str, int, float, dict[str, int]]] = []

    def add(self, label: str, records: int, seconds: float, answer: dict[str, Any]) -> None:
        counts = {k: answer[k] for k in ("created", "updated", "unchanged", "deactivated")}
        self.rows.append((label, records, seconds, counts))
        rate = records / seconds if seconds else 0
        print(f"{label:<52} {records:>7,} records {seconds:>7.2f} s {rate:>9,.0f}/s  {counts}")


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def run(database_url: str) -> None:
    settings = Settings(database_url=database_url, run_scheduler=False)
    app = create_app(settings)
    rng = random.Random(7)
    timer = Timer()
    async with app.router.lifespan_context(app):
        async with app.state.db.session_scope() as session:
            token = await mint(
                session,
                Principal.system("bench"),
                data=TokenCreate(name="bench", scopes=[Scope.EMPLOYEES_WRITE]),
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token.token}", "Content-Type": "application/json"},
            timeout=600,
        ) as client:

            async def post(label: str, employees: list[dict[str, Any]], mode: str) -> None:
                body = json.dumps({"employees": employees, "mode": mode}).encode()
                started = time.perf_counter()
                r = await client.post("/v1/employees/bulk", content=body)
                elapsed = time.perf_counter() - started
                if r.status_code != 200:
                    raise SystemExit(f"{label}: HTTP {r.status_code}: {r.text[:500]}")
                timer.add(label, len(employees), elapsed, r.json())

            first = batch(0, 10_000, rng)
            await post("10,000 new, one call (HTTP)", first, "upsert")
            await post("same 10,000 again, all unchanged (HTTP)", first, "upsert")
            changed = first[:9_000] + batch(9_000, 1_000, rng, department="Brand")
            await post("10,000 full_sync, 1,000 changed (HTTP)", changed, "full_sync")

            more = batch(10_000, 100_000, rng)
            started = time.perf_counter()
            totals = {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0}
            for part in chunks(more, 10_000):
                body = json.dumps({"employees": part, "mode": "upsert"}).encode()
                r = await client.post("/v1/employees/bulk", content=body)
                if r.status_code != 200:
                    raise SystemExit(f"batch: HTTP {r.status_code}: {r.text[:500]}")
                totals = {k: v + r.json()[k] for k, v in totals.items()}
            timer.add(
                "100,000 new in 10 calls of 10,000 (HTTP)",
                len(more),
                time.perf_counter() - started,
                totals,
            )

        records = [EmployeeRecord.model_validate(e) for e in more]
        started = time.perf_counter()
        async with app.state.db.session_scope() as session:
            counts = await sync.sync_employees(
                session,
                Principal.system("bench"),
                records=records,
                mode=SyncMode.FULL_SYNC,
                batch_size=10_000,
            )
        timer.add(
            "100,000 full_sync in one transaction (service, CLI path)",
            len(records),
            time.perf_counter() - started,
            counts.model_dump(),
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("BRANDCAST_BENCH_DATABASE_URL", DEFAULT_URL),
        help="PostgreSQL server (env BRANDCAST_BENCH_DATABASE_URL); a throwaway database is made.",
    )
    args = parser.parse_args()
    name = f"brandcast_bench_{uuid.uuid4().hex[:10]}"
    await admin_sql(args.url, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade, url)
        print(f"PostgreSQL database {name} (dropped at the end)")
        await run(url)
    finally:
        await admin_sql(args.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
