"""Claiming rows to send under a lease: what deliveries and digests share (`sender.py`,
`digests.py`). A claim marks the rows `sending` under a new claim id until the lease ends;
results are recorded only where the claim id is still the claimer's, so a claimer that
died or was too slow changes nothing once another took the rows over."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core import sql
from app.receipts.models import DeliveryState


def in_ids(session: AsyncSession, model: Any) -> Any:
    """`model.id` in the list bound as `ids`: one array parameter on PostgreSQL, so a batch
    of any size is the same prepared statement."""
    return sql.in_bound_list(sql.dialect_of(session), model.id, "ids", BigInteger())


def batch_of(session: AsyncSession, model: Any, *where: Any) -> Any:
    """`model` narrowed to the rows `ids` (bound as `ids`) that also meet `where`, to select and
    join from: an alias of `model` over a `MATERIALIZED` CTE, so the rows are read by primary
    key before anything is joined to them. Joined directly to `messages`, the planner may reach
    a batch through its message instead (`message_id = …`, then the ids as a filter), reading
    every delivery of the message for each batch: it did so whenever the statistics had not
    caught up with a large publication (bench/RESULTS.md, "#18 sender at 100,000")."""
    rows = (
        select(model)
        .where(in_ids(session, model), *where)
        .cte(f"{model.__tablename__}_batch")
        .prefix_with("MATERIALIZED")
    )
    return aliased(model, rows)


async def mark_claimed(
    session: AsyncSession, model: Any, ids: list[int], *, lease_seconds: int, now: datetime
) -> uuid.UUID:
    """Claim the rows `ids` of `model` (a table with the claim columns) under a new claim id."""
    claim_id = uuid.uuid4()
    await session.execute(
        update(model)
        .where(in_ids(session, model))
        .values(
            state=DeliveryState.SENDING.value,
            attempts=model.attempts + 1,
            claimed_until=now + timedelta(seconds=lease_seconds),
            claim_id=claim_id,
            first_attempt_at=func.coalesce(model.first_attempt_at, now),
        ),
        {"ids": ids},
    )
    return claim_id
