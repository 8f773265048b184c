"""Recipients: who was asked to read (and acknowledge) which message."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


async def materialize_recipients(
    session: AsyncSession, *, message_id: uuid.UUID, published_at: datetime
) -> int:
    """Resolve the message's audiences into recipient rows; return how many there are."""
    return 0


async def enroll_late_joiners(session: AsyncSession, *, employee_ids: Sequence[uuid.UUID]) -> int:
    """Make changed employees recipients of published messages they now match."""
    return 0
