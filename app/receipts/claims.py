"""Claiming rows to send under a lease: what deliveries and digests share (`sender.py`,
`digests.py`). A claim marks the rows `sending` under a new claim id until the lease ends;
results are recorded only where the claim id is still the claimer's, so a claimer that
died or was too slow changes nothing once another took the rows over."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import sql
from app.receipts.models import DeliveryState


def in_ids(session: AsyncSession, model: Any) -> Any:
    """`model.id` in the list bound as `ids`: one array parameter on PostgreSQL, so a batch
    of any size is the same prepared statement."""
    return sql.in_bound_list(sql.dialect_of(session), model.id, "ids", BigInteger())


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
