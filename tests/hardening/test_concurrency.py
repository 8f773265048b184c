"""Reads and writes at the same time must not turn into 5xx (in-process; the multi-process
checks are in test_faults.py)."""

import asyncio

import httpx
from sqlalchemy import update

from app.core.principal import Scope
from app.tokens.models import ApiToken


async def test_reads_whose_token_needs_touching_survive_concurrent_writes(client_for, db):
    # A read request refreshes its token's `last_used_at` once a minute. On SQLite its read
    # transaction cannot become a writer after another connection committed (BUSY_SNAPSHOT):
    # that bookkeeping must give way instead of failing the read with a 503.
    writer: httpx.AsyncClient = await client_for(Scope.EMPLOYEES_WRITE)
    reader: httpx.AsyncClient = await client_for(Scope.EMPLOYEES_READ)
    statuses: list[int] = []
    for round_ in range(8):
        async with db() as s, s.begin():
            await s.execute(update(ApiToken).values(last_used_at=None))
        writes = [
            writer.put(f"/v1/employees/E-{round_}-{i}", json={"email": f"e{round_}x{i}@ex.com"})
            for i in range(4)
        ]
        reads = [reader.get("/v1/employees", params={"limit": 5}) for _ in range(4)]
        statuses += [r.status_code for r in await asyncio.gather(*writes, *reads)]
    assert sorted(set(statuses)) == [200, 201], statuses
