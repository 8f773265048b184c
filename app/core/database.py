"""Async engine, column types shared by every area, and the per-request session."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from app.core.config import Settings, get_settings

# Constraint names are part of the schema; migrations must be able to name them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # asyncpg returns every `timestamptz` as an aware UTC datetime already: skipping the
        # per-value call matters on lists (a feed page holds 250 such values)
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)


def utcnow() -> datetime:
    return datetime.now(UTC)


def moving_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that reads `start` now and moves on with the monotonic clock from there: a
    job's `now` (the real one, or the one a test gave) that still advances while it runs."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def owned_by(target: str, *, primary_key: bool = False) -> Any:
    """A required reference to `target` (`"table.id"`): the row goes when its target does."""
    return Field(
        sa_column=Column(
            ForeignKey(target, ondelete="CASCADE"), primary_key=primary_key, nullable=False
        )
    )


def recorded_at() -> Any:
    """A required UTC timestamp that defaults to the moment the row is made."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Editable(SQLModel):
    """The columns of a resource editors change: its revision (the ETag) and who made it, when."""

    revision: int = Field(default=1, sa_type=Integer, nullable=False)
    created_by: str = Field(sa_type=String(300), nullable=False)
    created_at: datetime = recorded_at()
    updated_at: datetime = recorded_at()


def async_url(url: str) -> str:
    """Pick the async driver for a plain `sqlite://` or `postgresql://` URL."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    elif parsed.drivername in ("postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def redacted_url(url: str) -> str:
    """The URL as it may be shown (logs, errors): the password as `***`, a SQLite file by its
    absolute path (which file a relative URL opened depends on the current folder)."""
    parsed = make_url(url)
    name = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and name and not name.startswith((":", "file:")):
        parsed = parsed.set(database=str(Path(name).resolve()))
    return parsed.render_as_string(hide_password=True)


# What every PostgreSQL connection of the service is opened with (the engine's and the hot
# paths' pool): no JIT (it compiled the 100,000-recipient stats query for 60 to 80 ms, longer
# than the query itself runs, bench/RESULTS.md; no query here runs long enough to win it back),
# statements bounded in time, connections renewed after half an hour.
SERVER_SETTINGS = {"application_name": "brandcast", "jit": "off"}
STATEMENT_TIMEOUT_SECONDS = 60.0
RECYCLE_SECONDS = 1800


def create_engine(
    settings: Settings | None = None, *, command_timeout: float | None = STATEMENT_TIMEOUT_SECONDS
) -> AsyncEngine:
    """The service's engine; `command_timeout` (PostgreSQL, seconds) bounds each statement:
    None for migrations, whose backfills run as long as the company's data needs."""
    settings = settings or get_settings()
    url = async_url(settings.database_url)
    # hide_parameters: an error's text (a log line, a traceback) shows the SQL without the
    # values bound to it, which may be a token hash, an e-mail or a secret
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        url,
        hide_parameters=True,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_timeout_seconds,
        pool_recycle=RECYCLE_SECONDS,
        connect_args={
            "timeout": settings.database_timeout_seconds,
            "command_timeout": command_timeout,
            "server_settings": dict(SERVER_SETTINGS),
        },
    )
    _replace_closed_connections(engine)
    return engine


def _replace_closed_connections(engine: AsyncEngine) -> None:
    # After a database restart or failover, pooled connections are dead; asyncpg already knows
    # it (the server closed the socket), so look before use and let the pool connect afresh,
    # instead of failing the request that drew one. A local flag, not a round trip like
    # `pool_pre_ping`. A connection that dies mid-request still fails that request (503) and
    # SQLAlchemy then invalidates the whole pool.
    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        raw = getattr(dbapi_connection, "_connection", None)
        if raw is not None and raw.is_closed():
            raise DisconnectionError()


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _unicode_upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's own lower()/upper() fold ASCII only, so `q=über` missed "Über uns" (and
        # case-insensitive SCIM filters missed "Öztürk"); PostgreSQL folds all of Unicode.
        for name, fold in (("lower", _unicode_lower), ("upper", _unicode_upper)):
            dbapi_connection.create_function(name, 1, fold, deterministic=True)

    # Writers take the lock up front (BEGIN IMMEDIATE): under WAL, a deferred transaction
    # that later upgrades to a writer fails at once instead of waiting for the lock.
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("sqlite_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


async def _decode_json(connection: asyncpg.Connection) -> None:
    # as the engine's asyncpg connections: JSON parameters arrive serialized (by the bind
    # processors of the statements' JSON types), JSON results are parsed
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=str, decoder=json.loads, schema="pg_catalog")


async def _keep_as_is(_connection: asyncpg.Connection) -> None:
    """No reset between requests (see `Database.direct_pool`)."""


class Database:
    """The process-wide engine and session factory, created at start-up."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.engine = create_engine(self.settings)
        self.sessionmaker = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )
        self._direct_pool: asyncpg.Pool | None = None
        self._direct_pool_lock = asyncio.Lock()

    async def direct_pool(self) -> asyncpg.Pool:
        """PostgreSQL: the pool of the hot paths' `Direct` connections (`app.core.direct`).

        Their own asyncpg pool, of `database_pool_size` connections opened as needed, beside
        the engine's: a connection lent through the engine costs ≈ 90 µs of Python a request
        (its checkout, events and reset), one from this pool ≈ 20 µs. Nothing is reset when
        a connection comes back: the hot paths run single statements, never open a
        transaction and never change the session's settings. The connections are made as the
        engine's are (JIT off, the same timeouts, JSON decoded)."""
        if self._direct_pool is None:
            async with self._direct_pool_lock:
                if self._direct_pool is None:
                    settings = self.settings
                    url = make_url(async_url(settings.database_url)).set(drivername="postgresql")
                    self._direct_pool = await asyncpg.create_pool(
                        url.render_as_string(hide_password=False),
                        min_size=0,
                        max_size=settings.database_pool_size,
                        timeout=settings.database_timeout_seconds,
                        command_timeout=STATEMENT_TIMEOUT_SECONDS,
                        max_inactive_connection_lifetime=RECYCLE_SECONDS,
                        server_settings=dict(SERVER_SETTINGS),
                        init=_decode_json,
                        reset=_keep_as_is,
                    )
        return self._direct_pool

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._direct_pool is not None:
            await self._direct_pool.close()
            self._direct_pool = None
        await self.engine.dispose()

    @asynccontextmanager
    async def session_scope(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on any exception."""
        async with self.sessionmaker() as session, session.begin():
            if not write and self.engine.dialect.name == "sqlite":
                await session.connection(execution_options={"sqlite_read_only": True})
            yield session


T = TypeVar("T")


async def run_in_transaction(
    work: Callable[[AsyncSession], Awaitable[T]], settings: Settings | None = None
) -> T:
    """One unit of work on its own engine, in one transaction: for commands and scripts."""
    db = Database(settings)
    try:
        async with db.session_scope() as session:
            return await work(session)
    finally:
        await db.dispose()
