"""The inbox rules: which e-mail goes out now, which waits, and why.

Planning (`deliveries.py`) writes every e-mail `planned`; the rules are applied when the
sender claims a batch (`gate`, in the claim's transaction, on the rows it locked), so they see
the preferences and the week's e-mails as they are at sending time:

1. `critical`: goes out at once, always (only a retargeting e-mail the recipient has made
   pointless by reading is cancelled).
2. A category the employee turned e-mail off for: cancelled, unless the message requires
   acknowledgement.
3. A retargeting e-mail whose recipient has read (or acknowledged) meanwhile: cancelled.
4. `normal`, to an employee with a daily or weekly digest: held for the next digest
   (`digest_period`; `not_before` is the digest's moment), which `digests.py` builds.
5. Inside the employee's quiet hours (local time): held until they end.
6. `normal`, when the employee's `normal` and `important` e-mails of the last 7 days (sent or
   being sent, plus those going out in this batch) reach the cap (the message's
   `email_max_per_week`, else BRANDCAST_EMAIL_MAX_PER_WEEK): held until the oldest of them
   is 7 days old. `important` is never held by the cap but counts towards it.

A hold sets `state = 'held'`, `reason`, `held_at` (the first one) and `not_before`;
`release` turns held rows whose moment came back into `planned` (`released_at`, reason
"released after: …"), and the next claim decides on them again. Nothing held is dropped.

Retargeting (`plan_retargeting`): for each live message with a `retarget` rule, one
`INSERT … SELECT` plans round n+1 for the recipients whose round-n e-mail (or digest) went out
`after_days` ago and who have not read (acknowledged) it, up to `max` rounds.
"""

import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Uuid,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import sql
from app.core.config import Settings
from app.core.database import UTCDateTime
from app.core.timezones import time_of_day
from app.employees.models import Employee
from app.messages.models import Message, Priority
from app.preferences.models import EmployeePreference
from app.preferences.schemas import DigestFrequency
from app.preferences.service import Effective, resolve
from app.receipts import claims, rules
from app.receipts.models import Channel, Delivery, DeliveryState, OptOut, Recipient

WINDOW = timedelta(days=7)
HELD = DeliveryState.HELD.value
PLANNED = DeliveryState.PLANNED.value
SENDING = DeliveryState.SENDING.value
COUNTED = (Priority.NORMAL.value, Priority.IMPORTANT.value)
_D = Delivery.__table__
_INSERT = sql.insert_ignore(_D)
# the rows the partial index `ix_deliveries_held` holds, spelled as it is: a bound `state`
# makes the prepared statement's generic plan read the whole table instead
IS_HELD = text("deliveries.state = 'held'")


@dataclass(frozen=True)
class Verdict:
    """What to do with one e-mail now: `send`, `cancel` or `hold` (until `until`)."""

    action: str
    reason: str | None = None
    until: datetime | None = None
    digest_period: str | None = None


SEND = Verdict("send")


def next_digest(
    local: datetime, frequency: DigestFrequency, hour: int, weekday: int
) -> tuple[datetime, str]:
    """The next digest moment at or after `local` (an aware local time) and its period:
    the local date (`2030-01-08`) for daily digests, the ISO week (`2030-W02`) for weekly."""
    moment = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if frequency == DigestFrequency.WEEKLY:
        moment += timedelta(days=(weekday - local.isoweekday()) % 7)
        if moment < local:
            moment += timedelta(days=7)
        year, week, _ = moment.isocalendar()
        return moment, f"{year}-W{week:02d}"
    if moment < local:
        moment += timedelta(days=1)
    return moment, moment.date().isoformat()


def quiet_until(local: datetime, quiet: tuple[int, int] | None) -> datetime | None:
    """The end of the quiet hours `local` falls in, or None when it falls in none."""
    if quiet is None:
        return None
    start, end = quiet
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    moment = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if moment <= local:
        moment += timedelta(days=1)
    return moment


@dataclass(frozen=True)
class Facts:
    """What the rules need to know about one e-mail (one row of `_facts`)."""

    priority: str
    category: str
    requires_acknowledgement: bool
    round: int
    done: bool  # read, or acknowledged when the message asks for it
    cap: int


def decide(
    facts: Facts,
    prefs: Effective,
    settings: Settings,
    *,
    now: datetime,
    counted: int,
    oldest: datetime | None,
) -> Verdict:
    """The rules above for one e-mail; `counted` is the employee's e-mails that count towards
    the cap so far (`oldest` the earliest of them)."""
    if facts.round > 0 and facts.done:
        return Verdict("cancel", "read before the retargeting e-mail went out")
    if facts.priority == Priority.CRITICAL:
        return SEND
    if not facts.requires_acknowledgement and facts.category in prefs.email_off:
        return Verdict("cancel", f"the employee turned off e-mails of {facts.category}")
    local = now.astimezone(zoneinfo.ZoneInfo(prefs.time_zone))
    normal = facts.priority == Priority.NORMAL
    if normal and facts.round == 0 and prefs.digest != DigestFrequency.OFF:
        moment, period = next_digest(
            local, prefs.digest, prefs.digest_hour, settings.digest_weekday
        )
        return Verdict(
            "hold", f"waiting for the {prefs.digest.value} digest of {period}", moment, period
        )
    end = quiet_until(local, prefs.quiet_hours)
    if end is not None:
        return Verdict(
            "hold",
            f"quiet hours until {time_of_day(end.hour * 60 + end.minute)} {prefs.time_zone}",
            end,
        )
    if normal and counted >= facts.cap:
        until = (oldest or now) + WINDOW
        return Verdict("hold", f"weekly cap of {facts.cap} e-mails reached", until)
    return SEND


# --- in the sender's claim -----------------------------------------------------------------


async def release(session: AsyncSession, *, now: datetime) -> None:
    """Held rows whose moment came (not those waiting for a digest) become planned again."""
    await session.execute(
        update(Delivery)
        .where(
            IS_HELD,
            Delivery.not_before <= now,
            Delivery.digest_period.is_(None),
            Delivery.channel == Channel.EMAIL.value,
        )
        .values(
            state=PLANNED,
            released_at=now,
            reason=func.substr(literal("released after: ", String()) + Delivery.reason, 1, 200),
        )
    )


def _by_ids(session: AsyncSession) -> Any:
    return sql.in_bound_list(sql.dialect_of(session), Delivery.id, "ids", Delivery.id.type)


async def _facts(session: AsyncSession, settings: Settings, ids: Sequence[int]) -> list[Any]:
    recipients = Recipient.__table__.c
    batch = claims.batch_of(session, Delivery)
    done = or_(
        and_(Message.requires_acknowledgement.is_(False), recipients.read_at.is_not(None)),
        and_(Message.requires_acknowledgement.is_(True), rules.acknowledged()),
    )
    opted_out = exists().where(
        OptOut.employee_id == batch.employee_id, OptOut.channel == Channel.EMAIL.value
    )
    return list(
        (
            await session.execute(
                select(
                    batch.id,
                    batch.employee_id,
                    batch.round,
                    batch.not_before,
                    Message.priority,
                    Message.category,
                    Message.requires_acknowledgement,
                    func.coalesce(Message.email_max_per_week, settings.email_max_per_week).label(
                        "cap"
                    ),
                    func.coalesce(done, False).label("done"),
                    Employee.time_zone.label("directory_zone"),
                    Employee.country,
                    opted_out.label("unsubscribed"),
                    *(c.label(f"p_{c.name}") for c in EmployeePreference.__table__.c),
                )
                .select_from(batch)
                .join(Message, Message.id == batch.message_id)
                .outerjoin(Employee, Employee.id == batch.employee_id)
                .outerjoin(
                    EmployeePreference.__table__,
                    EmployeePreference.employee_id == batch.employee_id,
                )
                .outerjoin(
                    Recipient.__table__,
                    and_(
                        recipients.message_id == batch.message_id,
                        recipients.employee_id == batch.employee_id,
                    ),
                )
                .order_by(batch.employee_id, batch.not_before, batch.id),
                {"ids": list(ids)},
            )
        ).all()
    )


async def _counted(
    session: AsyncSession, employee_ids: set[uuid.UUID], ids: Sequence[int], now: datetime
) -> dict[uuid.UUID, tuple[int, datetime | None]]:
    """Per employee: the e-mails of the last 7 days that count towards the cap (sent, or
    claimed by a live sender, other than `ids`) and the time the oldest went out."""
    if not employee_ids:
        return {}
    dialect = sql.dialect_of(session)
    # the employees' e-mails first (by `ix_deliveries_employee_id_sent_at`), then their
    # messages: joined the other way round, the planner may read every delivery of a message
    # to find a batch's employees among them (see `claims.batch_of`)
    theirs = (
        select(Delivery.message_id, Delivery.employee_id, Delivery.sent_at)
        .where(
            sql.in_bound_list(dialect, Delivery.employee_id, "employees", Uuid()),
            Delivery.channel == Channel.EMAIL.value,
            or_(
                and_(
                    Delivery.state == DeliveryState.SENT.value,
                    Delivery.sent_at > now - WINDOW,
                ),
                and_(
                    Delivery.state == SENDING,
                    Delivery.claimed_until > now,
                    ~_by_ids(session),
                ),
            ),
        )
        .cte("theirs")
        .prefix_with("MATERIALIZED")
    )
    rows = (
        await session.execute(
            select(theirs.c.employee_id, func.count(), func.min(theirs.c.sent_at))
            .join(Message, Message.id == theirs.c.message_id)
            .where(Message.priority.in_(COUNTED))
            .group_by(theirs.c.employee_id),
            {"employees": list(employee_ids), "ids": list(ids)},
        )
    ).all()
    return {r[0]: (int(r[1]), r[2]) for r in rows}


_HOLD = (
    _D.update()
    .where(_D.c.id == bindparam("b_id"))
    .values(
        state=HELD,
        reason=bindparam("b_reason"),
        not_before=bindparam("b_until", type_=UTCDateTime()),
        digest_period=bindparam("b_period"),
        held_at=func.coalesce(_D.c.held_at, bindparam("b_now", type_=UTCDateTime())),
        claimed_until=None,
        claim_id=None,
    )
)
_CANCEL = (
    _D.update()
    .where(_D.c.id == bindparam("b_id"))
    .values(state=DeliveryState.CANCELLED.value, reason=bindparam("b_reason"))
)


async def gate(
    session: AsyncSession, settings: Settings, *, ids: Sequence[int], now: datetime
) -> list[int]:
    """Apply the rules to the locked e-mail rows `ids`: hold or cancel those that are not to
    go out now; return the ids that are."""
    if not ids:
        return []
    rows = await _facts(session, settings, ids)
    counted = await _counted(
        session, {r.employee_id for r in rows if r.employee_id is not None}, ids, now
    )
    send: list[int] = []
    holds: list[dict[str, Any]] = []
    cancels: list[dict[str, Any]] = []
    in_batch: dict[uuid.UUID, int] = defaultdict(int)
    for r in rows:
        if r.employee_id is None:  # the sender cancels it
            send.append(r.id)
            continue
        stored = None
        if r.p_employee_id is not None:
            stored = _Stored(
                **{c.name: getattr(r, f"p_{c.name}") for c in EmployeePreference.__table__.c}
            )
        prefs = resolve(
            settings,
            stored,
            directory_zone=r.directory_zone,
            country=r.country,
            unsubscribed=bool(r.unsubscribed),
        )
        so_far, oldest = counted.get(r.employee_id, (0, None))
        verdict = decide(
            Facts(
                priority=r.priority,
                category=r.category,
                requires_acknowledgement=bool(r.requires_acknowledgement),
                round=r.round,
                done=bool(r.done),
                cap=int(r.cap),
            ),
            prefs,
            settings,
            now=now,
            counted=so_far + in_batch[r.employee_id],
            oldest=oldest,
        )
        if verdict.action == "send":
            send.append(r.id)
            if r.priority in COUNTED:
                in_batch[r.employee_id] += 1
        elif verdict.action == "cancel":
            cancels.append({"b_id": r.id, "b_reason": verdict.reason})
        else:
            holds.append(
                {
                    "b_id": r.id,
                    "b_reason": verdict.reason,
                    "b_until": verdict.until,
                    "b_period": verdict.digest_period,
                    "b_now": now,
                }
            )
    if holds:
        await session.execute(_HOLD, holds)
    if cancels:
        await session.execute(_CANCEL, cancels)
    return send


class _Stored:
    """A preference row read as columns of a wider row."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


# --- retargeting ---------------------------------------------------------------------------


async def plan_retargeting(session: AsyncSession, *, now: datetime) -> int:
    """Plan the next round of e-mails of every live message with a retargeting rule."""
    messages = (
        await session.execute(
            select(
                Message.id, Message.retarget_after_days, Message.retarget_max, Message.version
            ).where(
                Message.retarget_after_days.is_not(None),
                Message.retarget_max.is_not(None),
                rules.live(now),
            )
        )
    ).all()
    planned = 0
    recipients = Recipient.__table__.c
    later = Delivery.__table__.alias("later")
    for m in messages:
        rows = (
            select(
                _D.c.message_id,
                literal(Channel.EMAIL.value, String()),
                _D.c.employee_id,
                cast(null(), Uuid()),
                literal(PLANNED, String()),
                literal(now, UTCDateTime()),
                literal(0, Integer()),
                literal(m.version, Integer()),
                literal(now, UTCDateTime()),
                _D.c.round + 1,
            )
            .join(
                Recipient.__table__,
                and_(
                    recipients.message_id == _D.c.message_id,
                    recipients.employee_id == _D.c.employee_id,
                ),
            )
            .join(Message, Message.id == _D.c.message_id)
            .join(Employee, Employee.id == _D.c.employee_id)
            .where(
                _D.c.message_id == m.id,
                _D.c.channel == Channel.EMAIL.value,
                _D.c.state.in_((DeliveryState.SENT.value, DeliveryState.DIGESTED.value)),
                _D.c.sent_at <= now - timedelta(days=m.retarget_after_days),
                _D.c.round < m.retarget_max,
                Employee.active.is_(True),
                or_(
                    and_(
                        Message.requires_acknowledgement.is_(False),
                        recipients.read_at.is_(None),
                    ),
                    and_(Message.requires_acknowledgement.is_(True), rules.not_acknowledged()),
                ),
                ~exists().where(
                    later.c.message_id == _D.c.message_id,
                    later.c.channel == _D.c.channel,
                    later.c.employee_id == _D.c.employee_id,
                    later.c.round > _D.c.round,
                ),
            )
        )
        result = await session.execute(
            _INSERT[session].from_select(
                (
                    "message_id",
                    "channel",
                    "employee_id",
                    "chat_target_id",
                    "state",
                    "not_before",
                    "attempts",
                    "version",
                    "planned_at",
                    "round",
                ),
                rows,
            )
        )
        planned += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return planned
