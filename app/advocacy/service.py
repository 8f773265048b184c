"""Employee advocacy from the employee's side and the company's guard rails: sharing a message,
the caller's own shares, the leaderboard opt-in and the leaderboard, the blocked words.

Sharing goes through `app.receipts.access` like every employee action: 404 unless the caller is
a recipient, 409 once the message is closed, and 409 when the message is not shareable.
"""

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.advocacy import rules
from app.advocacy.models import AdvocacyProfile, BlockedWord, MessageSharing, Network, Share
from app.advocacy.schemas import (
    BlockedWordsOut,
    LeaderboardOut,
    LeaderboardRow,
    MyAdvocacyOut,
    MyShareOut,
    ShareOut,
)
from app.audit.service import record
from app.core import sql
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import Conflict, ServiceUnavailable, ValidationFailed, field_error
from app.core.pagination import PageParams, keyset, make_page
from app.core.principal import Principal
from app.employees.models import Employee
from app.messages.locales import choose_locale
from app.messages.models import Message
from app.receipts.access import open_delivery_for
from app.webhooks.models import EventType
from app.webhooks.outbox import emit

CODE_BYTES = 8  # 11 characters of base64url: 2^64 codes, not guessable
DEFAULT_LEADERBOARD_PERIOD = timedelta(days=30)


def short_link(settings: Settings, code: str) -> str:
    assert settings.public_url
    return f"{settings.public_url.rstrip('/')}/s/{code}"


# --- blocked words -------------------------------------------------------------------------


async def blocked_words(session: AsyncSession, settings: Settings) -> set[str]:
    """Every blocked word: the setting's and those set through the API."""
    stored = (await session.execute(select(BlockedWord.word))).scalars().all()
    return {*rules.words_from_setting(settings.share_blocked_words), *stored}


async def get_blocked_words(
    session: AsyncSession, _principal: Principal, *, settings: Settings
) -> BlockedWordsOut:
    stored = (await session.execute(select(BlockedWord.word).order_by(BlockedWord.word))).scalars()
    return BlockedWordsOut(
        words=list(stored),
        from_settings=sorted(set(rules.words_from_setting(settings.share_blocked_words))),
    )


async def set_blocked_words(
    session: AsyncSession, principal: Principal, *, words: Sequence[str], settings: Settings
) -> BlockedWordsOut:
    """Replace the blocked words set through the API (the setting's stay)."""
    wanted = sorted({w for w in (rules.normalize_word(word) for word in words) if w})
    current = set((await session.execute(select(BlockedWord.word))).scalars())
    if set(wanted) != current:
        now = utcnow()
        await session.execute(delete(BlockedWord).where(BlockedWord.word.not_in(wanted)))
        new = [w for w in wanted if w not in current]
        if new:
            await session.execute(
                insert(BlockedWord),
                [{"word": w, "created_by": principal.actor, "created_at": now} for w in new],
            )
        await record(
            session,
            principal,
            action="advocacy.blocked_words_set",
            entity_type="advocacy",
            entity_id="blocked-words",
            details={"added": new, "removed": sorted(current - set(wanted))},
        )
    return await get_blocked_words(session, principal, settings=settings)


# --- sharing -------------------------------------------------------------------------------


def _suggested_text(
    texts: dict[str, dict[str, str]], network: Network, prefs: Sequence[str], own_locale: str
) -> tuple[str | None, str | None]:
    """(locale, text) of the message's suggested text for `network` in the caller's best
    locale, the `generic` text where the network has none; (None, None) without one."""
    usable = {
        locale: by_network.get(network.value) or by_network.get(Network.GENERIC.value)
        for locale, by_network in texts.items()
    }
    usable = {locale: text for locale, text in usable.items() if text}
    if not usable:
        return None, None
    # `choose_locale` picks among a message's own locale and its translations: here every
    # locale with a text is a "translation", and the message's own locale is the tie-breaker
    own = own_locale if own_locale in usable else sorted(usable)[0]
    locale = choose_locale(prefs, own, {k: v for k, v in usable.items() if k != own})
    return locale, usable[locale]


async def share_message(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    network: Network,
    text: str | None,
    prefs: Sequence[str],
    settings: Settings,
) -> ShareOut:
    """Record a share of a shareable message and give the caller its text and short link."""
    now = utcnow()
    await open_delivery_for(session, principal, message_id=message_id, now=now)
    row = (
        await session.execute(
            select(MessageSharing, Message.locale)
            .join(Message, Message.id == MessageSharing.message_id)
            .where(MessageSharing.message_id == message_id)
        )
    ).one_or_none()
    if row is None or not row.MessageSharing.shareable or not row.MessageSharing.share_url:
        raise Conflict("This message is not one employees may share.")
    if not settings.public_url:
        raise ServiceUnavailable(
            "Sharing is not configured: BRANDCAST_PUBLIC_URL (where short links point) is unset."
        )
    sharing = row.MessageSharing
    locale = None
    if text is None:
        locale, text = _suggested_text(sharing.texts or {}, network, prefs, row.locale)
        if text is None:
            raise ValidationFailed(
                [
                    field_error(
                        "body.text", "this message suggests no text for this network: write one"
                    )
                ]
            )
    final = rules.with_signature(text, sharing.signature)
    word = rules.blocked_word_in(final, await blocked_words(session, settings))
    if word is not None:
        raise ValidationFailed(
            [field_error("body.text", f"contains the blocked word '{word}'", "blocked_word")],
            detail=f"The text contains the blocked word '{word}'.",
        )
    if (problem := rules.length_problem(network, final)) is not None:
        raise ValidationFailed([field_error("body.text", problem, "too_long")])
    share = Share(
        code=secrets.token_urlsafe(CODE_BYTES),
        message_id=message_id,
        employee_id=principal.employee_id,
        network=network.value,
        locale=locale,
        text=final,
        created_at=now,
    )
    session.add(share)
    await session.flush()
    await record(
        session,
        principal,
        action="message.shared",
        entity_type="message",
        entity_id=message_id,
        details={"share_id": str(share.id), "network": network.value},
    )
    await emit(
        session,
        type=EventType.MESSAGE_SHARED,
        message_id=message_id,
        data={
            "share_id": share.id,
            "message_id": message_id,
            "network": network.value,
            "locale": locale,
            "employee_id": principal.employee_id,
            "employee_external_id": principal.external_id,
            "shared_at": now,
            "url": f"/v1/messages/{message_id}",
        },
    )
    return ShareOut(
        id=share.id,
        message_id=message_id,
        network=network,
        locale=locale,
        text=final,
        link=short_link(settings, share.code),
        created_at=now,
    )


# --- the caller's figures ------------------------------------------------------------------


async def my_advocacy(
    session: AsyncSession, principal: Principal, *, page: PageParams, settings: Settings
) -> MyAdvocacyOut:
    """The caller's shares, newest first, each with its clicks; and their totals."""
    mine = Share.employee_id == principal.employee_id
    totals = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Share.clicks), 0)).where(mine)
        )
    ).one()
    stmt = keyset(select(Share).where(mine), page, [Share.created_at, Share.id])
    rows = (await session.execute(stmt)).scalars().all()
    link = (
        (lambda code: short_link(settings, code)) if settings.public_url else (lambda c: f"/s/{c}")
    )
    listed = make_page(
        rows,
        page,
        lambda r: (r.created_at, r.id),
        lambda r: MyShareOut(
            id=r.id,
            message_id=r.message_id,
            network=Network(r.network),
            locale=r.locale,
            text=r.text,
            link=link(r.code),
            created_at=r.created_at,
            clicks=r.clicks,
        ),
    )
    return MyAdvocacyOut(
        shares=totals[0],
        clicks=int(totals[1] or 0),
        leaderboard_opt_in=await get_leaderboard_opt_in(session, employee_id=principal.employee_id),
        items=listed.items,
        next_cursor=listed.next_cursor,
    )


# --- the leaderboard -----------------------------------------------------------------------
# The opt-in is read and written only through these two functions; employees set it with
# `PUT /v1/me/preferences` (`advocacy_leaderboard`, app/preferences).


async def get_leaderboard_opt_in(session: AsyncSession, *, employee_id: uuid.UUID | None) -> bool:
    """Whether the employee chose to appear on the leaderboard (False unless they did)."""
    stmt = select(AdvocacyProfile.leaderboard_opt_in).where(
        AdvocacyProfile.employee_id == employee_id
    )
    return bool((await session.execute(stmt)).scalar_one_or_none())


async def set_leaderboard_opt_in(
    session: AsyncSession, principal: Principal, *, employee_id: uuid.UUID, opt_in: bool
) -> bool:
    """Record the employee's choice (repeating it changes nothing); returns it. Whether
    `principal` may make it is the caller's rule (`app.preferences.service`)."""
    now = utcnow()
    stmt = sql.upsert(
        session,
        AdvocacyProfile,
        {"employee_id": employee_id, "leaderboard_opt_in": opt_in, "updated_at": now},
        index_elements=["employee_id"],
        set_={"leaderboard_opt_in": opt_in, "updated_at": now},
        where=AdvocacyProfile.leaderboard_opt_in != opt_in,
    ).returning(AdvocacyProfile.employee_id)
    if (await session.execute(stmt)).first() is not None:
        await record(
            session,
            principal,
            action="advocacy.leaderboard_opt_in" if opt_in else "advocacy.leaderboard_opt_out",
            entity_type="employee",
            entity_id=employee_id,
        )
    return opt_in


async def leaderboard(
    session: AsyncSession,
    _principal: Principal,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> LeaderboardOut:
    """The employees who opted in, by the clicks and shares of their shares made in
    `[since, until)` (default: the 30 days up to now). Nobody else appears, not even as a rank."""
    until = until or utcnow()
    since = since or until - DEFAULT_LEADERBOARD_PERIOD
    if since >= until:
        raise ValidationFailed([field_error("query.since", "must be before `until`")])
    period = (Share.created_at >= since, Share.created_at < until)
    shares = func.count().label("shares")
    total_clicks = func.coalesce(func.sum(Share.clicks), 0).label("clicks")
    stmt = (
        select(Employee.display_name, Employee.department, shares, total_clicks)
        .select_from(Share)
        .join(AdvocacyProfile, AdvocacyProfile.employee_id == Share.employee_id)
        .join(Employee, Employee.id == Share.employee_id)
        .where(
            AdvocacyProfile.leaderboard_opt_in == true(),
            Employee.active == true(),
            *period,
        )
        .group_by(Employee.id, Employee.display_name, Employee.department)
        .order_by(total_clicks.desc(), shares.desc(), Employee.display_name, Employee.id)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    return LeaderboardOut(
        since=since,
        until=until,
        items=[
            LeaderboardRow(
                rank=n,
                display_name=r.display_name,
                department=r.department,
                shares=r.shares,
                clicks=int(r.clicks or 0),
            )
            for n, r in enumerate(rows, start=1)
        ],
    )


async def forget_sharer(session: AsyncSession, *, employee_id: uuid.UUID) -> None:
    """An erased employee's shares stay in the figures (by unit, through the anonymized employee
    row) without their words, and they leave the leaderboard."""
    await session.execute(update(Share).where(Share.employee_id == employee_id).values(text=""))
    await session.execute(delete(AdvocacyProfile).where(AdvocacyProfile.employee_id == employee_id))
