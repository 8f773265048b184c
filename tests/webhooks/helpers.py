"""What several webhook tests look at: the delivery rows, and the pre-0012 receiver's check."""

import hashlib
import hmac
import time
import uuid

from sqlalchemy import select

from app.webhooks.models import WebhookDelivery


async def deliveries(db, webhook_id: str | uuid.UUID) -> list[WebhookDelivery]:
    async with db() as s:
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == uuid.UUID(str(webhook_id)))
            .order_by(WebhookDelivery.event_seq, WebhookDelivery.created_at)
        )
        return list((await s.execute(stmt)).scalars().all())


def legacy_verified(received, secret: str, tolerance_seconds: int = 300) -> bool:
    """The check receivers ran before 0012 (the old `brandcast.webhooks.verify_signature`):
    hex HMAC-SHA256 keyed with the whole secret string over `"<timestamp>.<body>"`, any of the
    comma-separated `v1=` values in `Brandcast-Signature`."""
    h = received.headers
    timestamp, header = h.get("brandcast-timestamp"), h.get("brandcast-signature")
    if timestamp is None or header is None:
        return False
    if abs(time.time() - int(timestamp)) > tolerance_seconds:
        return False
    message = timestamp.encode() + b"." + received.body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    matched = False
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1" and hmac.compare_digest(value.strip(), expected):
            matched = True
    return matched
