"""Test fixtures: a migrated database per test and one client per kind of caller.

SQLite by default (a migrated template file copied per test); PostgreSQL when
BRANDCAST_TEST_DATABASE_URL points at a server: a throwaway database is created for the
run, migrated once, emptied before each test and dropped at the end.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

# Review before publishing (BRANDCAST_REVIEW_REQUIRED, default `policy,brand_promise`) is
# tested in tests/editions with its own settings; elsewhere messages publish without a sign-off.
os.environ.setdefault("BRANDCAST_REVIEW_REQUIRED", "")

import app.models
from app.core.config import Settings
from app.core.database import Database, async_url
from app.core.migrations import upgrade
from app.core.principal import Principal, Scope
from app.main import create_app
from app.tokens.schemas import TokenCreate
from app.tokens.service import mint

TEST_JWT_SECRET = "test-secret-for-hs256-must-be-32-bytes-long!"
PG_URL = os.environ.get("BRANDCAST_TEST_DATABASE_URL")


async def _pg_admin(sql: str, server_url: str) -> None:
    import asyncpg

    url = make_url(async_url(server_url)).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_template(tmp_path_factory) -> AsyncIterator[str]:
    """A migrated database: a template file on SQLite, a throwaway database on PostgreSQL."""
    if PG_URL:
        name = f"brandcast_test_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f'CREATE DATABASE "{name}"', PG_URL)
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        try:
            await asyncio.to_thread(upgrade, url)
            yield url
        finally:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', PG_URL)
    else:
        path = tmp_path_factory.mktemp("db") / "template.db"
        await asyncio.to_thread(upgrade, f"sqlite:///{path}")
        yield str(path)


@pytest.fixture
async def database_url(database_template: str, tmp_path: Path) -> str:
    if PG_URL:
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        db = Database(Settings(database_url=database_template))
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        finally:
            await db.dispose()
        return database_template
    target = tmp_path / "brandcast.db"
    shutil.copyfile(database_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        run_scheduler=False,
        jwt_algorithms="HS256",
        jwt_secret=TEST_JWT_SECRET,
        rate_limit_per_minute=0,  # tests/hardening/test_rate_limit.py turns it on where it tests it
        # sign-ins are looked up afresh, so a change to an employee shows at once;
        # tests/auth/test_signin_cache.py tests the cache
        signin_cache_seconds=0,
    )


@pytest.fixture
async def app(settings: Settings):
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def db(app) -> Callable[[], AsyncSession]:
    """Open a session to look at (or arrange) what the database holds."""
    return app.state.db.sessionmaker


def _client(app, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


@pytest.fixture
async def mint_token(app) -> Callable[..., Awaitable[str]]:
    async def _mint(*scopes: Scope, name: str = "test", expires_in_days: int | None = None) -> str:
        async with app.state.db.session_scope() as session:
            created = await mint(
                session,
                Principal.system("tests"),
                data=TokenCreate(name=name, scopes=list(scopes), expires_in_days=expires_in_days),
            )
        return created.token

    return _mint


@pytest.fixture
async def client_for(app, mint_token) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """A client whose API token holds exactly the given scopes."""
    clients: list[httpx.AsyncClient] = []

    async def _make(*scopes: Scope) -> httpx.AsyncClient:
        c = _client(app, await mint_token(*scopes))
        clients.append(c)
        return c

    yield _make
    for c in clients:
        await c.aclose()


@pytest.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, not migrated yet: for migration tests."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    name = f"brandcast_migration_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"', PG_URL)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', PG_URL)


@pytest.fixture
async def anon(app) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as c:
        yield c


@pytest.fixture
async def admin(client_for) -> httpx.AsyncClient:
    return await client_for(Scope.ADMIN)


@pytest.fixture
async def everyone(admin: httpx.AsyncClient) -> str:
    """An audience of every active employee."""
    r = await admin.post("/v1/audiences", json={"name": "Everyone", "rule": {"all": []}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def sql_statements(app, monkeypatch):
    """Record the SQL the app sends, whichever way it goes: through SQLAlchemy, or straight on
    asyncpg (the hot paths on PostgreSQL). `with sql_statements() as seen:` fills `seen`."""
    from contextlib import contextmanager

    import asyncpg.connection
    from sqlalchemy import event

    @contextmanager
    def _record():
        seen: list[str] = []

        def _on_cursor(_conn, _cursor, statement, *_args) -> None:
            seen.append(statement)

        def _wrap(name: str):
            original = getattr(asyncpg.connection.Connection, name)

            async def recording(self, query, *args, **kwargs):
                seen.append(query)
                return await original(self, query, *args, **kwargs)

            return recording

        engine = app.state.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", _on_cursor)
        with monkeypatch.context() as patch:
            for name in ("fetch", "fetchrow", "execute"):
                patch.setattr(asyncpg.connection.Connection, name, _wrap(name))
            try:
                yield seen
            finally:
                event.remove(engine, "before_cursor_execute", _on_cursor)

    return _record
