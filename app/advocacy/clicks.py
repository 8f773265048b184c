"""Following a short link `/s/{code}`: where it leads, and counting the click.

It leads only to its message's `share_url` (with the campaign parameters), never to a URL the
request names: the code is looked up and the target comes from the database. A click counts
once per visitor and hour: the visitor is `HMAC(day key, share id | client address | user
agent | hour)`, truncated to 16 bytes. The day key is random, made by the first click of the
day; the next day's first click deletes it and the hashes of earlier hours (the count is kept on
the share), so no stored hash outlives its day; the address and the user agent are never stored. HEAD requests and link-preview bots
(which fetch a link to draw its card) are answered the same but not counted.
"""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.advocacy import rules
from app.advocacy.models import MessageSharing, Share, ShareClick, ShareClickKey
from app.core import sql
from app.core.database import utcnow

_INSERT_CLICK = sql.insert_ignore(ShareClick.__table__)
_INSERT_KEY = sql.insert_ignore(ShareClickKey.__table__)
VISITOR_BYTES = 16


@dataclass(frozen=True)
class Visitor:
    """What identifies a visitor for one hour; held in memory for the request only."""

    address: str
    user_agent: str


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


async def _day_key(session: AsyncSession, now: datetime) -> bytes:
    """Today's key, made by the first click of the day (replicas agree through the primary
    key); older keys are deleted then, which makes yesterday's hashes unmatchable."""
    today = now.date()
    made = await session.execute(
        _INSERT_KEY[session]
        .values(day=today, key=secrets.token_bytes(32))
        .returning(ShareClickKey.__table__.c.day)
    )
    if made.first() is not None:
        # yesterday's key goes, and with it every hash of an earlier hour: they are counted
        await session.execute(delete(ShareClickKey).where(ShareClickKey.day < today))
        await session.execute(delete(ShareClick).where(ShareClick.clicked_at < _hour(now)))
    key = await session.execute(select(ShareClickKey.key).where(ShareClickKey.day == today))
    return bytes(key.scalar_one())


def visitor_hash(key: bytes, share_id: uuid.UUID, visitor: Visitor, hour: datetime) -> bytes:
    parts = (share_id.hex, visitor.address, visitor.user_agent, hour.isoformat())
    return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).digest()[:VISITOR_BYTES]


@dataclass(frozen=True)
class Followed:
    target: str
    counted: bool


async def follow(
    session: AsyncSession,
    *,
    code: str,
    visitor: Visitor | None,
    now: datetime | None = None,
) -> Followed | None:
    """Where `code` leads (None for an unknown code or a message no longer shareable),
    counting a click for `visitor` (None: a HEAD or a bot, not counted)."""
    if not rules.CODE.fullmatch(code):
        return None
    row = (
        await session.execute(
            select(Share.id, Share.network, Share.message_id, MessageSharing.share_url)
            .join(MessageSharing, MessageSharing.message_id == Share.message_id)
            .where(Share.code == code, MessageSharing.share_url.is_not(None))
        )
    ).one_or_none()
    if row is None:
        return None
    target = rules.redirect_target(row.share_url, network=row.network, message_id=row.message_id)
    if visitor is None:
        return Followed(target, counted=False)
    now = now or utcnow()
    hour = _hour(now)
    key = await _day_key(session, now)
    inserted = await session.execute(
        _INSERT_CLICK[session]
        .values(share_id=row.id, visitor=visitor_hash(key, row.id, visitor, hour), clicked_at=hour)
        .returning(ShareClick.__table__.c.share_id)
    )
    counted = inserted.first() is not None
    if counted:
        await session.execute(
            update(Share).where(Share.id == row.id).values(clicks=Share.clicks + 1)
        )
    return Followed(target, counted=counted)
