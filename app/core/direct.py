"""The hot paths' database access: statements compiled once and run straight on the driver.

The feed and the acknowledgement run on every intranet page view. Through the session, each
statement paid for SQLAlchemy's statement cache key, its execution context, the async adapter
and result processing — more Python than the database spent on the query (bench/RESULTS.md).
Here a Core statement is compiled once per database, and a request borrows a `Direct`
connection:

- on PostgreSQL, an asyncpg connection of the hot paths' own pool (`Database.direct_pool`),
  with the statement's text and its parameters in order. No transaction is opened around it:
  a single statement is atomic on its own, so a write made of one statement (the
  acknowledgement's CTE) needs no BEGIN/COMMIT;
- on SQLite (the embedded default, where one process serves few people), a session in one
  transaction, executing the same Core statement through SQLAlchemy.

Rows come back as mappings (`row["name"]`) either way, with the same Python types: the pool's
connections, as the engine's, decode JSON and answer aware UTC datetimes.
"""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from app.core.database import Database
from app.core.sql import DIALECTS, POSTGRESQL

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    text: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]


class Prepared:
    """A statement built once for each database by `build(dialect_name)`; run it with a
    `Direct` connection. Parameters are bound by name."""

    __slots__ = ("_compiled", "_statements")

    def __init__(self, build: Callable[[str], Executable]) -> None:
        self._statements = {name: build(name) for name in DIALECTS}
        self._compiled: dict[int, _Compiled] = {}

    def statement(self, dialect: str) -> Executable:
        return self._statements[dialect]

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement's text and positional parameters for this (asyncpg) dialect."""
        key = id(dialect)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _compile(self._statements[dialect.name], dialect)
        return found


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if "POSTCOMPILE" in str(compiled):
        # an `IN` list rendered at execution: not a fixed text (write it as `= ANY` or ORs)
        raise ValueError(f"a prepared statement cannot hold an expanding IN: {compiled}")
    names = tuple(compiled.positiontup or ())
    processors = {}
    for name in names:
        bind = compiled.binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    return _Compiled(str(compiled), names, dict(compiled.params), processors)


class Direct(Protocol):
    """A connection lent for one request's hot-path statements.

    `session` is the SQLAlchemy session when the connection is a transaction (SQLite): a write
    that PostgreSQL makes in one statement (with data-modifying CTEs, which SQLite lacks) is
    then made statement by statement in it. None on the driver path.
    """

    session: AsyncSession | None

    async def fetch(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Row]: ...

    async def fetchrow(self, prepared: Prepared, params: Mapping[str, Any]) -> Row | None: ...


class _AsyncpgDirect:
    __slots__ = ("_connection", "_dialect", "broken")
    session: AsyncSession | None = None

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._connection = connection
        self._dialect = dialect
        # set when an operation failed other than by the server's answer (connection lost,
        # request cancelled mid-statement): the connection must not go back to the pool
        self.broken = False

    def _args(self, prepared: Prepared, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        compiled = prepared.compiled(self._dialect)
        args = []
        for name in compiled.names:
            value = params[name] if name in params else compiled.defaults[name]
            processor = compiled.processors.get(name)
            args.append(processor(value) if processor is not None else value)
        return compiled.text, args

    async def fetch(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Row]:
        text, args = self._args(prepared, params)
        try:
            rows: Sequence[Row] = await self._connection.fetch(text, *args)
        except asyncpg.PostgresError:
            raise  # the server refused the statement: the connection is fine
        except BaseException:
            self.broken = True
            raise
        return rows

    async def fetchrow(self, prepared: Prepared, params: Mapping[str, Any]) -> Row | None:
        rows = await self.fetch(prepared, params)
        return rows[0] if rows else None


class _SessionDirect:
    __slots__ = ("_dialect", "session")

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session: AsyncSession | None = session
        self._dialect = dialect

    async def _execute(self, prepared: Prepared, params: Mapping[str, Any]) -> Any:
        assert self.session is not None
        return await self.session.execute(prepared.statement(self._dialect), dict(params))

    async def fetch(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Row]:
        return (await self._execute(prepared, params)).mappings().all()  # type: ignore[no-any-return]

    async def fetchrow(self, prepared: Prepared, params: Mapping[str, Any]) -> Row | None:
        return (await self._execute(prepared, params)).mappings().first()  # type: ignore[no-any-return]


@asynccontextmanager
async def direct(db: Database, *, write: bool) -> AsyncIterator[Direct]:
    """A `Direct` connection for one request (see the module's docstring)."""
    dialect = db.engine.dialect
    if dialect.name == POSTGRESQL:
        pool = await db.direct_pool()
        connection = await pool.acquire(timeout=db.settings.database_timeout_seconds)
        lent = _AsyncpgDirect(connection, dialect)
        try:
            yield lent
        finally:
            if lent.broken:
                connection.terminate()  # the pool replaces it
            await pool.release(connection)
        return
    async with db.session_scope(write=write) as session:
        yield _SessionDirect(session, dialect.name)


def on_session(session: AsyncSession) -> Direct:
    """The request's session as a `Direct` connection (for routes that have a session)."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("the session is bound to no engine")
    return _SessionDirect(session, bind.dialect.name)
