"""Concurrency and faults with real processes on PostgreSQL: nothing done twice, nothing lost.

- two service processes on one database, acknowledging and publishing at the same time;
- PostgreSQL (a private cluster) restarted under load: fast 503s, then recovery on its own;
- a bulk sync killed mid-way: the directory stays exactly as it was.

Run with BRANDCAST_FAULT_TESTS=1 (`.ci/run` does); each test is bounded to about a minute.
"""

import asyncio
import contextlib
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from jose import jwt

from app.core.migrations import upgrade
from tests.hardening.processes import (
    JWT_SECRET,
    admin_token,
    plain_url,
    private_cluster,
    require_postgres,
    services,
    throwaway_database,
)

pytestmark = pytest.mark.faults

PROBLEM = "application/problem+json"


def employee_token(external_id: str) -> str:
    now = int(time.time())
    return jwt.encode(
        {"sub": external_id, "iat": now, "exp": now + 900}, JWT_SECRET, algorithm="HS256"
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def people(n: int, prefix: str = "E") -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"{prefix}-{i}",
            "email": f"{prefix.lower()}{i}@example.com",
            "display_name": f"Employee {i}",
            "department": ["Sales", "Support", "R&D", "Ops"][i % 4],
            "country": ["ES", "FR", "DE"][i % 3],
            "locale": "en",
        }
        for i in range(n)
    ]


async def seed(
    base_url: str, token: str, *, employees: int, messages: int, scheduled: int = 0
) -> tuple[list[str], list[str]]:
    """Employees, an everyone audience, published messages asking for acknowledgement and
    (optionally) messages scheduled a few seconds ahead; returns (published, scheduled) ids."""
    async with httpx.AsyncClient(base_url=base_url, headers=bearer(token), timeout=60) as c:
        r = await c.post("/v1/employees/bulk", json={"employees": people(employees)})
        assert r.status_code == 200, r.text
        r = await c.post("/v1/audiences", json={"name": "Everyone", "rule": {"all": []}})
        assert r.status_code == 201, r.text
        audience = r.json()["id"]

        async def message(n: int, at: datetime | None) -> str:
            r = await c.post(
                "/v1/messages",
                json={
                    "category": "policy",
                    "title": f"Policy {n}",
                    "body": "Please read.",
                    "audience_ids": [audience],
                    "requires_acknowledgement": True,
                    "acknowledgement_text": "I have read and understood.",
                },
            )
            assert r.status_code == 201, r.text
            mid = r.json()["id"]
            body = {"publish_at": at.isoformat()} if at else {}
            r = await c.post(f"/v1/messages/{mid}/publish", json=body)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == ("scheduled" if at else "published")
            return mid

        published = [await message(n, None) for n in range(messages)]
        at = datetime.now(UTC) + timedelta(seconds=4)
        later = [await message(100 + n, at) for n in range(scheduled)]
        return published, later


async def acknowledge(
    client: httpx.AsyncClient, message_id: str, external_id: str
) -> tuple[int, str, float]:
    started = time.monotonic()
    try:
        r = await client.post(
            f"/v1/me/messages/{message_id}/acknowledgement",
            json={},
            headers=bearer(employee_token(external_id)),
        )
    except httpx.TransportError as exc:
        return 0, type(exc).__name__, time.monotonic() - started
    return r.status_code, r.headers.get("content-type", ""), time.monotonic() - started


# -- two processes, one database ---------------------------------------------------------------


async def test_two_processes_acknowledge_and_publish_without_doing_anything_twice():
    employees, immediate, scheduled = 150, 3, 5
    async with throwaway_database() as url:
        token = await admin_token(url)
        env = {"BRANDCAST_RUN_SCHEDULER": "true", "BRANDCAST_SCHEDULER_INTERVAL_SECONDS": "0.3"}
        async with services(url, 2, **env) as (one, two):
            published, later = await seed(
                one.base_url, token, employees=employees, messages=immediate, scheduled=scheduled
            )
            limits = httpx.Limits(max_connections=20)
            # hundreds of calls queue for 20 connections: on a loaded machine the wait for a
            # pooled connection alone can pass 30 s, which is no failure of the service
            timeout = httpx.Timeout(30, pool=None)
            a = httpx.AsyncClient(base_url=one.base_url, timeout=timeout, limits=limits)
            b = httpx.AsyncClient(base_url=two.base_url, timeout=timeout, limits=limits)
            async with a, b:
                # every (message, employee) acknowledged through both processes at once
                pairs = [(m, f"E-{i}") for m in published for i in range(employees)]
                results = await asyncio.gather(
                    *(acknowledge(c, m, e) for m, e in pairs for c in (a, b))
                )
                # meanwhile both schedulers raced to publish the scheduled messages
                deadline = time.monotonic() + 30
                async with httpx.AsyncClient(
                    base_url=two.base_url, headers=bearer(token), timeout=10
                ) as admin:
                    for mid in later:
                        while True:
                            status = (await admin.get(f"/v1/messages/{mid}")).json()["status"]
                            if status == "published" or time.monotonic() > deadline:
                                break
                            await asyncio.sleep(0.2)
                        assert status == "published", (mid, one.log(), two.log())
                # and the scheduled ones acknowledged through both, too
                late_pairs = [(m, f"E-{i}") for m in later for i in range(0, employees, 5)]
                late = await asyncio.gather(
                    *(acknowledge(c, m, e) for m, e in late_pairs for c in (a, b))
                )

        # a transport error (0) names its kind, so a timeout reads apart from a dropped connection
        failures = sorted({(s, kind) for s, kind, _ in results + late if s not in (200, 201)})
        assert not failures, failures
        # exactly one of the two concurrent calls created it; the other saw the original
        for n in range(len(pairs)):
            assert sorted((results[2 * n][0], results[2 * n + 1][0])) == [200, 201], pairs[n]
        for n in range(len(late_pairs)):
            assert sorted((late[2 * n][0], late[2 * n + 1][0])) == [200, 201], late_pairs[n]

        conn = await asyncpg.connect(plain_url(url))
        try:
            doubled = await conn.fetch(
                "SELECT message_id, employee_id, count(*) FROM acknowledgements"
                " GROUP BY message_id, employee_id, acknowledgement_version HAVING count(*) > 1"
            )
            assert doubled == []
            acked = {
                (str(r["message_id"]), r["external_id"])
                for r in await conn.fetch(
                    "SELECT a.message_id, e.external_id FROM acknowledgements a"
                    " JOIN employees e ON e.id = a.employee_id"
                )
            }
            assert acked == set(pairs) | set(late_pairs)  # every 2xx is there, nothing else
            events = await conn.fetch(
                "SELECT type, ordering_key, count(*) AS n FROM events GROUP BY type, ordering_key"
            )
            counts = {
                (r["type"], (r["ordering_key"] or "").removeprefix("message:")): r["n"]
                for r in events
            }
            for mid in published:
                assert counts[("acknowledgement.created", mid)] == employees
            for mid in later:
                assert counts[("message.published", mid)] == 1
                assert counts[("acknowledgement.created", mid)] == len(range(0, employees, 5))
                versions = await conn.fetchval(
                    "SELECT count(*) FROM message_versions WHERE message_id = $1", uuid.UUID(mid)
                )
                assert versions == 1
                recipients = await conn.fetchval(
                    "SELECT count(*) FROM recipients WHERE message_id = $1", uuid.UUID(mid)
                )
                assert recipients == employees
        finally:
            await conn.close()


# -- PostgreSQL restarted under load -----------------------------------------------------------


async def test_postgres_restart_fails_fast_then_recovers_and_keeps_every_acknowledgement():
    employees = 300
    with private_cluster() as cluster:
        await require_postgres(cluster.url)
        await asyncio.to_thread(upgrade, cluster.url)
        token = await admin_token(cluster.url)
        async with services(cluster.url, 1, BRANDCAST_DATABASE_TIMEOUT_SECONDS="3") as (svc,):
            (message,), _ = await seed(svc.base_url, token, employees=employees, messages=1)
            results: dict[str, list[tuple[int, str, float, float]]] = {}
            down = asyncio.Event()
            stop = asyncio.Event()

            async with httpx.AsyncClient(base_url=svc.base_url, timeout=20) as client:

                async def drive(worker: int) -> None:
                    # each worker walks its own employees, one acknowledgement at a time
                    for i in range(worker, employees, 4):
                        if stop.is_set():
                            return
                        ext = f"E-{i}"
                        status, ctype, elapsed = await acknowledge(client, message, ext)
                        results.setdefault(ext, []).append(
                            (status, ctype, elapsed, time.monotonic())
                        )
                        await asyncio.sleep(0.02 if not down.is_set() else 0.1)

                drivers = [asyncio.create_task(drive(w)) for w in range(4)]
                await asyncio.sleep(1.5)

                await asyncio.to_thread(cluster.stop, "fast")
                stopped_at = time.monotonic()
                down.set()
                await asyncio.sleep(0.5)
                ready = await client.get("/readyz")
                assert ready.status_code == 503 and ready.headers["content-type"] == PROBLEM
                # while it is down: fast 503 problems, for the feed too
                for _ in range(5):
                    started = time.monotonic()
                    r = await client.get("/v1/me/messages", headers=bearer(employee_token("E-1")))
                    assert time.monotonic() - started < 6
                    assert r.status_code == 503, r.text
                    assert r.headers["content-type"] == PROBLEM
                    assert r.json()["status"] == 503 and int(r.headers["retry-after"]) > 0
                await asyncio.sleep(1.5)

                await asyncio.to_thread(cluster.start)
                restarted_at = time.monotonic()
                down.clear()
                # the same process recovers by itself, at once: pooled connections the
                # restart closed are replaced on checkout, not handed to a request
                ready = await client.get("/readyz")
                assert ready.status_code == 200, (ready.text, svc.log())
                recovered_in = time.monotonic() - restarted_at
                await asyncio.wait_for(asyncio.gather(*drivers), timeout=60)
                stop.set()

                # a restart while the service is idle: its warm pool holds only dead
                # connections, and still the very next request succeeds
                warm = [
                    client.get("/v1/me", headers=bearer(employee_token(f"E-{i}"))) for i in range(8)
                ]
                assert {r.status_code for r in await asyncio.gather(*warm)} == {200}
                await asyncio.to_thread(cluster.stop, "fast")
                await asyncio.to_thread(cluster.start)
                r = await client.get("/v1/me", headers=bearer(employee_token("E-1")))
                assert r.status_code == 200, r.text

                # everyone who was refused tries again, and now it works
                refused = [e for e, rs in results.items() if all(s >= 500 for s, *_ in rs)]
                retried = await asyncio.gather(*(acknowledge(client, message, e) for e in refused))
                assert {s for s, _, _ in retried} <= {200, 201}, retried

        calls = [c for rs in results.values() for c in rs]
        assert {s for s, *_ in calls} <= {200, 201, 503}, sorted({s for s, *_ in calls})
        failures = [c for c in calls if c[0] == 503]
        assert failures, "the load never met the outage"
        assert all(ctype == PROBLEM for _, ctype, _, _ in failures)
        assert max(elapsed for _, _, elapsed, _ in calls) < 6
        # no request that started after the database was back failed
        assert not [c for c in failures if c[3] - c[2] > restarted_at], failures
        assert [c for c in calls if c[3] - c[2] > restarted_at and c[0] < 300]
        assert stopped_at < restarted_at
        print(
            f"restart: {len(calls)} calls, {len(failures)} refused (503) in "
            f"{max(elapsed for *_, elapsed, _ in failures):.3f} s at most, "
            f"recovered {recovered_in:.2f} s after the restart"
        )

        # every acknowledgement that got a 2xx is in the database (and only once)
        conn = await asyncpg.connect(plain_url(cluster.url))
        try:
            rows = await conn.fetch(
                "SELECT e.external_id, count(*) AS n FROM acknowledgements a"
                " JOIN employees e ON e.id = a.employee_id GROUP BY e.external_id"
            )
        finally:
            await conn.close()
        stored = {r["external_id"]: r["n"] for r in rows}
        answered = {e for e, rs in results.items() if any(s < 300 for s, *_ in rs)}
        assert answered <= set(stored)
        assert set(stored) == {f"E-{i}" for i in range(employees)}
        assert set(stored.values()) == {1}


# -- a bulk sync cut off -----------------------------------------------------------------------

CHECKSUM = (
    "SELECT count(*) AS n, md5(coalesce(string_agg(e::text, '|' ORDER BY e.id), '')) AS sum"
    " FROM employees e"
)


async def _wait_for_writing_sync(conn: asyncpg.Connection, database: str) -> None:
    """Until a transaction of the service on this database has written rows (has an xid)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
        " AND application_name = 'brandcast' AND backend_xid IS NOT NULL"
    )
    while True:
        if await conn.fetchval(query, database):
            return
        await asyncio.sleep(0.005)


async def _wait_for_no_backends(conn: asyncpg.Connection, database: str) -> None:
    deadline = time.monotonic() + 30
    while await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'brandcast'",
        database,
    ):
        assert time.monotonic() < deadline, "the killed service's sessions linger"
        await asyncio.sleep(0.05)


async def test_bulk_sync_killed_midway_leaves_the_directory_as_it_was():
    async with throwaway_database() as url:
        database = url.rsplit("/", 1)[1]
        token = await admin_token(url)
        watcher = await asyncpg.connect(plain_url(url))
        try:
            async with services(url, 1) as (svc,):
                async with httpx.AsyncClient(
                    base_url=svc.base_url, headers=bearer(token), timeout=60
                ) as c:
                    r = await c.post("/v1/employees/bulk", json={"employees": people(2_000)})
                    assert r.status_code == 200, r.text
                before = await watcher.fetchrow(CHECKSUM)

                # 2,000 changed and 8,000 new, as a full sync: upserts, then deactivations
                batch = people(8_000, prefix="N")
                for record in people(2_000):
                    batch.append({**record, "department": "Moved", "job_title": "Changed"})
                payload = {"employees": batch, "mode": "full_sync"}

                async def sync() -> httpx.Response:
                    async with httpx.AsyncClient(
                        base_url=svc.base_url, headers=bearer(token), timeout=60
                    ) as c:
                        return await c.post("/v1/employees/bulk", json=payload)

                request = asyncio.create_task(sync())
                async with asyncio.timeout(30):
                    await _wait_for_writing_sync(watcher, database)
                svc.kill(signal.SIGKILL)
                with pytest.raises(httpx.TransportError):
                    await request  # cut off: no answer, in particular no 200
            await _wait_for_no_backends(watcher, database)
            after = await watcher.fetchrow(CHECKSUM)
            assert (after["n"], after["sum"]) == (before["n"], before["sum"])

            # the same sync, left to finish, does change the directory
            async with (
                services(url, 1) as (svc,),
                httpx.AsyncClient(base_url=svc.base_url, headers=bearer(token), timeout=60) as c,
            ):
                r = await c.post("/v1/employees/bulk", json=payload)
                assert r.status_code == 200, r.text
                assert r.json() == {
                    "created": 8_000,
                    "updated": 2_000,
                    "unchanged": 0,
                    "deactivated": 0,
                    "deactivated_external_ids": [],
                    "dry_run": False,
                }
            changed = await watcher.fetchrow(CHECKSUM)
            assert changed["n"] == 10_000 and changed["sum"] != before["sum"]
        finally:
            with contextlib.suppress(Exception):
                await watcher.close()
