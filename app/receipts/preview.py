"""What publishing a message would do to inboxes now: `GET /v1/messages/{id}/delivery-preview`.

One grouped statement over the message's audience: employees are counted per combination of
what the inbox rules look at (their time zone inputs, digest and quiet-hour preferences,
whether the message's category is turned off for them, whether they unsubscribed, their
e-mails of the last 7 days up to the cap); then `inbox.decide` — the rules' one definition —
judges each combination once, and its count goes to the verdict. So the preview and the
sender never disagree, and 100,000 recipients are a few hundred groups, not 100,000 rows.
"""

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audiences.rules import Compiler
from app.audiences.service import message_audience_specs
from app.core import sql
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import NotFound
from app.core.principal import Principal
from app.employees.models import Employee
from app.messages.models import Message
from app.preferences.models import EmployeePreference
from app.preferences.service import resolve
from app.receipts.fatigue import check_moment
from app.receipts.inbox import COUNTED, WINDOW, Facts, decide
from app.receipts.models import Channel, Delivery, DeliveryState, OptOut
from app.receipts.schemas import DeliveryPreview, EmailPreview

_PREF = EmployeePreference.__table__.c


class _Prefs:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _kind(reason: str | None) -> str:
    if reason is None:
        return "cancelled"
    if "digest" in reason:
        return "digest"
    if "quiet hours" in reason:
        return "held_by_quiet_hours"
    return "held_by_cap"


async def delivery_preview(
    session: AsyncSession,
    _principal: Principal,
    *,
    settings: Settings,
    message_id: uuid.UUID,
    at: datetime | None = None,
) -> DeliveryPreview:
    check_moment("query.at", at)
    now = at or utcnow()
    message = (
        await session.execute(select(Message).where(Message.id == message_id))
    ).scalar_one_or_none()
    if message is None:
        raise NotFound("No message with this id.")
    specs = [spec for _, spec in await message_audience_specs(session, message_id=message_id)]
    dialect = sql.dialect_of(session)
    members = Compiler(dialect=dialect, today=now.date()).members(specs)
    cap = (
        message.email_max_per_week
        if message.email_max_per_week is not None
        else (settings.email_max_per_week)
    )
    sent = (
        select(
            Delivery.employee_id,
            func.count().label("n"),
            func.min(Delivery.sent_at).label("oldest"),
        )
        .join(Message, Message.id == Delivery.message_id)
        .where(
            Delivery.channel == Channel.EMAIL.value,
            Delivery.state == DeliveryState.SENT.value,
            Delivery.sent_at > now - WINDOW,
            Message.priority.in_(COUNTED),
        )
        .group_by(Delivery.employee_id)
        .subquery("sent")
    )
    counted = func.coalesce(sent.c.n, 0)
    keys = (
        Employee.time_zone.label("directory_zone"),
        Employee.country,
        (Employee.email.is_not(None)).label("has_address"),
        _PREF.employee_id.is_not(None).label("has_prefs"),
        _PREF.digest,
        _PREF.digest_hour,
        _PREF.quiet_start,
        _PREF.quiet_end,
        _PREF.time_zone,
        func.coalesce(
            sql.json_array_contains(dialect, _PREF.email_off, message.category), False
        ).label("category_off"),
        OptOut.employee_id.is_not(None).label("unsubscribed"),
        case((counted >= cap, literal(cap)), else_=counted).label("counted"),
    )
    rows = (
        await session.execute(
            select(*keys, func.count().label("people"), func.min(sent.c.oldest).label("oldest"))
            .select_from(Employee)
            .outerjoin(EmployeePreference.__table__, _PREF.employee_id == Employee.id)
            .outerjoin(sent, sent.c.employee_id == Employee.id)
            .outerjoin(
                OptOut,
                and_(OptOut.employee_id == Employee.id, OptOut.channel == Channel.EMAIL.value),
            )
            .where(members)
            .group_by(*keys)
        )
    ).all()
    totals: Counter[str] = Counter()
    facts = Facts(
        priority=message.priority,
        category=message.category,
        requires_acknowledgement=message.requires_acknowledgement,
        round=0,
        done=False,
        cap=cap,
    )
    for r in rows:
        totals["recipients"] += r.people
        if Channel.EMAIL not in message.channels:
            continue
        if not r.has_address:
            totals["no_address"] += r.people
            continue
        stored = None
        if r.has_prefs:
            stored = _Prefs(
                email_off=[message.category] if r.category_off else [],
                digest=r.digest,
                digest_hour=r.digest_hour,
                quiet_start=r.quiet_start,
                quiet_end=r.quiet_end,
                time_zone=r.time_zone,
            )
        prefs = resolve(
            settings,
            stored,
            directory_zone=r.directory_zone,
            country=r.country,
            unsubscribed=bool(r.unsubscribed),
        )
        if (
            prefs.unsubscribed
            and not message.requires_acknowledgement
            and message.priority != "critical"
        ):
            totals["cancelled"] += r.people
            continue
        verdict = decide(facts, prefs, settings, now=now, counted=int(r.counted), oldest=r.oldest)
        kind = (
            "now"
            if verdict.action == "send"
            else ("cancelled" if verdict.action == "cancel" else _kind(verdict.reason))
        )
        totals[kind] += r.people
    email = None
    if Channel.EMAIL in message.channels:
        email = EmailPreview(
            now=totals["now"],
            digest=totals["digest"],
            held_by_cap=totals["held_by_cap"],
            held_by_quiet_hours=totals["held_by_quiet_hours"],
            cancelled=totals["cancelled"],
            no_address=totals["no_address"],
        )
    return DeliveryPreview(
        at=now,
        recipients=totals["recipients"],
        feed=totals["recipients"],
        email=email,
        chat=len(message.chat_target_ids) if Channel.CHAT in message.channels else None,
    )
