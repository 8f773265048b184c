"""Real processes for the fault tests: `brandcast serve` subprocesses, throwaway databases on
the shared PostgreSQL server, and private PostgreSQL clusters that a test may stop and start.
Every helper cleans up after itself, also when the test fails."""

import asyncio
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.database import run_in_transaction
from app.core.migrations import upgrade
from app.core.principal import Principal, Scope
from app.tokens.schemas import TokenCreate
from app.tokens.service import mint

PROJECT = Path(__file__).resolve().parents[2]
BRANDCAST = Path(sys.executable).with_name("brandcast")
JWT_SECRET = "fault-tests-hs256-secret-of-32-bytes-or-more"
PG_SERVER = os.environ.get(
    "BRANDCAST_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_BIN = Path(os.environ.get("BRANDCAST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plain_url(url: str) -> str:
    """An asyncpg-connectable URL (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def require_postgres(url: str = PG_SERVER) -> None:
    """Fail (not skip) when the server is not there: these tests were asked for."""
    try:
        conn = await asyncpg.connect(plain_url(url), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise AssertionError(f"PostgreSQL is not reachable at {url}: {exc}") from exc
    await conn.close()


@contextlib.asynccontextmanager
async def throwaway_database(server_url: str = PG_SERVER) -> AsyncIterator[str]:
    """A new, migrated database on the server; dropped at the end."""
    await require_postgres(server_url)
    name = f"brandcast_faults_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(plain_url(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        admin = await asyncpg.connect(plain_url(server_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def admin_token(database_url: str) -> str:
    async def _mint(session) -> str:
        data = TokenCreate(name="faults", scopes=[Scope.ADMIN])
        return (await mint(session, Principal.system("faults"), data=data)).token

    return await run_in_transaction(_mint, Settings(database_url=database_url))


def _die_with_parent() -> None:
    # if the test run is killed outright, its services go with it (Linux only; best effort)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Service:
    """One `brandcast serve --skip-migrate` process on a free port."""

    def __init__(self, database_url: str, *, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"service-{self.port}.log"
        self.env = {
            **os.environ,
            "BRANDCAST_DATABASE_URL": database_url,
            "BRANDCAST_JWT_ALGORITHMS": "HS256",
            "BRANDCAST_JWT_SECRET": JWT_SECRET,
            "BRANDCAST_RATE_LIMIT_PER_MINUTE": "0",
            "BRANDCAST_RUN_SCHEDULER": "false",
            "BRANDCAST_LOG_LEVEL": "WARNING",
            **env,
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(BRANDCAST), "serve", "--skip-migrate", "--port", str(self.port),
                cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        try:
            async with asyncio.timeout(30), httpx.AsyncClient(base_url=self.base_url) as client:
                while True:
                    if self.process.returncode is not None:
                        raise AssertionError(f"the service exited at start:\n{self.log()}")
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"the service did not answer in 30 s:\n{self.log()}") from None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)

    async def stop(self) -> None:
        if self.process is None:
            return
        self.kill(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.kill(signal.SIGKILL)
            await asyncio.wait_for(self.process.wait(), 5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""


@contextlib.asynccontextmanager
async def services(database_url: str, count: int = 1, **env: str) -> AsyncIterator[list[Service]]:
    log_dir = Path(tempfile.mkdtemp(prefix="brandcast-faults-"))
    running = [Service(database_url, log_dir=log_dir, **env) for _ in range(count)]
    try:
        await asyncio.gather(*(s.start() for s in running))
        yield running
    finally:
        await asyncio.gather(*(s.stop() for s in running))
        if not os.environ.get("BRANDCAST_KEEP_FAULT_LOGS"):
            shutil.rmtree(log_dir, ignore_errors=True)


class Cluster:
    """A private PostgreSQL cluster in a temp directory, on its own port and socket dir.

    initdb refuses to run as root, so when the tests run as root the cluster belongs to the
    `postgres` system user and its commands run through `runuser`.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="brandcast-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 60, check: bool = True) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def init(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise AssertionError(f"no PostgreSQL binaries in {PG_BIN} (set BRANDCAST_PG_BIN)")
        self.socket_dir.mkdir()
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            for path in (self.root, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False
            )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
