"""Due dates: `acknowledgement.reminder_due` and `acknowledgement.overdue`, one event per
message and batch, never one per recipient.

A recipient's `due_at` is the deadline: acknowledging at it is on time, and a moment later
they are overdue (`app.receipts.rules.past_due`, the comparison the reports use too). For
each message and kind, `acknowledgement_due_notices` keeps `covered_due_at`, the threshold of
the last batch. Overdue: due before now, so every pending recipient due *before*
`covered_due_at` was announced. Reminder: not overdue yet and due at most
`reminder_days_before_due` from now, so every one due *at or before* it was. A pass finds the
pending recipients past the kind's threshold and not covered yet, emits one event per message
with their count, and moves `covered_due_at` up to the threshold. The first
batch goes as soon as it is due; later ones (late joiners with their own `due_at`) at most once
per `reminder_batch_interval_hours`. So no recipient set is announced twice, and a recipient who
acknowledges before the batch goes is simply not counted.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.core import sql
from app.core.config import Settings, get_settings
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound, TooManyRequests
from app.core.principal import Principal
from app.core.sql import count_when
from app.employees.models import Employee
from app.messages.models import Message, Status
from app.receipts import rules
from app.receipts.models import DueNotice, Recipient
from app.receipts.schemas import ReminderSent
from app.webhooks.models import EventType
from app.webhooks.outbox import emit

REMINDER = "reminder_due"
OVERDUE = "overdue"
MANUAL = "manual"
# one pass at a time across replicas (PostgreSQL); SQLite writers are serialized anyway
_ADVISORY_LOCK_KEY = 0x42434E5244554531  # "BCNRDUE1"


def recipients_url(message_id: uuid.UUID, state: str) -> str:
    return f"/v1/messages/{message_id}/recipients?state={state}"


async def _totals(
    session: AsyncSession, message_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, dict[str, int]]:
    """Recipients, acknowledged, pending and overdue per message, in one aggregate."""
    awaiting = rules.awaiting()
    stmt = (
        select(
            Recipient.message_id,
            func.count().label("recipients"),
            count_when(awaiting).label("pending"),
            count_when(and_(awaiting, rules.past_due(now))).label("overdue"),
        )
        .join(Message, Message.id == Recipient.message_id)
        .join(Employee, and_(Employee.id == Recipient.employee_id, Employee.active.is_(True)))
        .where(Recipient.message_id.in_(message_ids))
        .group_by(Recipient.message_id)
    )
    out = {}
    for row in (await session.execute(stmt)).all():
        out[row.message_id] = {
            "recipients": row.recipients,
            "acknowledged": row.recipients - row.pending,
            "pending": row.pending,
            "overdue": row.overdue,
        }
    return out


async def _emit_kind(session: AsyncSession, *, kind: str, now: datetime, settings: Settings) -> int:
    notice = DueNotice.__table__.alias("notice")
    covered = notice.c.covered_due_at
    if kind == REMINDER:
        threshold = now + timedelta(days=settings.reminder_days_before_due)
        # already overdue recipients are announced as overdue, not reminded
        due_window = and_(~rules.past_due(now), Recipient.due_at <= threshold)
        not_covered = Recipient.due_at > covered
        event_type, state = EventType.ACKNOWLEDGEMENT_REMINDER_DUE, "pending"
    else:
        threshold = now
        due_window = rules.past_due(now)
        not_covered = Recipient.due_at >= covered
        event_type, state = EventType.ACKNOWLEDGEMENT_OVERDUE, "overdue"
    batch_after = now - timedelta(hours=settings.reminder_batch_interval_hours)
    batches = (
        select(
            Recipient.message_id,
            Message.title,
            func.count().label("pending"),
            func.min(Recipient.due_at).label("due_from"),
            func.max(Recipient.due_at).label("due_until"),
            func.max(notice.c.batches).label("batches"),
        )
        .join(Message, Message.id == Recipient.message_id)
        .join(Employee, Employee.id == Recipient.employee_id)
        .outerjoin(notice, and_(notice.c.message_id == Recipient.message_id, notice.c.kind == kind))
        .where(
            rules.live(now),
            rules.pending(),
            due_window,
            or_(covered.is_(None), not_covered),
            or_(notice.c.last_emitted_at.is_(None), notice.c.last_emitted_at <= batch_after),
        )
        .group_by(Recipient.message_id, Message.title)
    )
    rows = (await session.execute(batches)).all()
    if not rows:
        return 0
    totals = await _totals(session, [r.message_id for r in rows], now)
    for row in rows:
        number = (row.batches or 0) + 1
        event_id = await emit(
            session,
            type=event_type.value,
            message_id=row.message_id,
            data={
                "message_id": row.message_id,
                "title": row.title,
                "batch": number,
                "pending": row.pending,
                "due_from": row.due_from,
                "due_until": row.due_until,
                "totals": totals.get(row.message_id),
                "manual": False,
                "recipients_url": recipients_url(row.message_id, state),
            },
        )
        values = {
            "covered_due_at": threshold,
            "last_emitted_at": now,
            "batches": number,
            "last_event_id": event_id,
        }
        await session.execute(
            sql.upsert(
                session,
                DueNotice,
                {"message_id": row.message_id, "kind": kind, **values},
                index_elements=["message_id", "kind"],
                set_=values,
            )
        )
    return len(rows)


async def emit_due_reminders(
    session: AsyncSession, *, now: datetime, settings: Settings | None = None
) -> int:
    """Emit the reminder and overdue events that are due at `now`; return how many.

    Safe to run on several replicas at once: on PostgreSQL one pass at a time holds an
    advisory lock (the others return 0), and the notices table makes a rerun a no-op.
    """
    settings = settings or get_settings()
    if not await sql.try_advisory_lock(session, _ADVISORY_LOCK_KEY):
        return 0
    emitted = await _emit_kind(session, kind=OVERDUE, now=now, settings=settings)
    emitted += await _emit_kind(session, kind=REMINDER, now=now, settings=settings)
    return emitted


async def send_reminder(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    settings: Settings,
) -> ReminderSent:
    """Nudge the message's pending recipients now: one `reminder_due` event with
    `manual: true`, at most once per `manual_reminder_interval_minutes` per message."""
    now = utcnow()
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound("No message with this id.")
    if message.status != Status.PUBLISHED.value:
        raise Conflict("Only a published message has recipients to remind.")
    if not message.requires_acknowledgement:
        raise Conflict("This message asks for no acknowledgement, so nobody is pending.")
    if message.expires_at is not None and message.expires_at <= now:
        raise Conflict("This message has expired.")
    totals = (await _totals(session, [message_id], now)).get(
        message_id, {"recipients": 0, "acknowledged": 0, "pending": 0, "overdue": 0}
    )
    if totals["pending"] == 0:
        raise Conflict("Every recipient has acknowledged the current version.")

    interval = timedelta(minutes=settings.manual_reminder_interval_minutes)
    claimed = (
        await session.execute(
            sql.upsert(
                session,
                DueNotice,
                {"message_id": message_id, "kind": MANUAL, "last_emitted_at": now, "batches": 1},
                index_elements=["message_id", "kind"],
                set_={"last_emitted_at": now, "batches": DueNotice.batches + 1},
                where=DueNotice.last_emitted_at <= now - interval,
            ).returning(DueNotice.message_id)
        )
    ).scalar_one_or_none()
    if claimed is None:
        last = await session.scalar(
            select(DueNotice.last_emitted_at).where(
                DueNotice.message_id == message_id, DueNotice.kind == MANUAL
            )
        )
        last = last or now
        wait = max(1, int((last + interval - now).total_seconds()) + 1)
        raise TooManyRequests(
            f"A reminder for this message was sent at {last:%Y-%m-%dT%H:%M:%SZ}; "
            f"try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    event_id = await emit(
        session,
        type=EventType.ACKNOWLEDGEMENT_REMINDER_DUE.value,
        message_id=message_id,
        data={
            "message_id": message_id,
            "title": message.title,
            "pending": totals["pending"],
            "totals": totals,
            "manual": True,
            "requested_by": principal.actor,
            "recipients_url": recipients_url(message_id, "pending"),
        },
    )
    await session.execute(
        update(DueNotice)
        .where(DueNotice.message_id == message_id, DueNotice.kind == MANUAL)
        .values(last_event_id=event_id)
    )
    await record(
        session,
        principal,
        action="message.reminder_sent",
        entity_type="message",
        entity_id=message_id,
        details={"event_id": str(event_id), "pending": totals["pending"]},
    )
    return ReminderSent(message_id=message_id, event_id=event_id, pending=totals["pending"])


def due_reminders_job(settings: Settings):
    """`emit_due_reminders` as a scheduler job, in the scheduler's transaction."""

    async def _job(session: AsyncSession) -> int:
        return await emit_due_reminders(session, now=utcnow(), settings=settings)

    return _job
