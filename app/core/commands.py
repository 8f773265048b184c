"""What every `brandcast` command shares.

- `App`: a Typer whose help reads cleanly (flags without a `<bool>` type).
- One place that turns a failure into one line on stderr saying what to do, with a non-zero
  exit: `explain()`, called by the root group for any exception a command lets through;
  `--debug` (or `BRANDCAST_DEBUG=1`) shows the traceback instead.
- `run_command()`: one unit of work on the configured database, opened only when it exists
  and is migrated (a read never creates an empty SQLite file).
"""

import os
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from typer.core import TyperCommand, TyperGroup, TyperOption

from app.core import db_errors, migrations
from app.core.config import Settings, SettingsError, get_settings
from app.core.database import Database, redacted_url
from app.core.errors import AppError

DEBUG_ENV = "BRANDCAST_DEBUG"
DEBUG_HINT = "run again with --debug (or BRANDCAST_DEBUG=1) for the traceback"
MIGRATE_HINT = "run `brandcast migrate`"
_UNDEFINED_TABLE = "42P01"
T = TypeVar("T")


class CommandFailed(Exception):
    """A failure a command reports as is: one line, and the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class DatabaseNotReady(CommandFailed):
    """No database file yet, or a schema this version cannot use."""


# --- help without `<bool>` ------------------------------------------------------------------


class _CleanHelp:
    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            # a flag takes no value, so its help shows no type (Typer prints `<bool>`)
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
        return params


class Command(_CleanHelp, TyperCommand):
    pass


class Group(_CleanHelp, TyperGroup):
    pass


class RootGroup(Group):
    """The `brandcast` group: every command runs inside it, so its failures end here."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors and exits, which the framework reports itself
        except Exception as exc:
            if ctx.params.get("debug") or _truthy(os.environ.get(DEBUG_ENV)):
                raise
            try:
                code, message = explain(exc)
            except Exception:  # the explanation must not fail in turn
                code, message = 1, f"unexpected error: {type(exc).__name__}; {DEBUG_HINT}"
            sys.stderr.write(f"brandcast: {redact(message)}\n")
            raise typer.Exit(code) from None


class App(typer.Typer):
    """`typer.Typer` with the classes above; locals never printed in a traceback."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("pretty_exceptions_show_locals", False)  # settings hold secrets
        kwargs.setdefault("rich_markup_mode", "markdown")  # paragraphs rewrap to the terminal
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


# --- what a failure means -------------------------------------------------------------------


def explain(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line that tell the user what went wrong and what to do."""
    if isinstance(exc, SettingsError):
        return 2, str(exc)
    if isinstance(exc, CommandFailed):
        return exc.code, str(exc)
    if isinstance(exc, AppError):
        return 1, exc.detail
    if isinstance(exc, migrations.MigrationsNotFound):
        return 1, str(exc)
    database = _explain_database(exc)
    if database is not None:
        return 1, database
    return 1, f"unexpected error: {_first_line(exc)}; {DEBUG_HINT}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (a DBAPI error's `orig`) and what caused it."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)


def _sqlstate(exc: BaseException) -> str:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return code if isinstance(code, str) else ""


def _where() -> tuple[bool, str, Any]:
    """Whether the database is SQLite, where it is (path, or host:port) and its URL."""
    url = make_url(get_settings().database_url)
    if url.get_backend_name() == "sqlite":
        return True, str(Path(url.database or "").resolve()), url
    return False, f"{url.host or 'localhost'}:{url.port or 5432}", url


def _explain_database(exc: BaseException) -> str | None:
    chain = list(_chain(exc))
    if not any(isinstance(e, db_errors.DATABASE_ERRORS) for e in chain):
        return None
    sqlite, where, url = _where()
    states = [_sqlstate(e) for e in chain]
    texts = [str(e) for e in chain]
    if _UNDEFINED_TABLE in states or any("no such table" in t for t in texts):
        return f"the database {redacted_url(str(url))} is not migrated: {MIGRATE_HINT}"
    if sqlite and any("unable to open database file" in t for t in texts):
        return f"cannot open the SQLite database {where}: does its folder exist, and may it be written?"
    if any(s.startswith("28") for s in states):
        return (
            f"the database at {where} refused user {url.username!r}: check the user and "
            "password in BRANDCAST_DATABASE_URL"
        )
    if "3D000" in states:
        return (
            f"there is no database {url.database!r} at {where}: create it, or fix "
            "BRANDCAST_DATABASE_URL"
        )
    if any(db_errors.is_unavailable(e) or isinstance(e, socket.gaierror) for e in chain):
        return (
            f"cannot reach the database at {where} ({_reason(chain)}): is it running, and is "
            "BRANDCAST_DATABASE_URL right?"
        )
    return f"the database failed ({_first_line(exc)}); {DEBUG_HINT}"


def _reason(chain: Sequence[BaseException]) -> str:
    for exc in chain:
        if isinstance(exc, socket.gaierror):
            return "unknown host"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, TimeoutError | sa_exc.TimeoutError):
            return "timed out"
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror.lower()
    return type(chain[-1]).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def redact(text: str) -> str:
    """`text` with every secret of the settings replaced by `***` (belt and braces: no
    message is built from a secret, but an exception's text may quote one)."""
    try:
        settings = get_settings()
    except SettingsError:
        return text
    for secret in _secrets(settings):
        text = text.replace(secret, "***")
    return text


def _secrets(settings: Settings) -> list[str]:
    found = [settings.jwt_secret or ""]
    for url in (settings.database_url, settings.redis_url):
        if url:
            try:
                found.append(make_url(url).password or "")
            except (sa_exc.ArgumentError, ValueError):
                continue
    return [s for s in found if len(s) >= 4]


# --- the database a command opens -----------------------------------------------------------


def check_database_file(settings: Settings, *, create: bool = False) -> None:
    """On SQLite, refuse a database file that does not exist (opening it would create it);
    with `create` (migrating), refuse only a folder that does not exist."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.query.get("mode") == "memory":
        return
    name = url.database or ""
    if name in ("", ":memory:") or name.startswith("file:"):
        return
    path = Path(name).resolve()
    if create and not path.parent.is_dir():
        raise DatabaseNotReady(
            f"cannot create the SQLite database {path}: the folder {path.parent} does not exist"
        )
    if not create and not path.exists():
        raise DatabaseNotReady(
            f"there is no database at {path}: {MIGRATE_HINT} to create it, or point "
            "BRANDCAST_DATABASE_URL at yours"
        )


async def check_migrated(db: Database) -> migrations.MigrationState:
    """The database's schema revision; `DatabaseNotReady` unless it is this version's newest."""
    state = await migrations.migration_state(db.engine)
    if state.at_head:
        return state
    where = redacted_url(db.settings.database_url)
    if state.current is not None and not state.known:
        raise DatabaseNotReady(
            f"the database {where} is {state.describe()}: use the brandcast version that "
            "migrated it"
        )
    raise DatabaseNotReady(f"the database {where} is {state.describe()}: {MIGRATE_HINT}")


async def with_database(
    work: Callable[[Database], Awaitable[T]], settings: Settings | None = None
) -> T:
    """`work` with a database that exists and is migrated, disposed of afterwards."""
    settings = settings or get_settings()
    check_database_file(settings)
    db = Database(settings)
    try:
        await check_migrated(db)
        return await work(db)
    finally:
        await db.dispose()


async def run_command(
    work: Callable[[AsyncSession], Awaitable[T]], settings: Settings | None = None
) -> T:
    """One unit of work in one transaction, on a database that exists and is migrated."""

    async def _in_transaction(db: Database) -> T:
        async with db.session_scope() as session:
            return await work(session)

    return await with_database(_in_transaction, settings)


async def database_state(settings: Settings) -> migrations.MigrationState:
    """The migration state of a database that exists and is migrated (else DatabaseNotReady)."""
    check_database_file(settings)
    db = Database(settings)
    try:
        return await check_migrated(db)
    finally:
        await db.dispose()
