"""Everything SQL that SQLite and PostgreSQL spell differently, written once.

Areas never ask which database they run on: they call these helpers with the session (or its
dialect name, for statements built once per dialect) and get the right SQL for it.
"""

import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import (
    ARRAY,
    String,
    Table,
    any_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

POSTGRESQL = "postgresql"
SQLITE = "sqlite"
DIALECTS = (POSTGRESQL, SQLITE)
# the INSERT of each database, which can take ON CONFLICT
Insert = postgresql.Insert | sqlite.Insert
_INSERTS: dict[str, Callable[[Any], Insert]] = {
    POSTGRESQL: postgresql.insert,
    SQLITE: sqlite.insert,
}

T = TypeVar("T")


def dialect_of(session: AsyncSession) -> str:
    """`"postgresql"` or `"sqlite"`: the database this session talks to."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("the session is bound to no engine")
    return bind.dialect.name


class PerDialect(Generic[T]):
    """A statement built once for each database, picked with `statement[session]`.

    Hot paths build their statements at import time: building them per call (and SQLAlchemy's
    cache-key walk over a fresh statement) cost more than the database work (bench/RESULTS.md).
    """

    __slots__ = ("_built",)

    def __init__(self, build: Callable[[str], T]) -> None:
        self._built = {name: build(name) for name in DIALECTS}

    def __getitem__(self, session: AsyncSession | str) -> T:
        name = session if isinstance(session, str) else dialect_of(session)
        return self._built[name]


def insert(session: AsyncSession | str, table: Any) -> Insert:
    """An `INSERT` that can take `ON CONFLICT … DO NOTHING | DO UPDATE` on this database."""
    name = session if isinstance(session, str) else dialect_of(session)
    return _INSERTS[name](table)


def insert_ignore(
    table: Table | Any,
    index_elements: Sequence[str] | None = None,
    *,
    returning: Sequence[Any] = (),
) -> PerDialect[Insert]:
    """`INSERT … ON CONFLICT [(index_elements)] DO NOTHING [RETURNING …]`, built once per
    database (an empty result then means the row was there already)."""

    def build(name: str) -> Insert:
        stmt: Insert = _INSERTS[name](table).on_conflict_do_nothing(index_elements=index_elements)
        # RETURNING keeps the dialect's Insert class; the stubs type it as a generic one
        return stmt.returning(*returning) if returning else stmt  # type: ignore[return-value]

    return PerDialect(build)


def upsert(
    session: AsyncSession,
    table: Any,
    values: dict[str, Any],
    *,
    index_elements: Sequence[Any],
    set_: dict[str, Any],
    where: ColumnElement[bool] | None = None,
) -> Insert:
    """`INSERT values ON CONFLICT (index_elements) DO UPDATE SET set_ [WHERE where]`."""
    stmt: Insert = (
        insert(session, table)
        .values(**values)
        .on_conflict_do_update(index_elements=index_elements, set_=set_, where=where)
    )
    return stmt


def count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet `condition`: `count(*) FILTER (WHERE …)`, 0 for none."""
    return func.count().filter(condition)


# --- JSON ------------------------------------------------------------------------------------


def json_array_contains(dialect: str, column: Any, value: str) -> ColumnElement[bool]:
    """`column` (a JSON array) holds `value`: JSONB `@>` on PostgreSQL, `json_each` on SQLite."""
    return json_array_contains_any(dialect, column, [value])


def json_array_contains_any(
    dialect: str, column: Any, values: Sequence[str]
) -> ColumnElement[bool]:
    """`column` (a JSON array) holds at least one of `values`."""
    if dialect == POSTGRESQL:
        array = type_coerce(column, JSONB)
        return or_(*(array.contains([value]) for value in values))
    items = func.json_each(column).table_valued("value")
    return exists().select_from(items).where(items.c.value.in_(list(values)))


def json_array_elements(dialect: str, document: Any) -> Any:
    """The elements of a JSON array (a column or a bound parameter) as text rows: a
    table-valued function with one column, `value`."""
    if dialect == POSTGRESQL:
        return func.jsonb_array_elements_text(document).table_valued("value").render_derived()
    return func.json_each(document).table_valued("value")


def json_object_entries(dialect: str, document: Any, *, name: str) -> Any:
    """The members of a JSON object as rows `(key, value)`: a table-valued function."""
    fn = func.jsonb_each if dialect == POSTGRESQL else func.json_each
    return fn(document).table_valued("key", "value").alias(name)


def json_object_agg(dialect: str, key: Any, value: Any) -> ColumnElement[Any]:
    """Aggregate `(key, value)` rows (from `json_object_entries`) back into one object."""
    if dialect == POSTGRESQL:
        return func.jsonb_object_agg(key, value)
    return func.json_group_object(key, func.json(value))


JsonKind = Literal["string", "number", "boolean", "null"]
# what SQLite's json_type() answers for each kind (PostgreSQL's jsonb_typeof names them)
_SQLITE_JSON_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("text",),
    "number": ("integer", "real"),
    "boolean": ("true", "false"),
    "null": ("null",),
}


def json_member_is(dialect: str, document: Any, key: str, kind: JsonKind) -> ColumnElement[bool]:
    """The member `key` of a JSON object column is of `kind` (`null`: absent or JSON null)."""
    if dialect == POSTGRESQL:
        json_type = func.coalesce(func.jsonb_typeof(document[key]), "null")
        return json_type == kind
    json_type = func.coalesce(func.json_type(document, f'$."{key}"'), "null")
    kinds = _SQLITE_JSON_TYPES[kind]
    return json_type == kinds[0] if len(kinds) == 1 else json_type.in_(kinds)


# --- text and lists --------------------------------------------------------------------------


def text_before(dialect: str, value: Any, separator: str) -> ColumnElement[str]:
    """The part of `value` before the first `separator` (all of it when there is none)."""
    if dialect == POSTGRESQL:
        return func.split_part(value, separator, 1)
    position = func.instr(value, separator)
    return case((position > 0, func.substr(value, 1, position - 1)), else_=value)


def in_bound_list(
    dialect: str, column: Any, name: str, item_type: Any = None
) -> ColumnElement[bool]:
    """`column` is in the list given at execution as the parameter `name` (statements built
    once): `= ANY(:name)` with one array (of `item_type`, text by default) on PostgreSQL, an
    expanding `IN` on SQLite."""
    if dialect == POSTGRESQL:
        array = ARRAY(item_type if item_type is not None else String())
        condition: ColumnElement[bool] = column == any_(bindparam(name, type_=array))
    else:
        condition = column.in_(bindparam(name, expanding=True))
    return condition


def in_values(dialect: str, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of `values`, bound as ONE parameter however many there are (bulk
    sync sends up to 10,000; the drivers allow 32,767 parameters in all)."""
    if dialect == POSTGRESQL:
        condition: ColumnElement[bool] = column == any_(
            bindparam(None, list(values), type_=ARRAY(String))
        )
        return condition
    each = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued("value")
    condition = column.in_(select(each.c.value))
    return condition


def in_few(dialect: str, column: Any, ids: Any) -> ColumnElement[bool]:
    """`column` is one of the few values the subquery `ids` selects, looked up by index:
    `= ANY(ARRAY(subquery))` on PostgreSQL, which runs the subquery first and probes an
    index on `column` with its values (a join or `IN` estimated by statistics may scan the
    whole table instead: a seq scan of 5.8 M recipient rows for 7 messages, measured); an
    `IN` subquery on SQLite, which looks each value up."""
    if dialect == POSTGRESQL:
        condition: ColumnElement[bool] = column == any_(func.array(ids.scalar_subquery()))
        return condition
    looked_up: ColumnElement[bool] = column.in_(ids)
    return looked_up


def not_in_values(dialect: str, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """`column` is none of `values`, bound as one parameter."""
    if dialect == POSTGRESQL:
        # NOT EXISTS plans as a hash anti-join; NOT IN over a large set would not.
        seen = (
            func.unnest(bindparam(None, list(values), type_=ARRAY(String)))
            .table_valued("value")
            .render_derived()
        )
        return ~exists().where(seen.c.value == column)
    # SQLite materializes an IN-subquery once, into a temporary index.
    each = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued("value")
    condition: ColumnElement[bool] = column.not_in(select(each.c.value))
    return condition


# --- transactions ----------------------------------------------------------------------------


async def try_advisory_lock(session: AsyncSession, key: int) -> bool:
    """Take a transaction-scoped lock named by `key`, without waiting: False when another
    transaction holds it (PostgreSQL). SQLite runs one writer at a time: always True."""
    if dialect_of(session) != POSTGRESQL:
        return True
    locked = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return bool(locked)


async def set_local(session: AsyncSession, **settings: str) -> None:
    """`SET LOCAL name = value` for this transaction (planner and memory settings PostgreSQL
    has and SQLite has not; nothing on SQLite). Names and values are code, never input."""
    if dialect_of(session) != POSTGRESQL:
        return
    for name, value in settings.items():
        await session.execute(text(f"SET LOCAL {name} = '{value}'"))


async def write_if_possible(session: AsyncSession, statement: Any) -> None:
    """Run a bookkeeping write that may be skipped (a `last_used_at`, say).

    On SQLite a read request's transaction cannot become a writer once another connection has
    committed since it began (SQLITE_BUSY_SNAPSHOT, no waiting): the write is then left for a
    later request rather than failing this one. PostgreSQL always runs it.
    """
    if dialect_of(session) != SQLITE:
        await session.execute(statement)
        return
    try:
        async with session.begin_nested():
            await session.execute(statement)
    except OperationalError:
        pass


# --- time ------------------------------------------------------------------------------------


def seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    """`later - earlier` in seconds (a number) for two timestamp columns."""
    if dialect == POSTGRESQL:
        return func.extract("epoch", later - earlier)
    seconds: ColumnElement[Any] = (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return seconds
