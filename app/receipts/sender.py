"""The sender job: claims due deliveries, sends them, records what happened.

One batch (`send_once`), per channel:
1. A short claim transaction marks up to `delivery_batch_size` due rows `sending`, with a
   lease (`claimed_until`) and the claim's id (`claim_id`); on PostgreSQL the rows are picked
   with `FOR UPDATE SKIP LOCKED`, so senders in several replicas split the work. Rows whose
   sender died come back when their lease runs out.
2. Outside any transaction, the e-mails go out over a pool of SMTP connections (at most
   `smtp_max_connections` at once); chat posts over HTTP after the SSRF guard.
3. Results are written by one recorder task, a transaction per group of results: a group is
   written once `delivery_record_every` results have queued up or `delivery_record_ms` after
   the first of them, whichever comes first (and at the end of the batch). A crash loses at
   most the results not yet written (the group queuing and the one being written), and only
   those e-mails could go out twice — with the same Message-ID. Every write is guarded by the claim
   id, so a sender whose lease ran out cannot overwrite a newer claim. Sent; cancelled (the
   message closed, the employee left or opted out); planned again after an exponential
   back-off (a 4xx reply, an unreachable server); or `failed` (a 5xx reply, or when the next
   try would fall past `delivery_retry_hours` after the first), with a `delivery.failed` event.

E-mails go batch after batch (`send_emails`), pipelined: batch k+1 is claimed and loaded while
batch k is being sent, so the connections do not wait for the claim; within a batch, workers
compose an e-mail while the others are on the wire. When the SMTP server cannot be reached,
the rest of the batch, and the batch claimed meanwhile, are given back unattempted (their
attempt not counted) instead of each e-mail failing on its own; so is the batch claimed
meanwhile when the pass's time (`delivery_pass_seconds`) is up.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

import httpx
from sqlalchemy import and_, case, exists, func, null, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import retry, sql
from app.core.config import Settings
from app.core.database import Database, moving_clock, utcnow
from app.core.direct import on_session
from app.editions.serve import (
    EDITION_COLUMNS,
    EDITION_TEXTS,
    EDITIONS_TABLE,
    EditionText,
    served_edition_on,
)
from app.employees.models import Employee
from app.messages.locales import localize, preferences
from app.messages.models import Message, Priority
from app.receipts import claims, digests, inbox, rules
from app.receipts.channels import chat, email
from app.receipts.links import intranet_url, link_for
from app.receipts.metrics import DELIVERY_LAG, SENT
from app.receipts.models import Channel, ChatTarget, Delivery, DeliveryState, OptOut, Recipient
from app.webhooks.models import EventType
from app.webhooks.outbox import emit_many

logger = logging.getLogger("brandcast.delivery")

PLANNED = DeliveryState.PLANNED.value
SENDING = DeliveryState.SENDING.value
# the rows the partial index `ix_deliveries_due` holds, spelled as it is
MAY_BE_SENT = text("deliveries.state IN ('planned', 'sending')")
MAX_BATCHES_PER_RUN = 1000
# batches the inbox rules may hold back entirely before a claim gives up for this pass
MAX_GATED_BATCHES = 20
_EMAIL_CLAIM_LOCK = 0x6272_6463_6D6C  # "brdcml"
_MESSAGE_FIELDS = (
    "id",
    "locale",
    "title",
    "summary",
    "body",
    "translations",
    "revision",
    "version",
    "requires_acknowledgement",
    "priority",
    "acknowledgement_text",
    "locked",
)


def _due(now: datetime) -> Any:
    return and_(
        MAY_BE_SENT,
        or_(
            and_(Delivery.state == PLANNED, Delivery.not_before <= now),
            # a claim whose sender died: its lease ran out
            and_(Delivery.state == SENDING, Delivery.claimed_until <= now),
        ),
    )


@dataclass(frozen=True)
class Claimed:
    claim_id: uuid.UUID
    ids: list[int]


def _by_ids(session: AsyncSession) -> Any:
    return claims.in_ids(session, Delivery)


async def _due_ids(
    session: AsyncSession, settings: Settings, *, channel: Channel, now: datetime
) -> list[int]:
    return list(
        (
            await session.execute(
                select(Delivery.id)
                .where(Delivery.channel == channel.value, _due(now))
                .order_by(Delivery.not_before)
                .limit(settings.delivery_batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )


async def claim(
    session: AsyncSession, settings: Settings, *, channel: Channel, now: datetime
) -> Claimed | None:
    """Mark up to a batch of due rows of `channel` `sending` under a new claim id; return
    them (None when nothing is due). E-mails pass the inbox rules first (`inbox.gate`: held
    and cancelled rows are not claimed), one claimer at a time, so that two replicas never
    both send an employee's last e-mail under the cap."""
    if channel == Channel.EMAIL:
        if not await sql.try_advisory_lock(session, _EMAIL_CLAIM_LOCK):
            return None
        await inbox.release(session, now=now)
    ids: list[int] = []
    for _ in range(MAX_GATED_BATCHES):
        ids = await _due_ids(session, settings, channel=channel, now=now)
        if not ids:
            return None
        if channel == Channel.EMAIL:
            ids = await inbox.gate(session, settings, ids=ids, now=now)
        if ids:
            break
    if not ids:
        return None
    claim_id = await claims.mark_claimed(
        session, Delivery, list(ids), lease_seconds=settings.delivery_lease_seconds, now=now
    )
    return Claimed(claim_id, list(ids))


# --- outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    result: str  # sent | retry | failed | cancelled | released
    error: str | None = None
    locale: str | None = None
    version: int | None = None
    attempts: int = 1
    first_attempt_at: datetime | None = None
    event: dict[str, Any] | None = None  # what a `delivery.failed` event says


@dataclass
class Recorder:
    """Writes outcomes in groups: a transaction once `delivery_record_every` have queued up
    or `delivery_record_ms` after the first of them, whichever comes first."""

    db: Database
    settings: Settings
    claim_id: uuid.UUID
    clock: Callable[[], datetime]
    channel: Channel
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _queue: list[Outcome] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _full: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def add(self, outcome: Outcome) -> None:
        self._queue.append(outcome)
        self._wake.set()
        if len(self._queue) >= self.settings.delivery_record_every:
            self._full.set()

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._full.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if not self._closed and len(self._queue) < self.settings.delivery_record_every:
                # a group: until it is full or its first result has waited long enough
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._full.wait(), self.settings.delivery_record_ms / 1000
                    )
            self._wake.clear()
            if not self._closed:
                self._full.clear()
            batch, self._queue = self._queue, []
            if batch:
                try:
                    async with self.db.session_scope() as session:
                        await record(
                            session, self.claim_id, batch, settings=self.settings, at=self.clock()
                        )
                except Exception:
                    # the leases run out and these are tried again: at least once (and a
                    # closed recorder still stops: `close` must not wait for ever)
                    logger.exception("could not record %d deliveries", len(batch))
                else:
                    for outcome in batch:
                        self.counts[outcome.result] += 1
                        SENT.labels(channel=self.channel.value, result=outcome.result).inc()
            if self._closed and not self._queue:
                return


async def record(
    session: AsyncSession,
    claim_id: uuid.UUID,
    outcomes: Sequence[Outcome],
    *,
    settings: Settings,
    at: datetime,
) -> None:
    """Store a group of outcomes of one claim, in a few statements."""
    mine = and_(Delivery.claim_id == claim_id, Delivery.state == SENDING)
    done = {"claimed_until": None, "claim_id": None}
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    failed: list[Outcome] = []
    give_up_after = timedelta(hours=settings.delivery_retry_hours)
    for o in outcomes:
        if o.result == "sent":
            groups[("sent", o.locale, o.version)].append(o.delivery_id)
        elif o.result == "cancelled":
            groups[("cancelled", o.error)].append(o.delivery_id)
        elif o.result == "released":
            groups[("released",)].append(o.delivery_id)
        elif o.result == "failed":
            failed.append(o)
        else:
            delay = timedelta(
                seconds=retry.backoff(
                    o.attempts,
                    base_seconds=settings.delivery_retry_base_seconds,
                    max_delay_seconds=settings.delivery_retry_max_delay_seconds,
                )
            )
            started = o.first_attempt_at or at
            if at + delay > started + give_up_after:
                failed.append(
                    Outcome(
                        o.delivery_id,
                        "failed",
                        error=f"gave up after {o.attempts} attempt(s) in "
                        f"{settings.delivery_retry_hours:g} h: {o.error}"[:1000],
                        event=o.event,
                        attempts=o.attempts,
                    )
                )
                continue
            await session.execute(
                update(Delivery)
                .where(mine, Delivery.id == o.delivery_id)
                .values(state=PLANNED, not_before=at + delay, last_error=o.error, **done)
            )
    for key, ids in groups.items():
        if key[0] == "sent":
            values = {"state": DeliveryState.SENT.value, "sent_at": at, "last_error": None}
            values |= {"locale": key[1], "version": key[2]}
        elif key[0] == "cancelled":
            values = {"state": DeliveryState.CANCELLED.value, "reason": key[1]}
        else:  # given back unattempted: this attempt does not count
            values = {
                "state": PLANNED,
                "attempts": Delivery.attempts - 1,
                # the first attempt still to come: the retry period starts then
                "first_attempt_at": case(
                    (Delivery.attempts <= 1, null()), else_=Delivery.first_attempt_at
                ),
            }
        await session.execute(
            update(Delivery).where(mine, _by_ids(session)).values(**values, **done),
            {"ids": ids},
        )
    if failed:
        await _record_failed(session, mine, failed, done)


async def _record_failed(
    session: AsyncSession, mine: Any, failed: list[Outcome], done: dict[str, Any]
) -> None:
    by_error: dict[str | None, list[int]] = defaultdict(list)
    for o in failed:
        by_error[o.error].append(o.delivery_id)
    recorded: set[int] = set()
    for error, ids in by_error.items():
        recorded |= set(
            (
                await session.execute(
                    update(Delivery)
                    .where(mine, _by_ids(session))
                    .values(state=DeliveryState.FAILED.value, last_error=error, **done)
                    .returning(Delivery.id),
                    {"ids": ids},
                )
            )
            .scalars()
            .all()
        )
    by_message: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for o in failed:
        if o.delivery_id in recorded and o.event is not None:
            event = {**o.event, "error": o.error, "attempts": o.attempts}
            by_message[event["message_id"]].append(event)
    for message_id, events in by_message.items():
        await emit_many(
            session, type=EventType.DELIVERY_FAILED.value, data=events, message_id=message_id
        )


# --- e-mail --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailItem:
    delivery_id: int
    attempts: int
    first_attempt_at: datetime | None
    message: dict[str, Any]
    employee_id: uuid.UUID
    external_id: str | None
    address: str | None
    name: str | None
    locale: str | None
    active: bool
    opted_out: bool
    live: bool
    # the recipient's local edition, when one is served (`app.editions.serve`)
    edition: EditionText | None = None

    def event(self, channel: Channel = Channel.EMAIL) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "message_id": self.message["id"],
            "channel": channel.value,
            "employee_id": self.employee_id,
            "employee_external_id": self.external_id,
        }


async def email_items(session: AsyncSession, claimed: Claimed, *, now: datetime) -> list[EmailItem]:
    """The claimed e-mails with what sending them needs: recipient, message, opt-out."""
    batch = claims.batch_of(session, Delivery, Delivery.claim_id == claimed.claim_id)
    opted_out = exists().where(
        OptOut.employee_id == batch.employee_id, OptOut.channel == Channel.EMAIL.value
    )
    rows = (
        await session.execute(
            select(
                batch.id,
                batch.attempts,
                batch.first_attempt_at,
                batch.message_id,
                batch.employee_id,
                Employee.external_id,
                Employee.email,
                Employee.display_name,
                Employee.locale,
                Employee.active,
                opted_out.label("opted_out"),
                rules.live(now).label("live"),
                *EDITION_COLUMNS,
            )
            .select_from(batch)
            .join(Message, Message.id == batch.message_id)
            .outerjoin(Employee, Employee.id == batch.employee_id)
            .outerjoin(
                Recipient,
                and_(
                    Recipient.message_id == batch.message_id,
                    Recipient.employee_id == batch.employee_id,
                ),
            )
            .outerjoin(EDITIONS_TABLE, served_edition_on(Recipient.edition_id))
            .order_by(batch.id),
            {"ids": claimed.ids},
        )
    ).all()
    message_ids = {r.message_id for r in rows}
    messages = {
        m.id: dict(m._mapping)
        for m in (
            await session.execute(
                select(*(getattr(Message, f) for f in _MESSAGE_FIELDS)).where(
                    Message.id.in_(message_ids)
                )
            )
        ).all()
    }
    editions = await EDITION_TEXTS.texts(
        on_session(session), {(r.edition_id, r.edition_revision) for r in rows if r.edition_id}
    )
    return [
        EmailItem(
            delivery_id=r.id,
            attempts=r.attempts,
            first_attempt_at=r.first_attempt_at,
            message=messages[r.message_id],
            employee_id=r.employee_id,
            external_id=r.external_id,
            address=r.email,
            name=r.display_name,
            locale=r.locale,
            active=bool(r.active),
            opted_out=bool(r.opted_out),
            live=bool(r.live),
            edition=editions.get(r.edition_id) if r.edition_id else None,
        )
        for r in rows
    ]


def _not_to_send(item: EmailItem) -> Outcome | None:
    """The outcome of an e-mail that is not to go out, or None."""
    if not item.live:
        return Outcome(item.delivery_id, "cancelled", error="the message is no longer live")
    if item.external_id is None or not item.active:
        return Outcome(item.delivery_id, "cancelled", error="the employee is not active")
    if (
        item.opted_out
        and not item.message["requires_acknowledgement"]
        and item.message["priority"] != Priority.CRITICAL
    ):
        return Outcome(item.delivery_id, "cancelled", error="the employee unsubscribed")
    if not item.address:
        return Outcome(
            item.delivery_id,
            "failed",
            error="the employee has no e-mail address",
            attempts=item.attempts,
            event=item.event(),
        )
    return None


class EmailSender:
    """Sends claimed e-mails over a pool kept for the length of a run."""

    def __init__(self, settings: Settings, templates: email.Templates) -> None:
        server = settings.smtp
        assert server is not None and settings.email_from
        self.settings = settings
        self.templates = templates
        self.pool = email.SMTPPool(
            server, size=settings.smtp_max_connections, timeout=settings.smtp_timeout_seconds
        )
        self.header_from = settings.email_from
        self.envelope_from = parseaddr(settings.email_from)[1]

    def compose(self, item: EmailItem, now: datetime, date: str) -> tuple[bytes, str]:
        template = self.templates.for_recipient(item.message, item.locale, item.edition)
        link = link_for(item.delivery_id, self.settings, now=now)
        unsubscribe = None if item.message["requires_acknowledgement"] else f"{link}/unsubscribe"
        data = email.compose(
            template,
            sender=self.header_from,
            to_address=item.address or "",
            to_name=item.name,
            message_id=email.message_id_header(
                item.delivery_id, item.message["id"], self.envelope_from
            ),
            link=link,
            unsubscribe=unsubscribe,
            date=date,
        )
        return data, template.locale

    async def send_batch(self, items: list[EmailItem], recorder: Recorder, now: datetime) -> bool:
        """Send `items`, handing each outcome to `recorder`; True when the server could not be
        reached (the e-mails not yet tried are then given back, `released`). Twice as many
        workers as connections each compose an e-mail, then wait for a connection: one is
        composed while the others are on the wire, rather than all of the batch first."""
        date = email.smtp_date()
        unreachable = False
        queue = iter(items)

        async def _one(item: EmailItem) -> None:
            nonlocal unreachable
            skipped = _not_to_send(item)
            if skipped is not None:
                recorder.add(skipped)
                return
            if unreachable:
                recorder.add(Outcome(item.delivery_id, "released"))
                return
            data, locale = self.compose(item, now, date)
            assert item.address
            result = await self.pool.send(self.envelope_from, item.address, data)
            if result.ok:
                outcome = Outcome(
                    item.delivery_id, "sent", locale=locale, version=item.message["version"]
                )
            elif unreachable:  # another send found it down first: this one is given back
                outcome = Outcome(item.delivery_id, "released")
            else:
                unreachable = unreachable or result.unreachable
                outcome = Outcome(
                    item.delivery_id,
                    "failed" if result.permanent else "retry",
                    error=result.error,
                    attempts=item.attempts,
                    first_attempt_at=item.first_attempt_at,
                    event=item.event(),
                )
            recorder.add(outcome)

        async def _worker() -> None:
            for item in queue:
                await _one(item)

        workers = min(len(items), 2 * self.settings.smtp_max_connections)
        await asyncio.gather(*(_worker() for _ in range(workers)))
        return unreachable

    async def close(self) -> None:
        await self.pool.close()


# --- chat ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatItem:
    delivery_id: int
    attempts: int
    first_attempt_at: datetime | None
    message: dict[str, Any]
    live: bool
    target_id: uuid.UUID
    kind: str
    url: str
    locale: str
    active: bool


async def chat_items(session: AsyncSession, claimed: Claimed, *, now: datetime) -> list[ChatItem]:
    rows = (
        await session.execute(
            select(
                Delivery.id,
                Delivery.attempts,
                Delivery.first_attempt_at,
                Delivery.chat_target_id,
                ChatTarget.kind,
                ChatTarget.url,
                ChatTarget.locale.label("target_locale"),
                ChatTarget.active,
                rules.live(now).label("live"),
                *(getattr(Message, f).label(f"m_{f}") for f in _MESSAGE_FIELDS),
            )
            .join(Message, Message.id == Delivery.message_id)
            .join(ChatTarget, ChatTarget.id == Delivery.chat_target_id)
            .where(_by_ids(session), Delivery.claim_id == claimed.claim_id)
            .order_by(Delivery.id),
            {"ids": claimed.ids},
        )
    ).all()
    return [
        ChatItem(
            delivery_id=r.id,
            attempts=r.attempts,
            first_attempt_at=r.first_attempt_at,
            message={f: getattr(r, f"m_{f}") for f in _MESSAGE_FIELDS},
            live=bool(r.live),
            target_id=r.chat_target_id,
            kind=r.kind,
            url=r.url,
            locale=r.target_locale,
            active=bool(r.active),
        )
        for r in rows
    ]


async def _post_one(
    client: httpx.AsyncClient, item: ChatItem, settings: Settings, recorder: Recorder
) -> None:
    if not item.live:
        recorder.add(Outcome(item.delivery_id, "cancelled", error="the message is no longer live"))
        return
    if not item.active:
        recorder.add(Outcome(item.delivery_id, "cancelled", error="the chat target is inactive"))
        return
    m = item.message
    locale, title, summary, _body = localize(
        preferences(None, item.locale),
        locale=m["locale"],
        title=m["title"],
        summary=m["summary"],
        body=m["body"],
        translations=m["translations"] or {},
    )
    link = intranet_url(settings, m["id"]) if settings.intranet_message_url else None
    body = chat.payload(item.kind, title=title, summary=summary, link=link, locale=locale)
    result = await chat.post(client, item.url, body, settings)
    if result.ok:
        recorder.add(Outcome(item.delivery_id, "sent", locale=locale, version=m["version"]))
        return
    event = {
        "delivery_id": item.delivery_id,
        "message_id": m["id"],
        "channel": Channel.CHAT.value,
        "chat_target_id": item.target_id,
    }
    recorder.add(
        Outcome(
            item.delivery_id,
            "failed" if result.permanent else "retry",
            error=result.error,
            attempts=item.attempts,
            first_attempt_at=item.first_attempt_at,
            event=event,
        )
    )


async def post_once(
    db: Database, settings: Settings, client: httpx.AsyncClient, *, now: datetime | None = None
) -> dict[str, int]:
    """`send_once` for chat posts."""
    start = now or utcnow()
    clock = moving_clock(start)
    async with db.session_scope() as session:
        claimed = await claim(session, settings, channel=Channel.CHAT, now=start)
        items = await chat_items(session, claimed, now=start) if claimed else []
    if claimed is None:
        return {}
    recorder = Recorder(db, settings, claimed.claim_id, clock, Channel.CHAT)
    recorder.start()
    semaphore = asyncio.Semaphore(settings.webhook_max_concurrency)

    async def _bounded(item: ChatItem) -> None:
        async with semaphore:
            await _post_one(client, item, settings, recorder)

    try:
        await asyncio.gather(*(_bounded(item) for item in items))
    finally:
        await recorder.close()
    return dict(recorder.counts)


# --- the job -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """A claimed batch of e-mails with what sending them needs, the moment of its claim
    (`now`, on the clock or the one a test gave) and the clock moving on from it."""

    claimed: Claimed
    items: list[EmailItem]
    now: datetime
    clock: Callable[[], datetime]


async def load_batch(
    db: Database, settings: Settings, *, now: datetime | None = None
) -> Batch | None:
    """Claim a batch of due e-mails and read what sending them needs, in one transaction;
    None when nothing is due (or another sender is claiming)."""
    start = now or utcnow()
    clock = moving_clock(start)
    async with db.session_scope() as session:
        claimed = await claim(session, settings, channel=Channel.EMAIL, now=start)
        items = await email_items(session, claimed, now=start) if claimed else []
    return Batch(claimed, items, start, clock) if claimed else None


async def send_loaded(
    db: Database, settings: Settings, sender: EmailSender, batch: Batch
) -> tuple[dict[str, int], bool]:
    """Send a loaded batch and record the results; the counts by result, and whether the
    server could not be reached."""
    recorder = Recorder(db, settings, batch.claimed.claim_id, batch.clock, Channel.EMAIL)
    recorder.start()
    try:
        unreachable = await sender.send_batch(batch.items, recorder, batch.now)
    finally:
        await recorder.close()
    return dict(recorder.counts), unreachable


async def give_back(db: Database, settings: Settings, batch: Batch) -> None:
    """A claimed batch not sent after all (the server went down, the pass is over): planned
    again at once, its claim not counted as an attempt."""
    async with db.session_scope() as session:
        await record(
            session,
            batch.claimed.claim_id,
            [Outcome(i, "released") for i in batch.claimed.ids],
            settings=settings,
            at=batch.clock(),
        )


async def send_once(
    db: Database,
    settings: Settings,
    sender: EmailSender,
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """Claim one batch of due e-mails, send them, record the results; return the counts by
    result (empty when nothing was due). `now` stands in for the clock (tests)."""
    batch = await load_batch(db, settings, now=now)
    if batch is None:
        return {}
    counts, _ = await send_loaded(db, settings, sender, batch)
    return counts


async def send_emails(
    db: Database,
    settings: Settings,
    sender: EmailSender,
    *,
    now: datetime | None = None,
    started: float | None = None,
) -> int:
    """Batch after batch for at most `delivery_pass_seconds`, pipelined: the next batch is
    claimed and loaded while one is being sent, so the connections do not wait for the claim.
    The prefetched claim is safe with the inbox cap (the batch being sent counts as
    `sending`), and is given back, its attempt not counted, when the pass stops (the server
    unreachable, the time up; `started`, monotonic, is the pass's start). Returns the
    e-mails handled."""
    handled = 0
    started = time.monotonic() if started is None else started
    batch = await load_batch(db, settings, now=now)
    for batches in range(1, MAX_BATCHES_PER_RUN + 1):
        if batch is None:
            break
        more = batches < MAX_BATCHES_PER_RUN and not _over(started, settings)
        following = asyncio.create_task(load_batch(db, settings, now=now)) if more else None
        try:
            counts, unreachable = await send_loaded(db, settings, sender, batch)
        except BaseException:
            if following is not None:
                await _abandon(db, settings, following)
            raise
        handled += sum(counts.values())
        batch = await following if following is not None else None
        attempted = sum(n for result, n in counts.items() if result != "released")
        if unreachable or attempted == 0 or _over(started, settings):
            if batch is not None:
                await give_back(db, settings, batch)
            break
        if following is not None and batch is None:
            # nothing was due when it was claimed (or another sender was claiming): once more
            batch = await load_batch(db, settings, now=now)
    return handled


def _over(started: float, settings: Settings) -> bool:
    return time.monotonic() - started > settings.delivery_pass_seconds


async def _abandon(db: Database, settings: Settings, following: asyncio.Task[Batch | None]) -> None:
    """The prefetch of a pass that failed: cancelled, or given back once claimed (if that
    fails too, its lease runs out)."""
    following.cancel()
    with contextlib.suppress(BaseException):
        batch = await following
        if batch is not None:
            await give_back(db, settings, batch)


async def run_sender(
    db: Database, settings: Settings, templates: email.Templates, *, now: datetime | None = None
) -> int:
    """What the scheduler calls: send what is due, batch after batch, for at most
    `delivery_pass_seconds`; refresh the lag gauge. Returns the e-mails handled."""
    handled = 0
    if settings.smtp is not None:
        await plan_inbox(db, settings, now=now or utcnow())
        sender = EmailSender(settings, templates)
        started = time.monotonic()
        try:
            for _ in range(MAX_BATCHES_PER_RUN):
                counts = await digests.send_digests(db, settings, sender.pool, now=now or utcnow())
                handled += sum(counts.values())
                if sum(counts.values()) < settings.delivery_batch_size:
                    break
            handled += await send_emails(db, settings, sender, now=now, started=started)
        finally:
            await sender.close()
    handled += await _run_chat(db, settings, now=now)
    await refresh_lag(db)
    return handled


async def plan_inbox(db: Database, settings: Settings, *, now: datetime) -> None:
    """Before sending: plan the retargeting e-mails that are due and build the digests whose
    moment came (each in its own transaction)."""
    async with db.session_scope() as session:
        await inbox.plan_retargeting(session, now=now)
    async with db.session_scope() as session:
        await digests.build_digests(session, settings, now=now)


async def _run_chat(db: Database, settings: Settings, *, now: datetime | None) -> int:
    handled = 0
    async with httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: the SSRF guard decides the route
        timeout=settings.webhook_timeout_seconds,
        limits=httpx.Limits(max_connections=settings.webhook_max_concurrency),
    ) as client:
        for _ in range(MAX_BATCHES_PER_RUN):
            counts = await post_once(db, settings, client, now=now)
            handled += sum(counts.values())
            if sum(counts.values()) < settings.delivery_batch_size:
                break
    return handled


async def refresh_lag(db: Database) -> float:
    """Seconds since the oldest due, unsent delivery became due (0 when none is waiting)."""
    now = utcnow()
    async with db.session_scope(write=False) as session:
        oldest = await session.scalar(
            select(func.min(Delivery.not_before)).where(
                MAY_BE_SENT, Delivery.state == PLANNED, Delivery.not_before <= now
            )
        )
    lag = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    DELIVERY_LAG.set(lag)
    return lag


def sender_job(db: Database, settings: Settings):
    """`run_sender` as a scheduler job; sending happens outside the scheduler's transaction."""
    templates = email.Templates()

    async def _job(_session: AsyncSession) -> int:
        return await run_sender(db, settings, templates)

    return _job
