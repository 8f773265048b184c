"""The outbox dispatcher: claims due deliveries, POSTs them, records what happened.

One pass (`dispatch_once`):
1. A short claim transaction marks up to `webhook_batch_size` due deliveries `delivering` with a
   lease (`locked_until`); on PostgreSQL the rows are picked with `FOR UPDATE SKIP LOCKED`, so
   dispatchers in several replicas split the work. A worker that dies mid-pass leaves its
   claims to come back when the lease runs out. A delivery is due only when no earlier event
   with the same ordering key (the message) is still undelivered for the same webhook; the
   deliveries queued behind a due one are claimed with it, as a chain.
2. Outside any transaction, chains are sent concurrently (at most `webhook_max_concurrency`
   requests at once), each chain one delivery after the other and stopping at its first
   failure (the rest is given back unattempted). Each request goes out after the SSRF guard
   checked where it goes, to the address that was checked, with a hard time limit and no
   redirects followed.
3. Each result is recorded in its own transaction, guarded by the attempt number so that a
   worker whose lease ran out cannot overwrite a newer attempt: delivered; or pending again
   after an exponential back-off with jitter; or `failed` when the next try would fall past
   `webhook_max_age_hours`. A webhook failing without a success for
   `webhook_disable_after_days` is switched off, with the reason on it and in the audit log.
"""

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, delete, exists, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.audit.service import record
from app.core import retry
from app.core.config import Settings
from app.core.database import Database, moving_clock, utcnow
from app.core.principal import Principal
from app.webhooks import ssrf
from app.webhooks.metrics import DELIVERIES, DELIVERY_LATENCY, OUTBOX_DEPTH
from app.webhooks.models import DeliveryStatus, OutboxEvent, Webhook, WebhookDelivery
from app.webhooks.signing import SigningSecret, delivery_headers

logger = logging.getLogger("brandcast.webhooks")

DISPATCHER = Principal.system("webhook-dispatcher")
PENDING = DeliveryStatus.PENDING.value
DELIVERING = DeliveryStatus.DELIVERING.value
MAX_BATCHES_PER_RUN = 10


@dataclass(frozen=True)
class Claim:
    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    attempt: int
    created_at: datetime
    url: str
    secrets: list[SigningSecret]
    event_id: uuid.UUID
    body: bytes


@dataclass(frozen=True)
class Outcome:
    ok: bool
    result: str  # delivered | retry (decided when recorded) | blocked
    response_status: int | None = None
    duration: float | None = None
    error: str | None = None


def envelope(event_id: uuid.UUID, type_: str, created_at: datetime, data: Any) -> bytes:
    """The JSON body receivers get; the signature covers exactly these bytes."""
    document = {
        "id": str(event_id),
        "type": type_,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def backoff(attempt: int, settings: Settings, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after `attempt` failures: exponential, capped, with jitter
    (between half and all of it) so that many failed deliveries do not retry in step."""
    return retry.backoff(
        attempt,
        base_seconds=settings.webhook_retry_base_seconds,
        max_delay_seconds=settings.webhook_retry_max_delay_seconds,
        rng=rng,
    )


def _due(now: datetime):
    blocker = aliased(WebhookDelivery)
    earlier_undelivered = (
        exists()
        .where(
            blocker.webhook_id == WebhookDelivery.webhook_id,
            blocker.ordering_key == WebhookDelivery.ordering_key,
            blocker.event_seq < WebhookDelivery.event_seq,
            blocker.status.in_([PENDING, DELIVERING]),
        )
        .correlate(WebhookDelivery)
    )
    ready = or_(
        and_(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now),
        # a claim whose worker died: its lease ran out
        and_(WebhookDelivery.status == DELIVERING, WebhookDelivery.locked_until <= now),
    )
    return and_(ready, ~earlier_undelivered)


async def claim(db: Database, settings: Settings, *, now: datetime) -> list[list[Claim]]:
    """Mark due deliveries `delivering` (with a lease); return them as chains to send in order.

    A chain is the due head of one (webhook, ordering key) plus the pending deliveries queued
    behind it, so that a burst of events for one message goes out in one pass, one by one.
    """
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    async with db.session_scope() as session:
        heads = (
            await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.webhook_id, WebhookDelivery.ordering_key)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(Webhook.active.is_(True), _due(now))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_seq)
                .limit(settings.webhook_batch_size)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
        ).all()
        if not heads:
            return []
        ids = [h.id for h in heads]
        keyed = {(h.webhook_id, h.ordering_key) for h in heads if h.ordering_key is not None}
        if keyed:
            # only the head could block these, and it is ours now
            ids += (
                (
                    await session.execute(
                        select(WebhookDelivery.id)
                        .where(
                            tuple_(WebhookDelivery.webhook_id, WebhookDelivery.ordering_key).in_(
                                list(keyed)
                            ),
                            WebhookDelivery.status == PENDING,
                            WebhookDelivery.next_attempt_at <= now,
                            WebhookDelivery.id.not_in(ids),
                        )
                        .order_by(WebhookDelivery.event_seq)
                        .limit(settings.webhook_batch_size)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(status=DELIVERING, attempt=WebhookDelivery.attempt + 1, locked_until=lease)
        )
        rows = (
            await session.execute(
                select(
                    WebhookDelivery.id,
                    WebhookDelivery.webhook_id,
                    WebhookDelivery.ordering_key,
                    WebhookDelivery.event_seq,
                    WebhookDelivery.attempt,
                    WebhookDelivery.created_at,
                    Webhook.url,
                    Webhook.secret,
                    Webhook.secret_is_legacy,
                    Webhook.previous_secret,
                    Webhook.previous_secret_is_legacy,
                    Webhook.previous_secret_expires_at,
                    OutboxEvent.id.label("event_id"),
                    OutboxEvent.type,
                    OutboxEvent.created_at.label("event_created_at"),
                    OutboxEvent.data,
                )
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.id.in_(ids))
                .order_by(WebhookDelivery.event_seq, WebhookDelivery.id)
            )
        ).all()
    chains: dict[tuple[uuid.UUID, object], list[Claim]] = {}
    for r in rows:
        secrets_ = [SigningSecret(r.secret, legacy=r.secret_is_legacy)]
        if (
            r.previous_secret
            and r.previous_secret_expires_at
            and r.previous_secret_expires_at > now
        ):
            secrets_.append(SigningSecret(r.previous_secret, legacy=r.previous_secret_is_legacy))
        key = (r.webhook_id, r.ordering_key if r.ordering_key is not None else r.id)
        chains.setdefault(key, []).append(
            Claim(
                delivery_id=r.id,
                webhook_id=r.webhook_id,
                attempt=r.attempt,
                created_at=r.created_at,
                url=r.url,
                secrets=secrets_,
                event_id=r.event_id,
                body=envelope(r.event_id, r.type, r.event_created_at, r.data),
            )
        )
    return list(chains.values())


async def release(db: Database, items: list[Claim]) -> None:
    """Give back claims that were not attempted (their chain stopped), uncounted."""
    if not items:
        return
    async with db.session_scope() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.status == DELIVERING,
                or_(
                    *(
                        and_(
                            WebhookDelivery.id == item.delivery_id,
                            WebhookDelivery.attempt == item.attempt,
                        )
                        for item in items
                    )
                ),
            )
            .values(status=PENDING, attempt=WebhookDelivery.attempt - 1, locked_until=None)
        )


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:500]


async def send(client: httpx.AsyncClient, item: Claim, settings: Settings) -> Outcome:
    """One attempt: check the target, sign, POST; never raises."""
    try:
        target = await ssrf.resolve(item.url, ssrf.allowed_hosts(settings.webhook_allowed_hosts))
    except ssrf.UnsafeURL as exc:
        return Outcome(ok=False, result="blocked", error=f"refused by the SSRF guard: {exc}"[:500])
    try:
        headers = delivery_headers(
            event_id=str(item.event_id),
            timestamp=int(time.time()),
            body=item.body,
            secrets_=item.secrets,
        )
    except ValueError as exc:  # a secret that is not `whsec_` + base64 (written by hand?)
        return Outcome(ok=False, result="retry", error=f"cannot sign: {exc}"[:500])
    extensions: dict[str, Any] = {}
    if target.address is not None:
        # connect to the address that was checked; name the host for HTTP and TLS
        headers["Host"] = target.url.netloc.decode("ascii")
        extensions["sni_hostname"] = target.host
    started = time.perf_counter()
    try:
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            request = client.build_request(
                "POST",
                target.pinned_url(),
                content=item.body,
                headers=headers,
                extensions=extensions,
            )
            response = await client.send(request, stream=True)
            await response.aclose()  # the status is all we need; never read a large body
    except TimeoutError:
        return Outcome(
            ok=False,
            result="retry",
            duration=time.perf_counter() - started,
            error=f"timed out after {settings.webhook_timeout_seconds:g}s",
        )
    except Exception as exc:  # connection, TLS or protocol trouble: the receiver's problem
        if not isinstance(exc, httpx.HTTPError):
            logger.warning("unexpected delivery error for %s", item.delivery_id, exc_info=True)
        return Outcome(
            ok=False, result="retry", duration=time.perf_counter() - started, error=_short(exc)
        )
    duration = time.perf_counter() - started
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(ok=True, result="delivered", response_status=status, duration=duration)
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    return Outcome(ok=False, result="retry", response_status=status, duration=duration, error=error)


async def _record(
    session: AsyncSession, item: Claim, outcome: Outcome, *, at: datetime, settings: Settings
) -> str:
    """Store one attempt's result; return the metrics result label."""
    mine = and_(
        WebhookDelivery.id == item.delivery_id,
        WebhookDelivery.attempt == item.attempt,
        WebhookDelivery.status == DELIVERING,
    )
    measured = {
        "response_status": outcome.response_status,
        "duration_ms": round(outcome.duration * 1000) if outcome.duration is not None else None,
        "locked_until": None,
        "last_attempt_at": at,
    }
    if outcome.ok:
        await session.execute(
            update(WebhookDelivery)
            .where(mine)
            .values(status=DeliveryStatus.DELIVERED.value, delivered_at=at, error=None, **measured)
        )
        await session.execute(
            update(Webhook)
            .where(Webhook.id == item.webhook_id, Webhook.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return "delivered"

    delay = timedelta(seconds=backoff(item.attempt, settings))
    give_up_at = item.created_at + timedelta(hours=settings.webhook_max_age_hours)
    if at + delay > give_up_at:
        result = "failed"
        values = {"status": DeliveryStatus.FAILED.value, "error": _gave_up(item, outcome)}
    else:
        result = outcome.result
        values = {"status": PENDING, "next_attempt_at": at + delay, "error": outcome.error}
    await session.execute(update(WebhookDelivery).where(mine).values(**values, **measured))
    await session.execute(
        update(Webhook)
        .where(Webhook.id == item.webhook_id, Webhook.failing_since.is_(None))
        .values(failing_since=at)
    )
    cutoff = at - timedelta(days=settings.webhook_disable_after_days)
    reason = (
        f"disabled by the dispatcher: every delivery failed for "
        f"{settings.webhook_disable_after_days:g} days (last error: {outcome.error})"
    )[:500]
    disabled = (
        await session.execute(
            update(Webhook)
            .where(
                Webhook.id == item.webhook_id,
                Webhook.active.is_(True),
                Webhook.failing_since <= cutoff,
            )
            .values(
                active=False,
                disabled_at=at,
                disabled_reason=reason,
                revision=Webhook.revision + 1,
                updated_at=at,
            )
            .returning(Webhook.id)
        )
    ).scalar_one_or_none()
    if disabled is not None:
        logger.warning("webhook %s disabled: %s", item.webhook_id, reason)
        await record(
            session,
            DISPATCHER,
            action="webhook.disabled",
            entity_type="webhook",
            entity_id=item.webhook_id,
            details={"reason": reason},
        )
    return result


def _gave_up(item: Claim, outcome: Outcome) -> str:
    return f"gave up after {item.attempt} attempt(s): {outcome.error}"[:500]


async def dispatch_once(db: Database, settings: Settings, *, now: datetime | None = None) -> int:
    """One pass: claim due deliveries, send them, record the results; return how many were
    attempted. `now` stands in for the clock (tests); time still advances from it."""
    start = now or utcnow()
    clock = moving_clock(start)
    chains = await claim(db, settings, now=start)
    if not chains:
        return 0
    semaphore = asyncio.Semaphore(settings.webhook_max_concurrency)
    # stop a long chain well before its lease runs out; the rest goes in the next pass
    budget = settings.webhook_lease_seconds / 2
    attempted = 0

    async def _attempt(client: httpx.AsyncClient, item: Claim) -> bool:
        nonlocal attempted
        async with semaphore:
            outcome = await send(client, item, settings)
        attempted += 1
        webhook = str(item.webhook_id)
        if outcome.duration is not None:
            DELIVERY_LATENCY.labels(webhook=webhook).observe(outcome.duration)
        try:
            async with db.session_scope() as session:
                result = await _record(session, item, outcome, at=clock(), settings=settings)
        except Exception:
            # the lease runs out and the delivery is tried again: at least once
            logger.exception("could not record delivery %s", item.delivery_id)
            return False
        DELIVERIES.labels(webhook=webhook, result=result).inc()
        return outcome.ok

    async def _chain(client: httpx.AsyncClient, chain: list[Claim]) -> None:
        for i, item in enumerate(chain):
            if i and (clock() - start).total_seconds() > budget:
                await release(db, chain[i:])
                return
            if not await _attempt(client, item):
                await release(db, chain[i + 1 :])
                return

    async with httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: the SSRF guard decides the route
        timeout=settings.webhook_timeout_seconds,
        limits=httpx.Limits(max_connections=settings.webhook_max_concurrency),
    ) as client:
        await asyncio.gather(*(_chain(client, chain) for chain in chains))
    return attempted


async def outbox_depth(db: Database) -> int:
    async with db.session_scope(write=False) as session:
        depth = await session.scalar(
            select(func.count()).where(WebhookDelivery.status.in_([PENDING, DELIVERING]))
        )
    OUTBOX_DEPTH.set(depth or 0)
    return depth or 0


async def purge_events(
    db: Database, settings: Settings, *, now: datetime, limit: int = 1000
) -> int:
    """Delete events (and their delivery log) past the retention period, once delivered or
    given up on."""
    cutoff = now - timedelta(days=settings.webhook_event_retention_days)
    undelivered = exists().where(
        WebhookDelivery.event_id == OutboxEvent.id,
        WebhookDelivery.status.in_([PENDING, DELIVERING]),
    )
    old = (
        select(OutboxEvent.seq)
        .where(OutboxEvent.created_at < cutoff, ~undelivered)
        .order_by(OutboxEvent.seq)
        .limit(limit)
    )
    async with db.session_scope() as session:
        result = await session.execute(delete(OutboxEvent).where(OutboxEvent.seq.in_(old)))
    return result.rowcount or 0


async def run_dispatch(db: Database, settings: Settings) -> int:
    """What the periodic scheduler calls: deliver everything due (a bounded number of batches),
    purge old events, refresh the outbox-depth gauge. Returns the deliveries attempted."""
    attempted = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        count = await dispatch_once(db, settings)
        attempted += count
        if count < settings.webhook_batch_size:
            break
    await purge_events(db, settings, now=utcnow())
    await outbox_depth(db)
    return attempted


def dispatch_job(db: Database, settings: Settings):
    """`run_dispatch` shaped as a scheduler job (`Scheduler.add(name, job)`): the scheduler's
    session is left unused, as delivery must not happen inside a transaction."""

    async def _job(_session: AsyncSession) -> int:
        return await run_dispatch(db, settings)

    return _job
