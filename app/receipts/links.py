"""Tracked links: the one link of an e-mail, which marks its recipient read.

A token is `base64url(delivery id (8 bytes) | expiry (4 bytes, Unix seconds) | HMAC)`, the
HMAC-SHA256 (first 16 bytes) of the first twelve bytes under `BRANDCAST_LINK_SECRET`. It
names a delivery row and nothing else: no address, no name, no message id. A click marks
the recipient read (the first read is kept, with `read_channel = 'email'`) and is answered
with a redirect to where the intranet shows that message, and nowhere else.

The same token, with `/unsubscribe`, is the RFC 8058 one-click unsubscribe address of an
e-mail that asks for no acknowledgement.
"""

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core import sql
from app.core.config import Settings
from app.core.database import utcnow
from app.core.principal import Principal
from app.messages.models import Message
from app.receipts import rules
from app.receipts.models import Channel, Delivery, OptOut, Recipient

_PAYLOAD = struct.Struct(">QI")
_MAC_BYTES = 16
_CONTEXT = b"brandcast-link-v1:"
LINKS = Principal.system("tracked-link")
_INSERT_OPT_OUT = sql.insert_ignore(OptOut.__table__)


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(delivery_id: int, *, secret: str, expires_at: datetime) -> str:
    """The token of a delivery, valid until `expires_at`."""
    payload = _PAYLOAD.pack(delivery_id, int(expires_at.timestamp()))
    return base64.urlsafe_b64encode(payload + _mac(secret, payload)).rstrip(b"=").decode()


def verify(token: str, *, secret: str, now: datetime) -> int | None:
    """The delivery id a token names; None when it is malformed, forged or expired."""
    if len(token) > 64:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _PAYLOAD.size + _MAC_BYTES:
        return None
    payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    delivery_id, expires = _PAYLOAD.unpack(payload)
    if expires <= now.timestamp():
        return None
    return int(delivery_id)


def link_for(delivery_id: int, settings: Settings, *, now: datetime) -> str:
    """The tracked link of a delivery: `{BRANDCAST_PUBLIC_URL}/r/{token}`."""
    assert settings.link_secret and settings.public_url
    token = sign(
        delivery_id,
        secret=settings.link_secret,
        expires_at=now + timedelta(days=settings.link_ttl_days),
    )
    return f"{settings.public_url.rstrip('/')}/r/{token}"


def intranet_url(settings: Settings, message_id: uuid.UUID) -> str:
    assert settings.intranet_message_url
    return settings.intranet_message_url.replace("{message_id}", str(message_id))


@dataclass(frozen=True)
class Clicked:
    message_id: uuid.UUID
    employee_id: uuid.UUID


async def _email_delivery(session: AsyncSession, token: str, settings: Settings) -> Clicked | None:
    if not settings.link_secret:
        return None
    delivery_id = verify(token, secret=settings.link_secret, now=utcnow())
    if delivery_id is None:
        return None
    row = (
        await session.execute(
            select(Delivery.message_id, Delivery.employee_id)
            .join(Message, Message.id == Delivery.message_id)
            .where(
                Delivery.id == delivery_id,
                Delivery.channel == Channel.EMAIL,
                rules.reachable(),
            )
        )
    ).one_or_none()
    if row is None or row.employee_id is None:
        return None
    return Clicked(row.message_id, row.employee_id)


async def follow(
    session: AsyncSession, *, token: str, settings: Settings, count_read: bool
) -> str | None:
    """Where a tracked link leads (the intranet page of its message), having marked the
    recipient read when `count_read` (a GET; not a HEAD, which mail scanners send); None for
    a bad, forged or expired token."""
    clicked = await _email_delivery(session, token, settings)
    if clicked is None:
        return None
    if count_read:
        marked = (
            await session.execute(
                update(Recipient)
                .where(
                    Recipient.message_id == clicked.message_id,
                    Recipient.employee_id == clicked.employee_id,
                    Recipient.read_at.is_(None),
                )
                .values(read_at=utcnow(), read_channel=Channel.EMAIL.value)
                .returning(Recipient.message_id)
            )
        ).scalar_one_or_none()
        if marked is not None:
            await record(
                session,
                LINKS,
                action="message.read",
                entity_type="receipt",
                entity_id=clicked.message_id,
                details={"channel": Channel.EMAIL.value, "employee_id": str(clicked.employee_id)},
            )
    return intranet_url(settings, clicked.message_id)


async def unsubscribe(session: AsyncSession, *, token: str, settings: Settings) -> bool:
    """Record the recipient's opt-out of e-mails (RFC 8058 one-click); False for a bad token.
    Asking twice changes nothing."""
    clicked = await _email_delivery(session, token, settings)
    if clicked is None:
        return False
    insert = _INSERT_OPT_OUT[session].values(
        employee_id=clicked.employee_id,
        channel=Channel.EMAIL.value,
        message_id=clicked.message_id,
        created_at=utcnow(),
    )
    await session.execute(insert)
    await record(
        session,
        LINKS,
        action="delivery.unsubscribed",
        entity_type="employee",
        entity_id=clicked.employee_id,
        details={"channel": Channel.EMAIL.value, "message_id": str(clicked.message_id)},
    )
    return True
