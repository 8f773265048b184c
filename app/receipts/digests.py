"""Digests: one e-mail per employee and period carrying the `normal` messages held for it.

Building (`build_digests`, a few statements for every employee at once):
1. rows held for a digest of an employee who turned digests off go back to `planned`;
2. rows whose digest moment came (`not_before <= now`) but whose recipient has read the
   message meanwhile, or whose message is no longer live, are cancelled with that reason;
3. one `digests` row per (employee, period) with such rows, `INSERT … ON CONFLICT DO
   NOTHING` on the unique (employee, period) — several schedulers, or a run after a crash,
   never make a second one;
4. rows held for a period whose digest has gone out already (held in the moment it was
   claimed) are released to go out alone.
The rows join their digest (`state = 'digested'`, `digest_id`) when a sender claims it, in
the claim's transaction (`_attach`): updating half a million rows at once cost more than all
the rest of a morning's build, and a batch at a time it comes with the sending.
An advisory lock keeps two PostgreSQL schedulers from building at once; the unique key would
be enough for exactly-once, the lock only spares the wasted work.

Sending (`send_digests`) works like the sender's: claim due digests with a lease and a claim
id (`FOR UPDATE SKIP LOCKED`), compose and send outside a transaction, record the results
under the claim id. A sent digest stamps `sent_at` on its rows (retargeting counts from it).
"""

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    Uuid,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import retry, sql
from app.core.config import Settings
from app.core.database import Database, UTCDateTime
from app.core.direct import on_session
from app.editions.serve import (
    EDITION_COLUMNS,
    EDITION_TEXTS,
    EDITIONS_TABLE,
    EditionText,
    served_content,
    served_edition_on,
)
from app.employees.models import Employee
from app.messages.locales import preferences
from app.messages.models import Message
from app.preferences.models import EmployeePreference
from app.receipts import claims, rules
from app.receipts.channels import email
from app.receipts.links import link_for
from app.receipts.models import Channel, Delivery, DeliveryState, Digest, OptOut, Recipient

logger = logging.getLogger("brandcast.digests")

_ADVISORY_LOCK_KEY = 0x6272_6463_6467  # "brdcdg"
HELD = DeliveryState.HELD.value
PLANNED = DeliveryState.PLANNED.value
SENDING = DeliveryState.SENDING.value
_INSERT_DIGESTS = sql.insert_ignore(Digest.__table__)
DIGEST_MESSAGE_FIELDS = (
    "id",
    "locale",
    "title",
    "summary",
    "body",
    "translations",
    "acknowledgement_text",
    "locked",
)


def _held_for_digest() -> Any:
    return and_(
        Delivery.state == HELD,
        Delivery.digest_period.is_not(None),
        Delivery.channel == Channel.EMAIL.value,
    )


def _due(now: datetime) -> Any:
    return and_(_held_for_digest(), Delivery.not_before <= now)


async def build_digests(session: AsyncSession, settings: Settings, *, now: datetime) -> int:
    """Build every digest whose moment came; returns how many were created."""
    if not await sql.try_advisory_lock(session, _ADVISORY_LOCK_KEY):
        return 0
    chosen = (
        select(EmployeePreference.digest)
        .where(EmployeePreference.employee_id == Delivery.employee_id)
        .scalar_subquery()
    )
    await session.execute(
        update(Delivery)
        .where(_held_for_digest(), func.coalesce(chosen, settings.default_digest) == "off")
        .values(
            state=PLANNED,
            not_before=now,
            digest_period=None,
            released_at=now,
            reason="released: the employee turned the digest off",
        )
    )
    recipients = Recipient.__table__.c
    read = exists().where(
        recipients.message_id == Delivery.message_id,
        recipients.employee_id == Delivery.employee_id,
        recipients.read_at.is_not(None),
    )
    live = exists().where(Message.id == Delivery.message_id, rules.live(now))
    unsubscribed = exists().where(
        OptOut.employee_id == Delivery.employee_id, OptOut.channel == Channel.EMAIL.value
    )
    for condition, reason in (
        (~live, "the message is no longer live"),
        (read, "read before the digest went out"),
        (unsubscribed, "the employee unsubscribed"),
    ):
        await session.execute(
            update(Delivery)
            .where(_due(now), condition)
            .values(state=DeliveryState.CANCELLED.value, reason=reason)
        )

    build_id = uuid.uuid4()
    periods = (
        select(
            Delivery.employee_id,
            Delivery.digest_period,
            case(
                (Delivery.digest_period.like("%-W%"), literal("weekly", String())),
                else_=literal("daily", String()),
            ),
            literal(PLANNED, String()),
            literal(now, UTCDateTime()),
            literal(build_id, Uuid()),
            literal(now, UTCDateTime()),
        )
        .where(_due(now))
        .group_by(Delivery.employee_id, Delivery.digest_period)
        .order_by(Delivery.employee_id, Delivery.digest_period)
    )
    result = await session.execute(
        _INSERT_DIGESTS[session].from_select(
            ("employee_id", "period", "frequency", "state", "not_before", "build_id", "created_at"),
            periods,
        )
    )
    created = max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    # held for a period whose digest went (or is going) out already: they go out alone
    gone = exists().where(
        Digest.employee_id == Delivery.employee_id,
        Digest.period == Delivery.digest_period,
        Digest.state != PLANNED,
    )
    await session.execute(
        update(Delivery)
        .where(_due(now), gone)
        .values(
            state=PLANNED,
            digest_period=None,
            released_at=now,
            reason="released: its digest had gone out already",
        )
    )
    return created


# --- sending -------------------------------------------------------------------------------


def digest_entry(
    message: Mapping[str, Any], employee_locale: str | None, edition: EditionText | None = None
) -> tuple[str, str, str | None]:
    """(locale, title, summary) of a message as this employee is served it: their local
    edition, if one is served, in their best locale (`app.editions.serve.served_content`, what
    the feed and the e-mail serve)."""
    served = served_content(
        preferences(None, employee_locale),
        locale=message["locale"],
        title=message["title"],
        summary=message["summary"],
        body=message["body"],
        translations=message["translations"] or {},
        acknowledgement_text=message["acknowledgement_text"],
        locked=message["locked"] or (),
        edition=edition,
    )
    return served.locale, served.title, served.summary


def _digest_due(now: datetime) -> Any:
    return and_(
        Digest.state.in_((PLANNED, SENDING)),
        or_(
            and_(Digest.state == PLANNED, Digest.not_before <= now),
            and_(Digest.state == SENDING, Digest.claimed_until <= now),
        ),
    )


def _ids(session: AsyncSession) -> Any:
    return claims.in_ids(session, Digest)


async def _claim(
    session: AsyncSession, settings: Settings, now: datetime
) -> tuple[uuid.UUID, list[int]] | None:
    ids = list(
        (
            await session.execute(
                select(Digest.id)
                .where(_digest_due(now))
                .order_by(Digest.not_before, Digest.id)
                .limit(settings.delivery_batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return None
    claim_id = await claims.mark_claimed(
        session, Digest, ids, lease_seconds=settings.delivery_lease_seconds, now=now
    )
    await _attach(session, ids, now)
    return claim_id, ids


async def _attach(session: AsyncSession, ids: list[int], now: datetime) -> None:
    """The held rows of the claimed digests become theirs (`digested`), in the claim's
    transaction: joined updates (UPDATE … FROM), a batch of digests at a time, so a
    morning's build stays a few statements and this cost comes with the sending."""
    await session.execute(
        update(Delivery)
        .where(
            _held_for_digest(),
            _ids(session),
            Digest.employee_id == Delivery.employee_id,
            Digest.period == Delivery.digest_period,
        )
        .values(
            state=DeliveryState.DIGESTED.value,
            digest_id=Digest.id,
            released_at=now,
            reason=func.substr(
                literal("in the digest of ", String()) + Delivery.digest_period, 1, 200
            ),
        ),
        {"ids": ids},
    )
    counts = (
        select(Delivery.digest_id, func.count().label("n"))
        .where(sql.in_bound_list(sql.dialect_of(session), Delivery.digest_id, "ids", BigInteger()))
        .group_by(Delivery.digest_id)
        .subquery("counts")
    )
    await session.execute(
        update(Digest).where(Digest.id == counts.c.digest_id).values(items=counts.c.n),
        {"ids": ids},
    )


async def _items(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per claimed digest: its employee and its entries' deliveries and messages."""
    rows = (
        await session.execute(
            select(
                Digest.id.label("digest_id"),
                Digest.attempts,
                Digest.first_attempt_at,
                Employee.email,
                Employee.display_name,
                Employee.locale,
                Employee.active,
                Delivery.id.label("delivery_id"),
                *(getattr(Message, f).label(f"m_{f}") for f in DIGEST_MESSAGE_FIELDS),
                *EDITION_COLUMNS,
            )
            .join(Employee, Employee.id == Digest.employee_id)
            .join(Delivery, Delivery.digest_id == Digest.id)
            .join(Message, Message.id == Delivery.message_id)
            .outerjoin(
                Recipient,
                and_(
                    Recipient.message_id == Delivery.message_id,
                    Recipient.employee_id == Delivery.employee_id,
                ),
            )
            .outerjoin(EDITIONS_TABLE, served_edition_on(Recipient.edition_id))
            .where(_ids(session))
            .order_by(Digest.id, Delivery.id),
            {"ids": ids},
        )
    ).all()
    editions = await EDITION_TEXTS.texts(
        on_session(session), {(r.edition_id, r.edition_revision) for r in rows if r.edition_id}
    )
    digests: dict[int, dict[str, Any]] = {}
    for r in rows:
        d = digests.setdefault(
            r.digest_id,
            {
                "attempts": r.attempts,
                "first_attempt_at": r.first_attempt_at,
                "address": r.email,
                "name": r.display_name,
                "locale": r.locale,
                "active": bool(r.active),
                "entries": [],
            },
        )
        d["entries"].append(
            (
                r.delivery_id,
                {f: getattr(r, f"m_{f}") for f in DIGEST_MESSAGE_FIELDS},
                editions.get(r.edition_id) if r.edition_id else None,
            )
        )
    return digests


async def send_digests(
    db: Database, settings: Settings, pool: email.SMTPPool, *, now: datetime
) -> dict[str, int]:
    """Claim one batch of due digests, send them, record the results."""
    async with db.session_scope() as session:
        claimed = await _claim(session, settings, now)
        digests = await _items(session, claimed[1]) if claimed else {}
    if claimed is None:
        return {}
    claim_id, ids = claimed
    assert settings.email_from
    envelope_from = parseaddr(settings.email_from)[1]
    date = email.smtp_date()
    outcomes: dict[str, list[tuple[int, str | None, str | None]]] = defaultdict(list)
    to_send: list[tuple[int, dict[str, Any], bytes, str]] = []
    domain = envelope_from.rpartition("@")[2] or "brandcast.invalid"
    for digest_id in ids:
        d = digests.get(digest_id)
        if d is None:
            outcomes["cancelled"].append((digest_id, "nothing left to send", None))
            continue
        if not d["active"]:
            outcomes["cancelled"].append((digest_id, "the employee is not active", None))
            continue
        if not d["address"]:
            outcomes["failed"].append((digest_id, "the employee has no e-mail address", None))
            continue
        entries = []
        for delivery_id, message, edition in d["entries"]:
            locale, title, summary = digest_entry(message, d["locale"], edition)
            link = link_for(delivery_id, settings, now=now)
            entries.append(email.DigestEntry(locale, title, summary, link))
        own = (d["locale"] or entries[0].locale).split("-", 1)[0]
        data = email.compose(
            email.build_digest(own, entries),
            sender=settings.email_from,
            to_address=d["address"],
            to_name=d["name"],
            message_id=f"<digest-{digest_id}@{domain}>",
            link="",
            unsubscribe=f"{entries[0].link}/unsubscribe",
            date=date,
        )
        to_send.append((digest_id, d, data, own))

    async def _one(digest_id: int, d: dict[str, Any], data: bytes, own: str) -> None:
        result = await pool.send(envelope_from, d["address"], data)
        if result.ok:
            outcomes["sent"].append((digest_id, None, own))
            return
        started = d["first_attempt_at"] or now
        delay = timedelta(
            seconds=retry.backoff(
                d["attempts"],
                base_seconds=settings.delivery_retry_base_seconds,
                max_delay_seconds=settings.delivery_retry_max_delay_seconds,
            )
        )
        give_up = now + delay > started + timedelta(hours=settings.delivery_retry_hours)
        kind = "failed" if result.permanent or give_up else "retry"
        outcomes[kind].append((digest_id, result.error, (now + delay).isoformat()))

    await asyncio.gather(*(_one(*item) for item in to_send))
    async with db.session_scope() as session:
        await _record(session, claim_id, outcomes, now=now)
    return {kind: len(rows) for kind, rows in outcomes.items()}


async def _record(
    session: AsyncSession,
    claim_id: uuid.UUID,
    outcomes: Mapping[str, list[tuple[int, str | None, str | None]]],
    *,
    now: datetime,
) -> None:
    mine = and_(Digest.claim_id == claim_id, Digest.state == SENDING)
    done = {"claimed_until": None, "claim_id": None}
    ids = _ids(session)
    groups: dict[tuple[str, str | None, str | None], list[int]] = defaultdict(list)
    for kind, rows in outcomes.items():
        for digest_id, error, extra in rows:
            if kind == "sent":
                groups[(kind, None, extra)].append(digest_id)
            elif kind == "retry":
                groups[(kind, error, extra)].append(digest_id)
            else:
                groups[(kind, error, None)].append(digest_id)
    for (kind, error, extra), group in groups.items():
        values: dict[str, Any]
        if kind == "sent":
            values = {"state": DeliveryState.SENT.value, "sent_at": now, "locale": extra}
        elif kind == "retry":
            assert extra is not None
            values = {
                "state": PLANNED,
                "last_error": error,
                "not_before": datetime.fromisoformat(extra),
            }
        else:
            values = {"state": kind, "last_error": error}
        await session.execute(
            update(Digest).where(mine, ids).values(**values, **done), {"ids": group}
        )
    sent = [digest_id for digest_id, _, _ in outcomes.get("sent", [])]
    if sent:
        await session.execute(
            update(Delivery)
            .where(
                sql.in_bound_list(sql.dialect_of(session), Delivery.digest_id, "ids", BigInteger())
            )
            .values(sent_at=now),
            {"ids": sent},
        )
