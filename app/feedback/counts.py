"""Per-message reaction counts, kept beside the reactions.

Counting a popular message's reactions (tens of thousands of rows) on every feed request does
not scale, so `message_reaction_counts` holds one row per (message, reaction) that
`move_reaction` changes in the same transaction as the reaction itself, and feeds read it with
`reaction_counts_column`: one correlated subquery folding at most five rows into a JSON object.

Concurrency: an increment is one `INSERT … ON CONFLICT DO UPDATE SET count = count + 1` and a
decrement one guarded `UPDATE`, each atomic on the count row; a replacement touches its two
rows in reaction order, so two opposite replacements (like → love, love → like) lock them in
the same order and cannot deadlock. A count never goes below zero (guard and check constraint).
"""

import uuid
from typing import Any

from sqlalchemy import JSON, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from app.core import sql
from app.feedback.models import MessageReactionCount, ReactionKind
from app.messages.models import Message

Counts = MessageReactionCount


class json_object_agg(GenericFunction[Any]):  # named as the SQL function
    """`json_object_agg(key, value)` of PostgreSQL; SQLite calls it `json_group_object`."""

    type = JSON()
    inherit_cache = True


@compiles(json_object_agg, "sqlite")
def _json_group_object(element: json_object_agg, compiler: Any, **kw: Any) -> str:
    return f"json_group_object({compiler.process(element.clauses, **kw)})"


def reaction_counts_column(message_id: Any = Message.id) -> Any:
    """Reactions to the message `message_id` names as a column: a JSON object such as
    `{"like": 3, "love": 1}` (kinds nobody gave may be missing or 0; null when none ever)."""
    return (
        select(json_object_agg(Counts.reaction, Counts.count))
        .where(Counts.message_id == message_id)
        .scalar_subquery()
    )


# the kinds' values, read once: iterating the enum (and reading `.value`) on every feed item
# cost 1,500 Python calls per feed page (bench/RESULTS.md)
_KINDS = tuple(kind.value for kind in ReactionKind)


def reaction_counts(value: dict[str, int] | None) -> dict[str, int]:
    """Every reaction kind with its count, and `total` (one reaction per employee), from a
    `reaction_counts_column` value."""
    given = value or {}
    counts = {kind: int(given.get(kind, 0)) for kind in _KINDS}
    return {"total": sum(counts.values()), **counts}


async def move_reaction(
    session: AsyncSession, *, message_id: uuid.UUID, old: str | None, new: str | None
) -> None:
    """Count one employee's reaction to a message moving from `old` to `new` (either may be
    None: a first reaction, a removal). Call it in the transaction that changed the reaction,
    as late as possible: the count rows stay locked until commit."""
    if old == new:
        return
    for reaction in sorted(r for r in (old, new) if r is not None):
        if reaction == new:
            await _increment(session, message_id, reaction)
        else:
            await _decrement(session, message_id, reaction)


async def _increment(session: AsyncSession, message_id: uuid.UUID, reaction: str) -> None:
    await session.execute(
        sql.upsert(
            session,
            Counts,
            {"message_id": message_id, "reaction": reaction, "count": 1},
            index_elements=[Counts.message_id, Counts.reaction],
            set_={"count": Counts.count + 1},
        )
    )


async def _decrement(session: AsyncSession, message_id: uuid.UUID, reaction: str) -> None:
    await session.execute(
        update(Counts)
        .where(Counts.message_id == message_id, Counts.reaction == reaction, Counts.count > 0)
        .values(count=Counts.count - 1)
    )
