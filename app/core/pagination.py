"""Cursor pagination: one parameter dependency, one page type, one keyset helper."""

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.core.errors import ValidationFailed, field_error

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageParams:
    limit: int
    after: tuple[Any, ...] | None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "u" in value:
            return uuid.UUID(value["u"])
        raise ValueError("unknown cursor value")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError("unknown cursor value")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        if len(cursor) > 1024:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or not values:
            raise ValueError("not a list")
        return tuple(_decode_value(v) for v in values)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            [field_error("query.cursor", "The cursor is not valid; use a `next_cursor` value.")]
        ) from exc


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=1024, description="The `next_cursor` of the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


Pagination = Annotated[PageParams, Depends(page_params)]


_INT64 = 2**63


def _fits(value: Any, expected: type) -> bool:
    """Whether a decoded cursor value has the type of its sort column (a tampered or foreign
    cursor must be a 422, not a comparison the database refuses or answers oddly)."""
    if value is None or isinstance(value, bool) is not (expected is bool):
        return False
    if expected is int:
        return isinstance(value, int) and -_INT64 <= value < _INT64
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def _python_type(key: ColumnElement[Any]) -> type | None:
    try:
        return key.type.python_type
    except NotImplementedError:
        return None


def cursor_after(params: PageParams, types: Sequence[type | None]) -> tuple[Any, ...] | None:
    """The values a page starts after, checked against the sort keys' Python `types` (None:
    any value but null); None for the first page, 422 for a cursor of another list."""
    if params.after is None:
        return None
    if len(params.after) != len(types) or not all(
        (value is not None) if expected is None else _fits(value, expected)
        for value, expected in zip(params.after, types, strict=True)
    ):
        raise ValidationFailed(
            [field_error("query.cursor", "The cursor does not belong to this list.")]
        )
    return params.after


def keyset(
    stmt: Select[Any],
    params: PageParams,
    keys: Sequence[ColumnElement[Any]],
    *,
    descending: bool = True,
) -> Select[Any]:
    """Order by `keys` (the last one unique) and start after the cursor; fetch one extra row."""
    after = cursor_after(params, [_python_type(k) for k in keys])
    if after is not None:
        stmt = stmt.where(
            tuple_(*keys) < tuple_(*after) if descending else tuple_(*keys) > tuple_(*after)
        )
    order = [k.desc() for k in keys] if descending else [k.asc() for k in keys]
    return stmt.order_by(*order).limit(params.limit + 1)


def make_page(
    rows: Sequence[Any],
    params: PageParams,
    cursor_of: Callable[[Any], Sequence[Any]],
    to_item: Callable[[Any], T] | None = None,
) -> Page[T]:
    """Turn `limit + 1` fetched rows into a page and the cursor of its last item."""
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    items = [to_item(r) for r in rows] if to_item else list(rows)
    next_cursor = encode_cursor(cursor_of(rows[-1])) if has_more and rows else None
    return Page[Any](items=items, next_cursor=next_cursor)


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    params: PageParams,
    keys: Sequence[ColumnElement[Any]],
    to_item: Callable[[Any], T],
    *,
    entities: bool = False,
    cursor_of: Callable[[Any], Sequence[Any]] | None = None,
) -> Page[T]:
    """One page of `stmt` ordered by `keys`, newest first; `entities` for a select of one
    model. The cursor is each key's attribute of the last row unless `cursor_of` says."""
    result = await session.execute(keyset(stmt, params, keys))
    rows = result.scalars().all() if entities else result.all()
    names = [str(key.key) for key in keys]
    return make_page(
        rows, params, cursor_of or (lambda row: [getattr(row, n) for n in names]), to_item
    )
