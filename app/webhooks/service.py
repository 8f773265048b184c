"""Webhook subscriptions: CRUD, secret rotation, ping, and the delivery log."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed, field_error
from app.core.http import check_if_match, etag_for
from app.core.pagination import Page, PageParams, fetch_page
from app.core.principal import Principal
from app.webhooks import ssrf
from app.webhooks.models import DeliveryStatus, EventType, OutboxEvent, Webhook, WebhookDelivery
from app.webhooks.outbox import new_delivery, write_events
from app.webhooks.schemas import (
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from app.webhooks.signing import new_secret


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    webhook_id: uuid.UUID,
    details: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        session,
        principal,
        action=action,
        entity_type="webhook",
        entity_id=webhook_id,
        details=jsonable_encoder(details) if details else None,
    )


def legacy_signatures(webhook: Webhook, now: datetime) -> bool:
    """Whether a converted pre-0012 secret still signs (and so the old headers still go)."""
    previous_valid = (
        webhook.previous_secret_expires_at is not None and webhook.previous_secret_expires_at > now
    )
    return webhook.secret_is_legacy or (webhook.previous_secret_is_legacy and previous_valid)


def webhook_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(
        {**webhook.model_dump(), "legacy_signatures": legacy_signatures(webhook, utcnow())}
    )


def with_secret(webhook: Webhook) -> WebhookWithSecret:
    """The representation that shows the secret: only right after create and rotation."""
    return WebhookWithSecret(**webhook_out(webhook).model_dump(), secret=webhook.secret)


def etag_of(webhook: Webhook) -> str:
    return etag_for(webhook.id, webhook.revision)


async def check_url(url: str, settings: Settings) -> str:
    """422 unless the URL passes the SSRF guard now."""
    try:
        await ssrf.resolve(url, ssrf.allowed_hosts(settings.webhook_allowed_hosts))
    except ssrf.UnsafeURL as exc:
        raise ValidationFailed([field_error("body.url", str(exc))]) from exc
    return url


async def _load(session: AsyncSession, webhook_id: uuid.UUID, *, lock: bool = False) -> Webhook:
    stmt = select(Webhook).where(Webhook.id == webhook_id)
    if lock:
        stmt = stmt.with_for_update()
    webhook = (await session.execute(stmt)).scalar_one_or_none()
    if webhook is None:
        raise NotFound("No webhook with this id.")
    return webhook


async def create_webhook(
    session: AsyncSession, principal: Principal, *, data: WebhookCreate, settings: Settings
) -> Webhook:
    await check_url(data.url, settings)
    now = utcnow()
    webhook = Webhook(
        url=data.url,
        events=data.events,
        active=data.active,
        description=data.description,
        secret=new_secret(),
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.flush()
    await _audit(
        session,
        principal,
        "webhook.created",
        webhook.id,
        {"url": webhook.url, "events": webhook.events, "active": webhook.active},
    )
    return webhook


async def get_webhook(
    session: AsyncSession, _principal: Principal, *, webhook_id: uuid.UUID
) -> Webhook:
    return await _load(session, webhook_id)


async def list_webhooks(
    session: AsyncSession, _principal: Principal, *, page: PageParams
) -> Page[WebhookOut]:
    keys = [Webhook.created_at, Webhook.id]
    return await fetch_page(session, select(Webhook), page, keys, webhook_out, entities=True)


async def update_webhook(
    session: AsyncSession,
    principal: Principal,
    *,
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    if_match: str | None,
    settings: Settings,
) -> Webhook:
    webhook = await _load(session, webhook_id, lock=True)
    check_if_match(if_match, etag_of(webhook))
    changes = data.model_dump(exclude_unset=True)
    if "url" in changes and changes["url"] != webhook.url:
        await check_url(changes["url"], settings)
    changed = {k: v for k, v in changes.items() if getattr(webhook, k) != v}
    if not changed:
        return webhook
    for field, value in changed.items():
        setattr(webhook, field, value)
    if changed.get("active") is True:
        # switched back on by a person: the dispatcher's verdict no longer stands
        webhook.disabled_at = webhook.disabled_reason = webhook.failing_since = None
    webhook.revision += 1
    webhook.updated_at = utcnow()
    await session.flush()
    await _audit(
        session,
        principal,
        "webhook.updated",
        webhook.id,
        {
            "changed": sorted(changed),
            **{k: changed[k] for k in ("url", "events", "active") if k in changed},
        },
    )
    return webhook


async def delete_webhook(
    session: AsyncSession, principal: Principal, *, webhook_id: uuid.UUID, if_match: str | None
) -> None:
    """Delete the subscription and its delivery log; undelivered events are dropped for it."""
    webhook = await _load(session, webhook_id, lock=True)
    check_if_match(if_match, etag_of(webhook))
    await session.delete(webhook)
    await session.flush()
    await _audit(
        session,
        principal,
        "webhook.deleted",
        webhook_id,
        {"url": webhook.url},
    )


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    *,
    webhook_id: uuid.UUID,
    if_match: str | None,
    settings: Settings,
) -> Webhook:
    """New secret now; the current one keeps signing (second signature) during the overlap."""
    webhook = await _load(session, webhook_id, lock=True)
    check_if_match(if_match, etag_of(webhook))
    now = utcnow()
    overlap = timedelta(hours=settings.webhook_secret_overlap_hours)
    webhook.previous_secret = webhook.secret if overlap else None
    webhook.previous_secret_is_legacy = webhook.secret_is_legacy if overlap else False
    webhook.previous_secret_expires_at = now + overlap if overlap else None
    webhook.secret = new_secret()
    webhook.secret_is_legacy = False
    webhook.revision += 1
    webhook.updated_at = now
    await session.flush()
    await _audit(
        session,
        principal,
        "webhook.secret_rotated",
        webhook.id,
        {"previous_secret_expires_at": webhook.previous_secret_expires_at},
    )
    return webhook


def _delivery_out(row) -> DeliveryOut:
    delivery, event_type = row
    out = DeliveryOut.model_validate(
        {**delivery.model_dump(), "event_type": event_type}, from_attributes=False
    )
    if delivery.status != DeliveryStatus.PENDING:
        out.next_attempt_at = None
    return out


async def _delivery(session: AsyncSession, delivery_id: uuid.UUID) -> DeliveryOut:
    row = (
        await session.execute(
            select(WebhookDelivery, OutboxEvent.type)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).one()
    return _delivery_out(row)


async def ping(
    session: AsyncSession, principal: Principal, *, webhook_id: uuid.UUID
) -> DeliveryOut:
    """Queue a `ping` event for this webhook alone."""
    webhook = await _load(session, webhook_id)
    if not webhook.active:
        raise Conflict("This webhook is not active; activate it before pinging it.")
    (event_id,), (delivery_id,) = await write_events(
        session,
        type=EventType.PING,
        data=[{"webhook_id": webhook.id}],
        ordering_key=None,
        webhook_ids=[webhook.id],
    )
    await _audit(
        session,
        principal,
        "webhook.pinged",
        webhook.id,
        {"event_id": event_id, "delivery_id": delivery_id},
    )
    return await _delivery(session, delivery_id)


async def list_deliveries(
    session: AsyncSession,
    _principal: Principal,
    *,
    webhook_id: uuid.UUID,
    page: PageParams,
    status: DeliveryStatus | None = None,
) -> Page[DeliveryOut]:
    await _load(session, webhook_id)
    stmt = (
        select(WebhookDelivery, OutboxEvent.type)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    return await fetch_page(
        session,
        stmt,
        page,
        [WebhookDelivery.created_at, WebhookDelivery.id],
        _delivery_out,
        cursor_of=lambda r: (r[0].created_at, r[0].id),
    )


async def redeliver(
    session: AsyncSession,
    principal: Principal,
    *,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> DeliveryOut:
    """Send the delivery's event again, as a new delivery with a fresh retry window."""
    webhook = await _load(session, webhook_id)
    original = (
        await session.execute(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
            )
        )
    ).scalar_one_or_none()
    if original is None:
        raise NotFound("No delivery with this id for this webhook.")
    if not webhook.active:
        raise Conflict("This webhook is not active; activate it before redelivering.")
    in_progress = (DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERING.value)
    if original.status in in_progress:
        raise Conflict("This delivery is still being attempted.")
    duplicate = await session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.event_id == original.event_id,
            WebhookDelivery.status.in_(in_progress),
        )
    )
    if duplicate is not None:
        raise Conflict(f"A redelivery of this event is already queued ({duplicate}).")
    new_id = uuid.uuid4()
    session.add(
        WebhookDelivery(
            **new_delivery(
                delivery_id=new_id,
                webhook_id=webhook_id,
                event_id=original.event_id,
                event_seq=original.event_seq,
                ordering_key=original.ordering_key,
                now=utcnow(),
            )
        )
    )
    await session.flush()
    await _audit(
        session,
        principal,
        "webhook.delivery_redelivered",
        webhook_id,
        {"event_id": original.event_id, "delivery_id": new_id, "of": delivery_id},
    )
    return await _delivery(session, new_id)
