"""Brandcast at company scale: build a realistic data set on PostgreSQL, then measure the
service against bare baselines in the same run, and write `bench/RESULTS.md`.

The hot paths (feed, acknowledgement) are measured against two baselines: `hand_app.py`, what
a team would write by hand instead, and `raw_app.py`, the service's own SQL on a bare driver.
`--scale` builds (or reuses) one data set per size and prints their figures side by side.

    .venv/bin/python bench/company.py                 # build (≈ 10 min), measure, drop
    .venv/bin/python bench/company.py --keep          # … and keep the database for reruns
    .venv/bin/python bench/company.py --reuse NAME    # measure again on a kept database
    .venv/bin/python bench/company.py --scale 10000,100000,1000000

Server: `BRANDCAST_BENCH_DATABASE_URL`, else postgresql://postgres@127.0.0.1:5432/postgres; the
script creates (and unless kept, drops) its own databases there. See bench/README.md.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import asyncpg
import dataset
import httpx
from jose import jwt
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.database import Database, utcnow
from app.core.migrations import upgrade
from app.core.principal import Principal, Scope
from app.employees.models import Employee
from app.employees.schemas import EmployeeRecord, SyncMode
from app.employees.sync import sync_employees
from app.messages.schemas import MessageCreate
from app.messages.service import create_message, publish_message
from app.receipts.reports import message_facts, message_stats, stats_statement
from app.reports import service as reports
from app.reports.aggregates import GroupBy
from app.tokens.schemas import TokenCreate
from app.tokens.service import mint

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "brandcast-bench-hs256-secret-at-least-32-bytes"
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
WORK = Path("/tmp/brandcast-bench")
BEGIN, END = "<!-- company.py:begin -->", "<!-- company.py:end -->"
SYSTEM = Principal.system("bench")
SERVICE_PORT, HAND_PORT, RAW_PORT, SECOND_PORT = 18081, 18082, 18083, 18084
# what the bench's employee tokens carry and every server checks
ISSUER, AUDIENCE = "https://sso.bench.example", "brandcast"
# the shared rate limiter's Redis for the two-replica phase (not the tests' database 15)
REDIS_URL = os.environ.get("BRANDCAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
# the same server settings for the service and the baseline
UVICORN = [
    "--host", "127.0.0.1", "--loop", "uvloop", "--http", "httptools",
    "--no-access-log", "--log-level", "warning",
]  # fmt: skip
FK_EMPLOYEE = "fk_recipients_employee_id_employees"
# the scale table's runs with one connection (a request's own latency, not the queue's)
SOLO_SECONDS = 10
# what the service's engine sets on its connections (app/core/database.py), for the baselines
BASELINE_SETTINGS = {"application_name": "brandcast-bench", "jit": "off"}
FK_MESSAGE = "fk_recipients_message_id_messages"


def say(line: str) -> None:
    print(line, flush=True)


def dsn(url: str, database: str | None = None) -> str:
    """An asyncpg/libpq URL for `url`, on another database if given."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- results ---------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    # the HTTP figures' second baseline: the service's own SQL, bare (raw_app.py)
    same_sql: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline

    @property
    def same_sql_ratio(self) -> float | None:
        if self.same_sql in (None, 0):
            return None
        return self.value / self.same_sql


@dataclass
class Run:
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, list[str]] = field(default_factory=dict)
    loads: list[tuple[str, str]] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def note(self, section: str, line: str) -> None:
        self.details.setdefault(section, []).append(line)
        say(f"    {line}")

    def mark(self, what: str) -> None:
        self.loads.append((what, load()))


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "requests":
        return f"{value:,.0f}"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:,.2f} {unit}".strip()


def table(figures: list[Figure]) -> list[str]:
    rows = [("figure", "service", "baseline", "ratio", "same SQL", "ratio", "target", "met?")]
    for f in figures:
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "—"
        same = f"{f.same_sql_ratio:.2f}x" if f.same_sql_ratio is not None else "—"
        met = "—" if f.met is None else ("yes" if f.met else "**no**")
        rows.append(
            (f.name, fmt(f.value, f.unit), fmt(f.baseline, f.unit), ratio,
             fmt(f.same_sql, f.unit), same, f.target, met)
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


# -- machine ---------------------------------------------------------------------------------


def host() -> tuple[str, str, str, str]:
    """CPU model, memory, `nproc` and the wrk version of this machine."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    wrk = "not installed"
    if shutil.which("wrk"):
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return cpu, memory, nproc, (wrk.splitlines() or ["wrk"])[0].split(" Copyright")[0]


async def machine(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    cpu, memory, nproc, wrk = await asyncio.to_thread(host)
    settings = {
        name: await conn.fetchval(f"SHOW {name}")
        for name in ("shared_buffers", "work_mem", "synchronous_commit", "max_connections")
    }
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu}, `nproc` = {nproc}"),
        ("memory", memory),
        ("OS", platform.platform()),
        ("PostgreSQL", (await conn.fetchval("SHOW server_version")).split()[0] + ", same host, "
         + ", ".join(f"{k} {v}" for k, v in settings.items())),
        ("Python", platform.python_version()),
        ("packages", ", ".join(
            f"{p} {package_version(p)}"
            for p in ("fastapi", "starlette", "pydantic", "sqlalchemy", "asyncpg", "uvicorn",
                      "uvloop", "httptools", "python-jose")
        )),
        ("load generator", wrk),
    ]  # fmt: skip


# -- database --------------------------------------------------------------------------------


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn(url, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(url: str, name: str) -> str:
    await admin(url, f'CREATE DATABASE "{name}"')
    target = make_url(url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, target)
    return target


BUILD_TABLE = "CREATE TABLE IF NOT EXISTS bench_build (key text PRIMARY KEY, value jsonb)"


async def save_build(conn: asyncpg.Connection, report: dataset.BuildReport) -> None:
    await conn.execute(BUILD_TABLE)
    value = {
        "seconds": report.seconds,
        "counts": report.counts,
        "audiences": report.audiences,
        "built_at": datetime.now(UTC).isoformat(),
    }
    await conn.execute(
        "INSERT INTO bench_build VALUES ('report', $1::jsonb) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        json.dumps(value),
    )


async def load_build(conn: asyncpg.Connection) -> dict[str, Any]:
    raw = await conn.fetchval("SELECT value::text FROM bench_build WHERE key = 'report'")
    return json.loads(raw)


# -- bulk sync -------------------------------------------------------------------------------

BARE_EMPLOYEES_SQL = """
INSERT INTO employees (id, external_id, email, display_name, given_name, family_name,
    employee_number, department, division, location, country, job_title, job_level,
    manager_external_id, employment_type, customer_facing, hire_date, locale, active,
    attributes, revision, created_at, updated_at)
SELECT u.*, 1, $20::timestamptz, $20::timestamptz
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[],
    $14::text[], $15::text[], $16::bool[], $17::date[], $18::text[], $19::bool[],
    $21::jsonb[]) AS u
ON CONFLICT (external_id) DO NOTHING
RETURNING id
"""


def _bare_columns(batch: list[dict[str, Any]]) -> list[Any]:
    from datetime import date

    def col(name: str) -> list[Any]:
        return [r.get(name) for r in batch]

    return [
        [uuid.uuid4() for _ in batch],
        col("external_id"),
        [r["email"].lower() for r in batch],
        col("display_name"),
        col("given_name"),
        col("family_name"),
        col("employee_number"),
        col("department"),
        col("division"),
        col("location"),
        col("country"),
        col("job_title"),
        col("job_level"),
        col("manager_external_id"),
        col("employment_type"),
        col("customer_facing"),
        [date.fromisoformat(r["hire_date"]) for r in batch],
        col("locale"),
        [r.get("active", True) for r in batch],
        utcnow(),
        [json.dumps(dict(sorted(r["attributes"].items()))) for r in batch],
    ]


async def measure_bulk_sync(url: str, name: str, count: int, seed: int, run: Run) -> None:
    """100,000 new employees in 10 calls of 10,000 on an empty directory (a scratch
    database), through the service and as bare multi-row INSERTs."""
    say(f"\n== bulk sync: {count:,} new employees in batches of {dataset.BATCH:,}")
    scratch = f"{name}_sync"
    await admin(url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    target = await create_database(url, scratch)
    db = Database(Settings(database_url=target, run_scheduler=False))
    conn = await asyncpg.connect(dsn(url, scratch))
    await conn.set_type_codec("jsonb", encoder=str, decoder=str, schema="pg_catalog")
    try:
        records = dataset.employees(count, seed)
        run.mark("bulk sync")
        validate = sql = 0.0
        for start in range(0, count, dataset.BATCH):
            t0 = time.perf_counter()
            batch = [
                EmployeeRecord.model_validate(r) for r in records[start : start + dataset.BATCH]
            ]
            t1 = time.perf_counter()
            async with db.session_scope() as session:
                await sync_employees(session, dataset.HRIS, records=batch, mode=SyncMode.UPSERT)
            validate += t1 - t0
            sql += time.perf_counter() - t1
        ours = validate + sql
        await conn.execute("TRUNCATE employees CASCADE")
        await conn.execute("VACUUM ANALYZE employees")
        t0 = time.perf_counter()
        for start in range(0, count, dataset.BATCH):
            batch = records[start : start + dataset.BATCH]
            async with conn.transaction():
                rows = await conn.fetch(BARE_EMPLOYEES_SQL, *_bare_columns(batch))
            assert len(rows) == len(batch)
        bare = time.perf_counter() - t0
        run.add(Figure(f"bulk sync, {count:,} new in batches of 10,000", ours, "s", bare))
        run.note(
            "bulk sync",
            f"service {ours:.2f} s = validation (EmployeeRecord) {validate:.2f} s + "
            f"sync_employees {sql:.2f} s ({count / ours:,.0f} records/s); bare multi-row "
            f"INSERT … SELECT FROM unnest(…) {bare:.2f} s ({count / bare:,.0f} records/s)",
        )
    finally:
        await conn.close()
        await db.dispose()
        await admin(url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


# -- HTTP load: service and raw baseline -----------------------------------------------------


class Server:
    """One uvicorn server with the shared settings: one process, or with `workers` > 1 a
    supervisor and that many worker processes (CPU and memory are read over all of them)."""

    def __init__(
        self, name: str, target: list[str], env: dict[str, str], port: int, workers: int = 1
    ) -> None:
        self.name, self.port, self.workers = name, port, workers
        self.args = [sys.executable, "-m", "uvicorn", *target, *UVICORN, "--port", str(port)]
        if workers > 1:
            self.args += ["--workers", str(workers)]
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen | None = None
        self.log = WORK / f"{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Server":
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited: see {self.log}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r,
            ):
                if r.status == 200:
                    return self
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not start: see {self.log}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pids(self) -> list[int]:
        """The server's process and its workers."""
        assert self.proc is not None
        return [self.proc.pid, *children_of(self.proc.pid)]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server's processes have used so far."""
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += process_cpu_seconds(pid)
        return total

    def peak_rss_mb(self) -> float:
        """VmHWM, the most resident memory a process has had: the largest worker's."""
        pids = self.pids()
        peaks = []
        for pid in pids if self.workers == 1 else pids[1:]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM"):
                    peaks.append(int(line.split()[1]) / 1024)
        if not peaks:
            raise RuntimeError("no VmHWM")
        return max(peaks)


def children_of(pid: int) -> list[int]:
    """Every descendant of `pid` (uvicorn's workers are its children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in map(int, (task / "children").read_text().split()):
                found += [child, *children_of(child)]
    return found


def process_cpu_seconds(pid: int | str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this host (the server is local here)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                total += process_cpu_seconds(pid)
    return total


@dataclass
class Cpu:
    """CPU milliseconds per request of the server process and of PostgreSQL during a run."""

    app_ms: float
    postgres_ms: float

    def line(self) -> str:
        return f"CPU per request: server {self.app_ms:.2f} ms, PostgreSQL {self.postgres_ms:.2f} ms"


def measured(server: "Server", run_wrk: Callable[[], "WrkResult"]) -> tuple["WrkResult", Cpu]:
    app0, pg0 = server.cpu_seconds(), postgres_cpu_seconds()
    result = run_wrk()
    app1, pg1 = server.cpu_seconds(), postgres_cpu_seconds()
    per = 1000 / max(1, result.requests)
    return result, Cpu((app1 - app0) * per, (pg1 - pg0) * per)


SERVICE_DIR = ROOT  # --service-dir: measure another checkout of the service (before/after)


def service_server(
    target: str,
    workers: int = 1,
    *,
    port: int = SERVICE_PORT,
    name: str = "service",
    extra: dict[str, str] | None = None,
) -> Server:
    env = {
        "BRANDCAST_DATABASE_URL": target,
        "BRANDCAST_JWT_ALGORITHMS": "HS256",
        "BRANDCAST_JWT_SECRET": SECRET,
        "BRANDCAST_JWT_ISSUER": ISSUER,
        "BRANDCAST_JWT_AUDIENCE": AUDIENCE,
        "BRANDCAST_RUN_SCHEDULER": "false",
        "BRANDCAST_LOG_LEVEL": "WARNING",
        # 20 connections kept open, as the baseline's asyncpg pool keeps them: with the default
        # 10 + 10 overflow, connections beyond 10 are closed when given back and reopened
        "BRANDCAST_DATABASE_POOL_SIZE": "20",
        "BRANDCAST_DATABASE_MAX_OVERFLOW": "0",
        **(extra or {}),
    }
    target_args = ["app.main:app_from_env", "--factory", "--app-dir", str(SERVICE_DIR)]
    return Server(name, target_args, env, port, workers)


def _baseline_env(target: str) -> dict[str, str]:
    return {
        "BENCH_DATABASE_URL": dsn(target),
        "BENCH_JWT_SECRET": SECRET,
        "BENCH_JWT_ISSUER": ISSUER,
        "BENCH_JWT_AUDIENCE": AUDIENCE,
    }


def hand_server(target: str, workers: int = 1) -> Server:
    """`hand_app.py`: what a user would write by hand (one statement per request)."""
    args = ["hand_app:app", "--app-dir", str(BENCH)]
    return Server("hand", args, _baseline_env(target), HAND_PORT, workers)


def raw_server(target: str, workers: int = 1) -> Server:
    """`raw_app.py`: the service's own statements on a bare asyncpg pool ("same SQL")."""
    args = ["raw_app:app", "--app-dir", str(BENCH)]
    return Server("raw", args, _baseline_env(target), RAW_PORT, workers)


BASELINES = {"service": service_server, "hand": hand_server, "raw": raw_server}


def sign(external_id: str) -> str:
    now = int(time.time())
    claims = {"sub": external_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 4 * 3600}
    return jwt.encode(claims, SECRET, "HS256")


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    say("installing wrk (apt-get) …")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return (
            f"{self.rps:8,.0f} req/s  p50 {self.p50_ms:6.1f} ms  p90 {self.p90_ms:6.1f} ms  "
            f"p99 {self.p99_ms:6.1f} ms  max {self.max_ms:6.0f} ms  "
            f"({self.requests:,} requests, {self.errors} errors)"
        )


FEED_PATH = "/v1/me/messages?limit=20"  # the page an intranet shows; set by --limit


def wrk(url: str, script: str, data: Path, seconds: int, connections: int) -> WrkResult:
    cmd = [
        "wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
        "-s", str(BENCH / "wrk" / script), url, "--", str(data), "1", FEED_PATH,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^BENCH_JSON (\{.*\})$", out, re.M)
    if match is None:
        raise SystemExit(f"wrk printed no summary:\n{out}")
    r = json.loads(match.group(1))
    errors = sum(r[k] for k in ("status_errors", "connect_errors", "read_errors", "timeouts"))
    return WrkResult(
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        errors=errors + r["write_errors"],
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
    )


class Pairs:
    """(token, message id) lines for the acknowledgement load, each handed out once."""

    def __init__(self, rows: list[tuple[str, uuid.UUID]]) -> None:
        self.rows = rows
        self.offset = 0
        self.tokens: dict[str, str] = {}

    def file(self, path: Path, size: int) -> Path:
        part = self.rows[self.offset : self.offset + size]
        if len(part) < size:
            raise SystemExit("not enough pending acknowledgements left; rebuild the data set")
        lines = []
        for external_id, message_id in part:
            token = self.tokens.get(external_id) or self.tokens.setdefault(
                external_id, sign(external_id)
            )
            lines.append(f"{token} {message_id}")
        path.write_text("\n".join(lines) + "\n")
        return path

    def used(self, count: int) -> None:
        self.offset = min(len(self.rows), self.offset + count)


async def pending_pairs(conn: asyncpg.Connection, limit: int) -> list[tuple[str, uuid.UUID]]:
    rows = await conn.fetch(
        """
        SELECT e.external_id, r.message_id
        FROM recipients r
        JOIN messages m ON m.id = r.message_id
        JOIN employees e ON e.id = r.employee_id
        WHERE m.status = 'published' AND m.requires_acknowledgement
          AND (m.expires_at IS NULL OR m.expires_at > now())
          AND r.acknowledged_version IS NULL AND e.active
        ORDER BY random()
        LIMIT $1
        """,
        limit,
    )
    return [(r["external_id"], r["message_id"]) for r in rows]


def normalized(value: Any) -> Any:
    """JSON with timestamps as instants, to compare the service's and the baseline's."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _same_feed_facts(service_page: dict[str, Any], hand_page: dict[str, Any]) -> str | None:
    """What the hand-written feed must agree on with the service's: the same messages in the
    same order, the same receipt state, and the same title and summary where the service
    served the message's own language (the hand-written one does not localize)."""
    ours, theirs = service_page["items"], hand_page["items"]
    if [i["id"] for i in ours] != [i["id"] for i in theirs]:
        return "other messages"
    for a, b in zip(ours, theirs, strict=True):
        for key in ("read_at", "acknowledged_at", "acknowledge_by", "published_at"):
            if normalized(a[key]) != normalized(b[key]):
                return f"{key} of {a['id']}"
        if a["locale"] == "en" and (a["title"], a["summary"]) != (b["title"], b["summary"]):
            return f"title of {a['id']}"
    return None


async def check_equivalence(servers: dict[str, Server], employees: list[str], pairs: Pairs) -> None:
    """The baselines answer what the service answers: the same-SQL app the same feed JSON,
    the hand-written app the same messages and receipt state; and each acknowledges."""
    service, hand, raw = servers["service"], servers["hand"], servers["raw"]
    async with httpx.AsyncClient(timeout=30) as client:
        for external_id in employees:
            headers = {"Authorization": f"Bearer {sign(external_id)}"}
            a = await client.get(f"{service.url}{FEED_PATH}", headers=headers)
            b = await client.get(f"{raw.url}{FEED_PATH}", headers=headers)
            c = await client.get(f"{hand.url}{FEED_PATH}", headers=headers)
            codes = (a.status_code, b.status_code, c.status_code)
            assert codes == (200, 200, 200), (codes, a.text, b.text, c.text)
            if normalized(a.json()) != normalized(b.json()):
                raise SystemExit(f"feed of {external_id}: the same-SQL app answers differently")
            differs = _same_feed_facts(a.json(), c.json())
            if differs:
                raise SystemExit(f"feed of {external_id}: the hand-written app differs: {differs}")
        keys = None
        for server in (service, raw, hand):
            external_id, message_id = pairs.rows[pairs.offset]
            pairs.used(1)
            r = await client.post(
                f"{server.url}/v1/me/messages/{message_id}/acknowledgement",
                headers={"Authorization": f"Bearer {sign(external_id)}"},
            )
            assert r.status_code == 201, (server.name, r.status_code, r.text)
            if server is not hand:
                keys = keys or set(r.json())
                assert set(r.json()) == keys, (server.name, r.json())
    say(f"  the baselines answer as the service: {len(employees)} feeds, one acknowledgement each")


def feed_tokens_file(employees: list[str]) -> Path:
    path = WORK / "feed-tokens.txt"
    path.write_text("\n".join(sign(e) for e in employees) + "\n")
    return path


async def active_employees(conn: asyncpg.Connection, count: int) -> list[str]:
    rows = await conn.fetch(
        "SELECT external_id FROM employees WHERE active ORDER BY random() LIMIT $1", count
    )
    return [r["external_id"] for r in rows]


def acknowledgements_per_statement(server: Server) -> str:
    """The mean batch of the service's coalesced acknowledgements (`app.core.batching`), from
    its /metrics (with several workers, of the one that answers)."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        text = response.read().decode()

    def total(name: str) -> float:
        found = re.search(rf'^{name}\{{work="acknowledgement"\}} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    statements = total("brandcast_coalesced_statements_total")
    items = total("brandcast_coalesced_items_total")
    mean = f"{items / statements:.1f}" if statements else "—"
    one = " (one worker's)" if server.workers > 1 else ""
    return f"{mean}{one}: {items:,.0f} acknowledgements in {statements:,.0f} statements"


def ack_runner(pairs: Pairs, max_rps: int, connections: int) -> Callable[[Server, int], WrkResult]:
    def ack_run(server: Server, seconds: int) -> WrkResult:
        data = pairs.file(WORK / f"ack-{server.name}.txt", seconds * max_rps)
        result = wrk(server.url, "ack.lua", data, seconds, connections)
        if result.requests > seconds * max_rps:
            # wrk went round its file again: the later requests re-acknowledged (the service
            # answers 200, the hand-written app 409, counted as errors); the run goes on
            say(f"  WARNING: {server.name}'s acknowledgement run reused pairs: raise --max-rps")
        # and the requests in flight when wrk stopped (one a connection), which it does not
        # count but the server may have answered
        pairs.used(result.requests + connections)
        return result

    return ack_run


async def measure_http(
    target: str, conn: asyncpg.Connection, run: Run, args: argparse.Namespace
) -> None:
    say(
        f"\n== HTTP load: wrk, 1 thread, {args.connections} connections, "
        f"{args.seconds} s per run after {args.warmup} s of warm-up, {args.rounds} rounds; "
        f"service, hand-written (hand_app.py) and same SQL (raw_app.py); feed {FEED_PATH}"
    )
    await asyncio.to_thread(ensure_wrk)
    employees = await active_employees(conn, args.tokens)
    feed_tokens = feed_tokens_file(employees)
    per_run = (args.seconds + args.warmup) * args.max_rps
    needed = len(BASELINES) * args.rounds * len(args.workers) * per_run + 10
    pairs = Pairs(await pending_pairs(conn, needed))
    say(f"  {len(employees):,} feed tokens; {len(pairs.rows):,} pending (employee, message) pairs")

    servers = {name: make(target) for name, make in BASELINES.items()}
    with servers["service"], servers["hand"], servers["raw"]:
        await check_equivalence(servers, employees[:5], pairs)
    ack_run = ack_runner(pairs, args.max_rps, args.connections)

    # All servers run with the same number of workers: one measures the code per core; as
    # many as the machine has cores measures what the machine serves, PostgreSQL included.
    for workers in args.workers:
        setting = f"{workers} worker{'s' if workers > 1 else ''}"
        results: dict[tuple[str, str], list[WrkResult]] = {}
        cpus: dict[tuple[str, str], list[Cpu]] = {}
        rss: list[float] = []
        names = list(BASELINES)
        for round_ in range(args.rounds):
            # each round in another order, so that no server always runs after the same one
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for server_name in order:
                server = BASELINES[server_name](target, workers)
                with server:
                    run.mark(f"HTTP {setting}, round {round_ + 1}, {server.name}")
                    wrk(server.url, "feed.lua", feed_tokens, args.warmup, args.connections)
                    feed, feed_cpu = measured(
                        server,
                        lambda s=server: wrk(
                            s.url, "feed.lua", feed_tokens, args.seconds, args.connections
                        ),
                    )
                    ack_run(server, args.warmup)
                    ack, ack_cpu = measured(server, lambda s=server: ack_run(s, args.seconds))
                    if server.name == "service":
                        rss.append(server.peak_rss_mb())
                        shared = acknowledgements_per_statement(server)
                heading = f"{setting}, round {round_ + 1}"
                for kind, result, cpu in (("feed", feed, feed_cpu), ("ack", ack, ack_cpu)):
                    results.setdefault((kind, server.name), []).append(result)
                    cpus.setdefault((kind, server.name), []).append(cpu)
                    run.note("HTTP", f"{heading} {kind:<4} {server.name:<7} {result.line()}")
                    run.note("HTTP", f"{heading} {kind:<4} {server.name:<7} {cpu.line()}")
                if rss and server.name == "service":
                    run.note(
                        "HTTP", f"{heading} service peak RSS per worker (VmHWM) {rss[-1]:.0f} MB"
                    )
                    run.note("HTTP", f"{heading} service acknowledgements per statement {shared}")
        http_figures(run, setting, results, cpus, rss)


def http_figures(
    run: Run,
    setting: str,
    results: dict[tuple[str, str], list[WrkResult]],
    cpus: dict[tuple[str, str], list[Cpu]],
    rss: list[float],
) -> None:
    """Service ÷ hand-written (the targets) and ÷ same SQL, for throughput, p50, p99, CPU."""

    def best(kind: str, name: str) -> WrkResult:
        # the round with the higher throughput: what the server can do when nothing else
        # on the machine gets in its way
        return max(results[(kind, name)], key=lambda r: r.rps)

    for kind, label in (("feed", "feed GET /v1/me/messages"), ("ack", "acknowledgement POST")):
        label = f"{label}, {setting}"
        ours, hand, same = best(kind, "service"), best(kind, "hand"), best(kind, "raw")
        ratio = ours.rps / hand.rps
        run.add(
            Figure(f"{label}: throughput", ours.rps, "req/s", hand.rps, "≥ 0.5x", ratio >= 0.5,
                   same.rps)
        )  # fmt: skip
        run.add(
            Figure(f"{label}: p50 latency", ours.p50_ms, "ms", hand.p50_ms, same_sql=same.p50_ms)
        )
        p99 = ours.p99_ms / hand.p99_ms
        run.add(
            Figure(f"{label}: p99 latency", ours.p99_ms, "ms", hand.p99_ms, "≤ 2x", p99 <= 2,
                   same.p99_ms)
        )  # fmt: skip

        def cpu(name: str, kind: str = kind) -> float:
            return statistics.median(c.app_ms for c in cpus[(kind, name)])

        def pg(name: str, kind: str = kind) -> float:
            return statistics.median(c.postgres_ms for c in cpus[(kind, name)])

        run.add(
            Figure(f"{label}: server CPU per request (median)", cpu("service"), "ms",
                   cpu("hand"), same_sql=cpu("raw"))
        )  # fmt: skip
        run.add(
            Figure(f"{label}: PostgreSQL CPU per request (median)", pg("service"), "ms",
                   pg("hand"), same_sql=pg("raw"))
        )  # fmt: skip
    peak = max(rss)
    name = f"service peak RSS per worker during the load, {setting}"
    run.add(Figure(name, peak, "MB", None, "< 300 MB", peak < 300))


# -- stats -----------------------------------------------------------------------------------


async def timed(calls: int, fn: Callable[[], Awaitable[Any]], warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def stats_message(conn: asyncpg.Connection) -> tuple[uuid.UUID, int]:
    row = await conn.fetchrow(
        "SELECT id, recipient_count FROM messages WHERE requires_acknowledgement "
        "ORDER BY recipient_count DESC, published_at DESC LIMIT 1"
    )
    return row["id"], row["recipient_count"]


def compiled(stmt: Any) -> tuple[str, list[Any]]:
    """A statement as asyncpg SQL text and its positional parameters."""
    c = stmt.compile(
        dialect=postgresql.asyncpg.dialect(), compile_kwargs={"render_postcompile": True}
    )
    return str(c), [c.params[name] for name in c.positiontup]


async def measure_stats(target: str, conn: asyncpg.Connection, run: Run, calls: int) -> None:
    message_id, recipients = await stats_message(conn)
    say(f"\n== stats of a message with {recipients:,} recipients, p50 of {calls} calls")
    run.mark("stats")
    db = Database(Settings(database_url=target, run_scheduler=False))
    # the baseline runs the same statement with the service's session settings (no JIT)
    bare_conn = await asyncpg.connect(dsn(target), server_settings=BASELINE_SETTINGS)
    async with db.session_scope() as session:
        token = (
            await mint(
                session, SYSTEM, data=TokenCreate(name="bench", scopes=[Scope.RECEIPTS_READ])
            )
        ).token
        facts = await message_facts(session, SYSTEM, message_id=message_id)
    try:
        with service_server(target) as service:
            async with httpx.AsyncClient(
                base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                for group_by in (None, GroupBy.DEPARTMENT, GroupBy.COUNTRY, GroupBy.LOCATION):
                    await stats_figures(
                        run, db, bare_conn, client, facts, recipients, group_by, calls
                    )
                await alignment_figures(run, bare_conn, client, max(3, calls // 4))
    finally:
        await bare_conn.close()
        await db.dispose()


async def stats_figures(
    run: Run,
    db: Database,
    bare_conn: asyncpg.Connection,
    client: httpx.AsyncClient,
    facts: Any,
    recipients: int,
    group_by: GroupBy | None,
    calls: int,
) -> None:
    async def ours() -> None:
        async with db.session_scope(write=False) as session:
            await message_stats(session, SYSTEM, message_id=facts.id, group_by=group_by)

    sql, params = compiled(stats_statement(facts, utcnow(), group_by))

    async def bare() -> None:
        async with bare_conn.transaction():
            await bare_conn.fetch(sql, *params)

    query = f"?group_by={group_by.value}" if group_by else ""

    async def http() -> None:
        r = await client.get(f"/v1/messages/{facts.id}/stats{query}")
        assert r.status_code == 200, r.text

    service_ms = statistics.median(await timed(calls, ours))
    bare_ms = statistics.median(await timed(calls, bare))
    http_ms = statistics.median(await timed(calls, http))
    # PostgreSQL's default (JIT on), for the record: what the service ran before it turned it off
    await bare_conn.execute("SET jit = on")
    try:
        jit_ms = statistics.median(await timed(calls, bare))
    finally:
        await bare_conn.execute("RESET jit")
    label = f"group_by={group_by.value}" if group_by else "totals"
    if group_by in (None, GroupBy.DEPARTMENT):
        for how, value in (("in-process", service_ms), ("HTTP", http_ms)):
            run.add(
                Figure(
                    f"stats, {recipients:,} recipients, {label} (p50, {how})",
                    value,
                    "ms",
                    bare_ms,
                    "< 100 ms",
                    value < 100,
                )
            )
    run.note(
        "stats",
        f"{label:<20} message_stats {service_ms:6.1f} ms  HTTP {http_ms:6.1f} ms  "
        f"bare SQL {bare_ms:6.1f} ms  (bare SQL with JIT on: {jit_ms:6.1f} ms)",
    )


async def alignment_figures(
    run: Run, bare_conn: asyncpg.Connection, client: httpx.AsyncClient, calls: int
) -> None:
    """The brand-alignment report of the last 90 days per department, over HTTP, against its
    aggregate statement on asyncpg (with the report's `work_mem`)."""
    until = utcnow()
    since = until - reports.DEFAULT_PERIOD
    stmt = reports.alignment_statement(
        "postgresql",
        since=since,
        until=until,
        tag=None,
        unit=Employee.department,
        summarized=True,  # what the service runs: the summary's weeks, the edges' rows
    )
    sql, params = compiled(stmt)
    messages = await bare_conn.fetchval(
        "SELECT count(*) FROM messages WHERE category = ANY($1::text[]) "
        "AND status IN ('published', 'archived') AND published_at >= $2 AND published_at < $3",
        reports.CATEGORIES,
        since,
        until,
    )

    async def bare() -> None:
        async with bare_conn.transaction():
            await bare_conn.execute(f"SET LOCAL work_mem = '{reports.REPORT_WORK_MEM}'")
            await bare_conn.execute("SET LOCAL jit = off")  # as the service does
            await bare_conn.execute("SET LOCAL enable_nestloop = off")
            await bare_conn.fetch(sql, *params)

    async def http() -> None:
        r = await client.get("/v1/reports/brand-alignment", params={"group_by": "department"})
        assert r.status_code == 200, r.text

    http_ms = statistics.median(await timed(calls, http, warmup=1))
    bare_ms = statistics.median(await timed(calls, bare, warmup=1))
    run.add(
        Figure(
            f"brand-alignment report, 90 days ({messages} brand messages), per department",
            http_ms,
            "ms",
            bare_ms,
            "< 1 s (#7)",
            http_ms < 1000,
        )
    )
    run.note(
        "stats",
        f"brand alignment, {messages} brand messages in 90 days: HTTP {http_ms:6.0f} ms  "
        f"bare SQL {bare_ms:6.0f} ms (p50 of {calls})",
    )


# -- publication -----------------------------------------------------------------------------

BARE_PUBLISH_SQL = """
INSERT INTO recipients (message_id, employee_id, targeted_at, published_at, due_at)
SELECT $1, id, $2, $2, $3 FROM employees WHERE active
"""
DRAFT_SQL = """
INSERT INTO messages (id, category, title, body, locale, translations, priority, tags,
    requires_acknowledgement, acknowledgement_text, acknowledge_within_days, status, version,
    acknowledgement_version, recipient_count, revision, created_by, created_at, updated_at)
VALUES ($1, 'policy', 'Bench', 'Body', 'en', '{}', 'normal', '[]', true, 'I agree', 14,
    'published', 1, 1, 0, 1, 'bench', now(), now())
"""


async def measure_publication(target: str, conn: asyncpg.Connection, run: Run, repeat: int) -> None:
    everyone = await conn.fetchval("SELECT id FROM audiences WHERE rule = '{\"all\": []}'::jsonb")
    members = await conn.fetchval("SELECT count(*) FROM employees WHERE active")
    say(f"\n== publication to everyone ({members:,} members), {repeat} runs each, rolled back")
    run.mark("publication")
    db = Database(Settings(database_url=target, run_scheduler=False))
    draft = MessageCreate.model_validate(
        {
            "category": "policy",
            "audience_ids": [str(everyone)],
            "title": "Bench publication",
            "body": "Body",
            "requires_acknowledgement": True,
            "acknowledgement_text": "I have read it.",
            "acknowledge_within_days": 14,
        }
    )

    async def service(setup: tuple[str, ...] = ()) -> float:
        async with db.sessionmaker() as session:
            await session.begin()
            try:
                for sql in setup:
                    await session.execute(text(sql))
                message = await create_message(session, SYSTEM, data=draft)
                t0 = time.perf_counter()
                out = await publish_message(session, SYSTEM, message_id=message.id)
                elapsed = time.perf_counter() - t0
                assert out.recipient_count == members, out.recipient_count
                return elapsed
            finally:
                await session.rollback()

    async def bare(setup: tuple[str, ...] = ()) -> float:
        tx = conn.transaction()
        await tx.start()
        try:
            for sql in setup:
                await conn.execute(sql)
            message_id, now = uuid.uuid4(), utcnow()
            await conn.execute(DRAFT_SQL, message_id)
            t0 = time.perf_counter()
            status = await conn.execute(BARE_PUBLISH_SQL, message_id, now, now + timedelta(days=14))
            elapsed = time.perf_counter() - t0
            assert int(status.split()[-1]) == members, status
            return elapsed
        finally:
            await tx.rollback()

    # the key migration 0009 dropped, put back for the record (NOT VALID: only new rows are
    # checked, as they were), and none at all for the floor
    with_key = (
        f"ALTER TABLE recipients ADD CONSTRAINT {FK_EMPLOYEE} FOREIGN KEY (employee_id) "
        "REFERENCES employees (id) ON DELETE CASCADE NOT VALID",
    )
    no_keys = (f"ALTER TABLE recipients DROP CONSTRAINT {FK_MESSAGE}",)
    variants = {
        "service": (service, ()),
        "bare": (bare, ()),
        "service, with the employee FK": (service, with_key),
        "bare, with the employee FK": (bare, with_key),
        "bare, no foreign key at all": (bare, no_keys),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for i in range(repeat + 1):  # the first round warms caches and is not counted
            names = list(variants) if i % 2 else list(reversed(variants))
            for name in names:
                fn, setup = variants[name]
                elapsed = await fn(setup)
                if i:
                    times[name].append(elapsed)
    finally:
        await db.dispose()
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, value in med.items():
        run.note("publication", f"{name:<30} median {value:6.2f} s   min {min(times[name]):6.2f} s")
    ratio = med["service"] / med["bare"]
    run.add(
        Figure(
            f"publication to {members:,} members",
            med["service"],
            "s",
            med["bare"],
            "≤ 3x",
            ratio <= 3,
        )
    )


# -- two replicas ----------------------------------------------------------------------------


def served(server: Server) -> dict[str, int]:
    """Requests the server answered on the hot routes, by status, from its /metrics."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as r:
        text_ = r.read().decode()
    counts: dict[str, int] = {}
    for line in text_.splitlines():
        if line.startswith("brandcast_http_requests_total{") and "/v1/me/messages" in line:
            status = re.search(r'status="(\d+)"', line)
            key = status.group(1) if status else "?"
            counts[key] = counts.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def _at_once(runs: list[Callable[[], WrkResult]]) -> list[WrkResult]:
    """wrk against each replica at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(runs)) as pool:
        return [f.result() for f in [pool.submit(fn) for fn in runs]]


async def measure_replicas(
    target: str, conn: asyncpg.Connection, run: Run, args: argparse.Namespace
) -> None:
    """Two service processes (one worker each, two ports) on one PostgreSQL, sharing the rate
    limiter in Redis (BRANDCAST_REDIS_URL): wrk against both at once, half the connections
    each, against one process alone with all of them."""
    say(
        f"\n== two replicas on one PostgreSQL, shared rate limiter ({REDIS_URL}): "
        f"{args.connections} connections in all, {args.seconds} s runs"
    )
    await asyncio.to_thread(ensure_wrk)
    employees = await active_employees(conn, args.tokens + 1)
    probe, employees = employees[0], employees[1:]
    tokens = feed_tokens_file(employees)
    per_run = (args.seconds + args.warmup) * args.max_rps
    pairs = Pairs(await pending_pairs(conn, 3 * per_run + 10))
    extra = {"BRANDCAST_REDIS_URL": REDIS_URL}
    half = max(1, args.connections // 2)
    section = "two replicas"

    def ack_file(name: str, seconds: int) -> Path:
        size = seconds * args.max_rps
        path = pairs.file(WORK / f"ack-{name}.txt", size)
        pairs.used(size)  # each file its own pairs; what a run leaves is not reused
        return path

    run.mark("two replicas")
    alone = service_server(target, extra=extra, name="alone")
    with alone:
        wrk(alone.url, "feed.lua", tokens, args.warmup, args.connections)
        feed_one = wrk(alone.url, "feed.lua", tokens, args.seconds, args.connections)
        wrk(
            alone.url, "ack.lua", ack_file("alone-warm", args.warmup), args.warmup, args.connections
        )
        ack_one = wrk(alone.url, "ack.lua", ack_file("alone", args.seconds), args.seconds,
                      args.connections)  # fmt: skip
    run.note(section, f"one process  feed {feed_one.line()}")
    run.note(section, f"one process  ack  {ack_one.line()}")

    a = service_server(target, extra=extra, name="replica-a")
    b = service_server(target, extra=extra, name="replica-b", port=SECOND_PORT)
    with a, b:
        replicas = (a, b)
        _at_once([lambda s=s: wrk(s.url, "feed.lua", tokens, args.warmup, half) for s in replicas])
        before = [served(s) for s in replicas]
        feeds = _at_once(
            [lambda s=s: wrk(s.url, "feed.lua", tokens, args.seconds, half) for s in replicas]
        )
        between = [served(s) for s in replicas]
        warm = [ack_file(f"{s.name}-warm", args.warmup) for s in replicas]
        _at_once(
            [lambda s=s, f=f: wrk(s.url, "ack.lua", f, args.warmup, half)
             for s, f in zip(replicas, warm, strict=True)]
        )  # fmt: skip
        files = [ack_file(s.name, args.seconds) for s in replicas]
        warmed = [served(s) for s in replicas]
        acks = _at_once(
            [lambda s=s, f=f: wrk(s.url, "ack.lua", f, args.seconds, half)
             for s, f in zip(replicas, files, strict=True)]
        )  # fmt: skip
        after = [served(s) for s in replicas]
        # one credential, alternately at each replica: the shared limit stops it once in all
        limit_per_minute = Settings.model_fields["rate_limit_per_minute"].default
        probe_token = sign(probe)
        statuses: list[dict[int, int]] = [{}, {}]
        async with httpx.AsyncClient(timeout=30) as client:
            for n in range(limit_per_minute + 100):
                side = n % 2
                r = await client.get(
                    f"{replicas[side].url}{FEED_PATH}",
                    headers={"Authorization": f"Bearer {probe_token}"},
                )
                statuses[side][r.status_code] = statuses[side].get(r.status_code, 0) + 1

    def delta(b0: dict[str, int], b1: dict[str, int]) -> dict[str, int]:
        return {k: v - b0.get(k, 0) for k, v in b1.items() if v - b0.get(k, 0)}

    for n, (s, feed, ack) in enumerate(zip(replicas, feeds, acks, strict=True)):
        run.note(section, f"{s.name}  feed {feed.line()}")
        run.note(section, f"{s.name}  ack  {ack.line()}")
        run.note(
            section,
            f"{s.name}  answered, by its own /metrics: feed run {delta(before[n], between[n])}, "
            f"ack run {delta(warmed[n], after[n])}",
        )
    combined_feed = sum(r.rps for r in feeds)
    combined_ack = sum(r.rps for r in acks)
    run.note(
        section,
        f"combined: feed {combined_feed:,.0f} req/s ({feed_one.rps:,.0f} one process), "
        f"ack {combined_ack:,.0f} req/s ({ack_one.rps:,.0f} one process)",
    )
    allowed = sum(s.get(200, 0) for s in statuses)
    run.note(
        section,
        f"rate limit {limit_per_minute}/min per credential: {limit_per_minute + 100} requests "
        f"with one token, alternately at each replica: replica-a {statuses[0]}, replica-b "
        f"{statuses[1]}; {allowed} answered in all (one shared limit)",
    )
    for kind, results, one in (("feed", feeds, feed_one), ("ack", acks, ack_one)):
        shares = ", ".join(f"{r.requests:,}" for r in results)
        run.add(
            Figure(f"two replicas, {kind}: combined throughput (requests per replica: {shares})",
                   sum(r.rps for r in results), "req/s", one.rps)
        )  # fmt: skip
    run.add(
        Figure(f"two replicas: one credential's requests allowed in a minute (limit "
               f"{limit_per_minute})", allowed, "requests", limit_per_minute, "= limit",
               allowed <= limit_per_minute * 1.05)
    )  # fmt: skip


# -- scale -----------------------------------------------------------------------------------

SCALE_BEGIN, SCALE_END = "<!-- company.py scale:begin -->", "<!-- company.py scale:end -->"


def scale_messages(size: int) -> int:
    """Messages of the data set at each size: 300 (≈ 58 per employee's feed) up to 100,000
    employees; 100 at a million (≈ 19 per feed, ≈ 19 M recipient rows, ≈ 10 GB), so that the
    build takes ≈ 25 minutes on two quiet cores (300 would be 58 M rows, 2 to 3 hours)."""
    return 300 if size <= 100_000 else 100


async def database_exists(url: str, name: str) -> bool:
    conn = await asyncpg.connect(dsn(url, "postgres"))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def scale_database(url: str, size: int, messages: int, args: argparse.Namespace) -> str:
    """The kept data set of this size: reused when complete, else (re)built and kept."""
    name = f"brandcast_scale_{size}_{messages}"
    target = make_url(url).set(database=name).render_as_string(hide_password=False)
    if await database_exists(url, name) and not args.rebuild:
        conn = await asyncpg.connect(dsn(url, name))
        try:
            built = await conn.fetchval("SELECT to_regclass('bench_build') IS NOT NULL")
        finally:
            await conn.close()
        if built:
            say(f"  reusing {name}")
            await asyncio.to_thread(upgrade, target)
            return name
    await admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    target = await create_database(url, name)
    say(f"\n== building {name} ({size:,} employees, {messages} messages)")
    db = Database(Settings(database_url=target, run_scheduler=False))
    conn = await asyncpg.connect(dsn(url, name), server_settings=BASELINE_SETTINGS)
    try:
        started = time.perf_counter()
        report = await dataset.build(
            db, conn, employee_count=size, message_count=messages, seed=args.seed, say=say
        )
        report.seconds["total"] = time.perf_counter() - started
        await save_build(conn, report)
    finally:
        await conn.close()
        await db.dispose()
    return name


async def publication_seconds(target: str, conn: asyncpg.Connection, repeat: int) -> float:
    """`publish_message` to everyone, rolled back: the median of `repeat` after one warm-up."""
    everyone = await conn.fetchval("SELECT id FROM audiences WHERE rule = '{\"all\": []}'::jsonb")
    db = Database(Settings(database_url=target, run_scheduler=False))
    draft = MessageCreate.model_validate(
        {"category": "policy", "audience_ids": [str(everyone)], "title": "Bench publication",
         "body": "Body", "requires_acknowledgement": True,
         "acknowledgement_text": "I have read it.", "acknowledge_within_days": 14}
    )  # fmt: skip
    times = []
    try:
        for i in range(repeat + 1):
            async with db.sessionmaker() as session:
                await session.begin()
                try:
                    message = await create_message(session, SYSTEM, data=draft)
                    t0 = time.perf_counter()
                    await publish_message(session, SYSTEM, message_id=message.id)
                    if i:
                        times.append(time.perf_counter() - t0)
                finally:
                    await session.rollback()
    finally:
        await db.dispose()
    return statistics.median(times)


async def scale_row(
    url: str, name: str, args: argparse.Namespace, machine_rows: list[tuple[str, str]]
) -> dict[str, str]:
    """One data set's column of the scale table."""
    target = make_url(url).set(database=name).render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn(url, name), server_settings=BASELINE_SETTINGS)
    out: dict[str, str] = {}
    try:
        build = await load_build(conn)
        counts = build["counts"]
        members = await conn.fetchval("SELECT count(*) FROM employees WHERE active")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
        out["employees · messages"] = f"{counts['employees']:,} · {counts['messages']}"
        out["recipient rows"] = f"{counts['recipients']:,}"
        out["database size"] = f"{size / 2**30:.1f} GB"
        total = build["seconds"].get("total") or sum(build["seconds"].values())
        out["build time"] = f"{total / 60:.1f} min"
        say(f"\n== scale: {name} ({members:,} active employees), load {load()}")
        out["load average (1/5/15) at the start"] = load()

        employees = await active_employees(conn, min(args.tokens, members))
        tokens = feed_tokens_file(employees)
        max_rps = args.max_rps
        run_seconds = args.seconds + args.warmup + SOLO_SECONDS
        needed = run_seconds * max_rps + 10
        pairs = Pairs(await pending_pairs(conn, needed))
        if len(pairs.rows) < needed:  # a small data set: fewer pairs for each second
            max_rps = (len(pairs.rows) - 10) // run_seconds
        ack_run = ack_runner(pairs, max_rps, args.connections)
        ack_alone = ack_runner(pairs, max_rps, 1)
        with service_server(target) as server:
            wrk(server.url, "feed.lua", tokens, args.warmup, args.connections)
            feed = wrk(server.url, "feed.lua", tokens, args.seconds, args.connections)
            feed_alone = wrk(server.url, "feed.lua", tokens, SOLO_SECONDS, 1)
            ack_run(server, args.warmup)
            ack = ack_run(server, args.seconds)
            ack_solo = ack_alone(server, SOLO_SECONDS)
        say(f"    feed {feed.line()}\n    ack  {ack.line()}")
        say(f"    alone: feed {feed_alone.line()}\n           ack  {ack_solo.line()}")
        out["feed (limit 20): throughput"] = f"{feed.rps:,.0f} req/s"
        out["feed: p50 / p99"] = f"{feed.p50_ms:.1f} / {feed.p99_ms:.1f} ms"
        out["feed, one connection: p50 / p99"] = (
            f"{feed_alone.p50_ms:.2f} / {feed_alone.p99_ms:.2f} ms"
        )
        out["acknowledgement: throughput"] = f"{ack.rps:,.0f} req/s"
        out["acknowledgement: p50 / p99"] = f"{ack.p50_ms:.1f} / {ack.p99_ms:.1f} ms"
        out["acknowledgement, one connection: p50 / p99"] = (
            f"{ack_solo.p50_ms:.2f} / {ack_solo.p99_ms:.2f} ms"
        )

        seconds = await publication_seconds(target, conn, args.repeat)
        out["publication to everyone"] = (
            f"{seconds:.2f} s ({members:,} rows, {seconds / members * 1e6:.1f} µs a row)"
        )
        say(f"    publication {out['publication to everyone']}")

        message_id, recipients = await stats_message(conn)
        db = Database(Settings(database_url=target, run_scheduler=False))
        try:

            async def grouped() -> None:
                async with db.session_scope(write=False) as session:
                    await message_stats(
                        session, SYSTEM, message_id=message_id, group_by=GroupBy.DEPARTMENT
                    )

            async def alignment() -> None:
                async with db.session_scope(write=False) as session:
                    await reports.brand_alignment(
                        session, SYSTEM, min_group_size=5, group_by=GroupBy.DEPARTMENT
                    )

            stats_ms = statistics.median(await timed(args.calls, grouped))
            align_ms = statistics.median(await timed(max(3, args.calls // 4), alignment, 1))
        finally:
            await db.dispose()
        in_period = await conn.fetchval(
            "SELECT count(*) FROM recipients r JOIN messages m ON m.id = r.message_id "
            "WHERE m.category = ANY($1::text[]) AND m.status IN ('published', 'archived') "
            "AND m.published_at >= now() - $2::interval",
            reports.CATEGORIES,
            reports.DEFAULT_PERIOD,
        )
        out["grouped stats (department), p50"] = f"{stats_ms:.0f} ms ({recipients:,} recipients)"
        out["brand-alignment report (90 days, department), p50"] = (
            f"{align_ms:,.0f} ms ({in_period:,} recipient rows)"
        )
        say(f"    stats {out['grouped stats (department), p50']}; alignment {align_ms:.0f} ms")
    finally:
        await conn.close()
    return out


async def measure_scale(url: str, args: argparse.Namespace) -> None:
    sizes = args.scale
    messages = args.scale_messages or [scale_messages(n) for n in sizes]
    if len(messages) != len(sizes):
        raise SystemExit("--scale-messages needs one count per --scale size")
    columns: dict[str, dict[str, str]] = {}
    machine_rows: list[tuple[str, str]] = []
    for size, count in zip(sizes, messages, strict=True):
        name = await scale_database(url, size, count, args)
        if not machine_rows:
            conn = await asyncpg.connect(dsn(url, name))
            try:
                machine_rows = await machine(conn)
            finally:
                await conn.close()
        if args.wait_quiet:
            await wait_quiet(1.0, args.wait_quiet)
        columns[f"{size:,}"] = await scale_row(url, name, args, machine_rows)
    heads = list(columns)
    names = list(next(iter(columns.values())))
    rows = [("", *heads)] + [(n, *(columns[h].get(n, "—") for h in heads)) for n in names]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    say("\n" + "\n".join(lines))
    if args.no_write:
        return
    command = "python bench/company.py " + " ".join(sys.argv[1:])
    block = "\n".join(
        [
            SCALE_BEGIN,
            "",
            f"## Cost as the company grows ({machine_rows[0][1]})",
            "",
            f"`{command.strip()}`",
            "",
            *lines,
            "",
            "The service alone (one worker, wrk with "
            f"{args.connections} connections, {args.seconds} s runs after {args.warmup} s of "
            f"warm-up; then {SOLO_SECONDS} s with one connection: the latency of a request "
            "alone, which saturation does not set); publication = `publish_message` to everyone, "
            "rolled back (median of "
            f"{args.repeat}); stats and the report in-process, p50. Machine: "
            + "; ".join(f"{k} {v}" for k, v in machine_rows[1:5]),
            "",
            SCALE_END,
        ]
    )
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SCALE_BEGIN in current and SCALE_END in current:
        head, _, rest = current.partition(SCALE_BEGIN)
        _, _, tail = rest.partition(SCALE_END)
        RESULTS.write_text(head + block + tail)
    else:
        RESULTS.write_text(current.rstrip() + "\n\n" + block + "\n")
    say(f"\nwritten to {RESULTS.relative_to(ROOT)}")


# -- profile ---------------------------------------------------------------------------------


def profile(
    target: str,
    run: Run,
    conn_rows: list[str],
    pairs_rows: list[tuple[str, uuid.UUID]],
    seconds: int,
) -> None:
    """py-spy on the service and on the baseline under the feed and the acknowledgement load
    (not measured: the sampler slows the process it samples)."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
    out = WORK / "profiles"
    out.mkdir(exist_ok=True)
    tokens = WORK / "profile-feed.txt"
    tokens.write_text("\n".join(sign(e) for e in conn_rows) + "\n")
    for turn, make in enumerate((service_server, raw_server)):
        # pending pairs of its own for each server, so that both create acknowledgements
        acks = WORK / f"profile-ack-{turn}.txt"
        acks.write_text("\n".join(f"{sign(e)} {m}" for e, m in pairs_rows[turn::2]) + "\n")
        with make(target) as server:
            for kind, script, data in (("feed", "feed.lua", tokens), ("ack", "ack.lua", acks)):
                wrk(server.url, script, data, 3, 16)
                raw = out / f"{kind}-{server.name}.txt"
                spy_proc = subprocess.Popen(
                    [str(spy), "record", "--pid", str(server.proc.pid), "--duration",
                     str(seconds), "--rate", "200", "--format", "raw", "--nonblocking",
                     "--output", str(raw)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                wrk(server.url, script, data, seconds, 16)
                spy_proc.wait()
                section = f"profile: {server.name} under the {kind} load"
                say(f"\n== {section} ({raw})")
                for line in summarize_profile(raw):
                    run.note(section, line)


def _package(frame: str) -> str:
    """`name (sqlalchemy/orm/session.py:12)` -> `sqlalchemy`; the service's own code -> `app`."""
    match = re.search(r"\(([^()]*):\d+\)\s*$", frame)
    path = match.group(1) if match else frame
    if path.startswith("<frozen") or "/" not in path:
        return "python" if path.endswith(".py") or path.startswith("<frozen") else path or "?"
    return path.split("/", 1)[0]


def summarize_profile(path: Path, top: int = 15) -> list[str]:
    """Where the samples were, from py-spy's collapsed stacks: the share of each package in the
    innermost frame (SQLAlchemy's greenlets split the stacks, so inclusive shares mislead), then
    the functions with the most samples of their own."""
    packages: dict[str, int] = {}
    functions: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            # a frame name with a line break in it (generated code) splits its stack over
            # lines; the last piece, which has the count, is the one kept
            continue
        n = int(count)
        total += n
        leaf = stack.split(";")[-1]
        packages[_package(leaf)] = packages.get(_package(leaf), 0) + n
        functions[leaf] = functions.get(leaf, 0) + n
    by_package = sorted(packages.items(), key=lambda kv: -kv[1])[:top]
    by_function = sorted(functions.items(), key=lambda kv: -kv[1])[:top]
    return [
        f"{total} samples; by package (innermost frame):",
        *(f"{n / total:6.1%}  {name}" for name, n in by_package),
        "by function (own samples):",
        *(f"{n / total:6.1%}  {name}" for name, n in by_function),
    ]


# -- report ----------------------------------------------------------------------------------


def write_results(
    run: Run, machine_rows: list[tuple[str, str]], build: dict[str, Any], command: str
) -> None:
    counts = build["counts"]
    sizes = sorted(n for _, n in build["audiences"])
    lines = [
        BEGIN,
        "",
        f"## Latest run ({machine_rows[0][1]})",
        "",
        f"`{command}`",
        "",
        *table(run.figures),
        "",
        "Service = the real process (`uvicorn app.main:app_from_env --factory`, with the workers named).",
        "For the feed and the acknowledgement, baseline = `bench/hand_app.py` (what a user would",
        "write by hand; the targets are against it) and same SQL = `bench/raw_app.py` (the service's",
        "own statements on a bare asyncpg pool), all under the same uvicorn settings; for the other",
        "rows, baseline = the bare SQL on asyncpg. Ratios: service ÷ baseline (for throughput,",
        "higher is better).",
        "",
        "### Machine",
        "",
        *[f"- {k}: {v}" for k, v in machine_rows],
        "- load average (1/5/15 min) at the start of each phase: "
        + "; ".join(f"{what}: {value}" for what, value in run.loads),
        "",
        "### Data set",
        "",
        f"- {counts['employees']:,} employees (12 departments, 20 countries, 29 locales), "
        f"{counts.get('leavers', 0):,} of them deactivated after the messages went out",
        f"- {counts['audiences']} audiences of {sizes[0]:,} to {sizes[-1]:,} members",
        f"- {counts['messages']} published messages ({counts.get('archived', 0)} archived since), "
        f"{counts['recipients']:,} recipient rows, {counts.get('read', 0):,} read, "
        f"{counts.get('acknowledgements', 0):,} acknowledgements when built",
        f"- {counts.get('reactions', 0):,} reactions, {counts.get('pulse answers', 0):,} pulse "
        "answers (a third of the messages ask a pulse question)",
        "- build: "
        + "; ".join(f"{k} {v:.0f} s" for k, v in build["seconds"].items())
        + f" (built {build.get('built_at', '?')[:16]})",
        "",
    ]
    for section, notes in run.details.items():
        lines += [f"### {section}", "", "```", *notes, "```", ""]
    lines.append(END)
    block = "\n".join(lines)
    if RESULTS.exists():
        current = RESULTS.read_text()
        if BEGIN in current and END in current:
            head, _, rest = current.partition(BEGIN)
            _, _, tail = rest.partition(END)
            RESULTS.write_text(head + block + tail)
            return
        RESULTS.write_text(current.rstrip() + "\n\n" + block + "\n")
        return
    RESULTS.write_text("# Benchmark results\n\n" + block + "\n")


# -- main ------------------------------------------------------------------------------------


async def wait_quiet(limit: float, minutes: float) -> None:
    deadline = time.monotonic() + minutes * 60
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        say(f"  waiting for a quiet machine (load {load()}) …")
        await asyncio.sleep(30)


async def main(args: argparse.Namespace) -> None:
    url = os.environ.get("BRANDCAST_BENCH_DATABASE_URL", DEFAULT_SERVER)
    if args.scale:
        say(f"load average {load()}; scale mode: {', '.join(f'{n:,}' for n in args.scale)}")
        await asyncio.to_thread(ensure_wrk)
        await measure_scale(url, args)
        return
    name = args.reuse or f"brandcast_company_{uuid.uuid4().hex[:8]}"
    run = Run()
    say(f"load average {load()}; database {name}")
    if args.reuse:
        target = make_url(url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade, target)  # a kept database follows new migrations
    else:
        target = await create_database(url, name)
    keep = args.keep or bool(args.reuse)
    conn = await asyncpg.connect(dsn(url, name), server_settings=BASELINE_SETTINGS)
    try:
        if not args.reuse:
            say(
                f"\n== building the data set ({args.employees:,} employees, {args.messages} messages)"
            )
            db = Database(Settings(database_url=target, run_scheduler=False))
            started = time.perf_counter()
            try:
                report = await dataset.build(
                    db,
                    conn,
                    employee_count=args.employees,
                    message_count=args.messages,
                    seed=args.seed,
                    say=say,
                )
            finally:
                await db.dispose()
            await save_build(conn, report)
            say(f"  built in {time.perf_counter() - started:.0f} s")
        build = await load_build(conn)
        phases = (
            set(args.only.split(","))
            if args.only
            else {"sync", "http", "replicas", "stats", "publish"}
        )
        if "http" in phases or args.profile:
            await asyncio.to_thread(ensure_wrk)
        machine_rows = await machine(conn)
        if args.wait_quiet:
            await wait_quiet(1.0, args.wait_quiet)
        if "sync" in phases:
            # as many employees as the data set has (a kept one may be of another size)
            count = build["counts"].get("employees", args.employees)
            await measure_bulk_sync(url, name, count, args.seed, run)
        if "http" in phases:
            await measure_http(target, conn, run, args)
        if "replicas" in phases:
            await measure_replicas(target, conn, run, args)
        if "stats" in phases:
            await measure_stats(target, conn, run, args.calls)
        if "publish" in phases:
            await measure_publication(target, conn, run, args.repeat)
        if args.profile:
            employees = [
                r[0]
                for r in await conn.fetch(
                    "SELECT external_id FROM employees WHERE active ORDER BY random() LIMIT 20000"
                )
            ]
            await asyncio.to_thread(
                profile, target, run, employees, await pending_pairs(conn, 40_000), args.profile
            )
        run.mark("end")
        say("\n" + "\n".join(table(run.figures)))
        say("load average per phase: " + "; ".join(f"{w}: {v}" for w, v in run.loads))
        if run.figures and not args.no_write:
            command = "python bench/company.py " + " ".join(sys.argv[1:])
            write_results(run, machine_rows, build, command.strip())
            say(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    finally:
        await conn.close()
        if keep:
            say(f"\nkept database {name}: rerun with --reuse {name}")
        else:
            await admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    p.add_argument("--reuse", metavar="NAME", help="measure on a database kept by --keep")
    p.add_argument("--only", help="phases, comma-separated: sync,http,replicas,stats,publish")
    p.add_argument(
        "--scale",
        type=lambda text: [int(n) for n in text.split(",")],
        help="scale mode: data sets of these employee counts (built once and kept as "
        "brandcast_scale_<employees>_<messages>), one table side by side",
    )
    p.add_argument(
        "--scale-messages",
        type=lambda text: [int(n) for n in text.split(",")],
        help="messages of each --scale data set (default 300 up to 100,000 employees, else 100)",
    )
    p.add_argument("--rebuild", action="store_true", help="scale mode: build the data sets anew")
    p.add_argument("--employees", type=int, default=100_000)
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--seconds", type=int, default=20, help="length of each wrk run")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured wrk run before each")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--rounds", type=int, default=2, help="service/baseline rounds, alternated")
    p.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="uvicorn workers of both servers, comma-separated: each is measured (default 1,2)",
    )
    p.add_argument("--limit", type=int, default=20, help="feed page size (default 20)")
    p.add_argument("--tokens", type=int, default=50_000, help="employees whose feeds are read")
    p.add_argument("--max-rps", type=int, default=2_500, help="ack pairs put aside per second")
    p.add_argument("--calls", type=int, default=20, help="stats calls per figure")
    p.add_argument("--repeat", type=int, default=3, help="publications per variant")
    p.add_argument("--profile", type=int, metavar="SECONDS", help="py-spy the service after")
    p.add_argument("--wait-quiet", type=float, metavar="MINUTES", help="wait for load < 1")
    p.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    p.add_argument("--service-dir", type=Path, help="serve the app from this checkout instead")
    return p.parse_args(argv)


if __name__ == "__main__":
    WORK.mkdir(parents=True, exist_ok=True)
    arguments = parse_args()
    FEED_PATH = f"/v1/me/messages?limit={arguments.limit}"
    if arguments.service_dir:
        SERVICE_DIR = arguments.service_dir.resolve()
    asyncio.run(main(arguments))
