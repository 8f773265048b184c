"""The calling employee: their record and their feed.

The feed is the hottest path of the service: it answers from one Core statement selecting
only the columns it returns (never ORM entities), with visibility from `app.receipts.access`.
The caller's reaction and pulse answer are correlated subqueries on the recipient row (primary
key lookups), and the reaction counts one over the message's few count rows, so the feed stays
one statement whatever the number of reactions. Reads and acknowledgements are
`app.receipts.acknowledgements`.
"""

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.auth.signin import SignedInEmployee, profile_of
from app.core import sql
from app.core.database import JSONType, utcnow
from app.core.errors import NotFound
from app.core.pagination import Page, PageParams, encode_cursor, keyset
from app.core.principal import Principal
from app.feedback.counts import reaction_counts, reaction_counts_column
from app.feedback.service import localized_pulse_question, my_pulse_column, my_reaction_column
from app.me.schemas import FeedItem, FeedState, MeOut
from app.messages.locales import localized
from app.messages.models import DEFAULT_FEEDBACK, Category, Message
from app.receipts import rules
from app.receipts.access import visible_to
from app.receipts.models import Recipient


async def get_me(
    session: AsyncSession, principal: Principal, *, signed_in: SignedInEmployee | None = None
) -> MeOut:
    """The caller's record; reuses what sign-in loaded when it is handed over."""
    if signed_in is None or signed_in.id != principal.employee_id:
        signed_in = await profile_of(session, principal.employee_id)
        if signed_in is None:
            raise NotFound("Your employee record no longer exists.")
    return MeOut.model_validate(dict(signed_in.record))


def translations_in_languages(dialect: str) -> ColumnElement[Any]:
    """The message's translations whose language is one of the `languages` parameter (a list
    of bare language codes): the only ones `choose_locale` can serve to preferences in those
    languages. A feed page otherwise carries every translation of its messages (about 10 KB of
    JSON a message in the company bench, 80% of the page) to be decoded and mostly dropped."""
    each = sql.json_object_entries(dialect, Message.translations, name="t")
    language = sql.text_before(dialect, func.lower(each.c.key), "-")
    chosen = sql.json_object_agg(dialect, each.c.key, each.c.value)
    wanted = sql.in_bound_list(dialect, language, "languages")
    return type_coerce(select(chosen).where(wanted).scalar_subquery(), JSONType)


def languages_of(prefs: Sequence[str]) -> list[str]:
    """The `languages` parameter of `translations_in_languages` for these preferences."""
    return sorted({pref.split("-", 1)[0] for pref in prefs})


@lru_cache(maxsize=4)
def feed_columns(dialect: str) -> tuple[Any, ...]:
    """What a feed item is made of; execute with `{"languages": languages_of(prefs)}`."""
    return (
        Message.id,
        Message.category,
        Message.priority,
        Message.title,
        Message.summary,
        Message.body,
        Message.locale,
        translations_in_languages(dialect).label("translations"),
        Message.tags,
        Message.requires_acknowledgement,
        Message.acknowledgement_text,
        Message.version,
        Message.acknowledgement_version,
        Message.published_at,
        Message.expires_at,
        Recipient.read_at,
        Recipient.acknowledged_at,
        Recipient.acknowledged_version,
        Recipient.due_at,
        Message.pulse_question,
        Message.feedback,
        reaction_counts_column(Recipient.message_id).label("reaction_counts"),
        my_reaction_column(Recipient.employee_id, Recipient.message_id).label("my_reaction"),
        my_pulse_column(Recipient.employee_id, Recipient.message_id).label("my_pulse"),
    )


def _feed_item(row: Any, prefs: Sequence[str]) -> dict[str, Any]:
    locale, title, summary, body = localized(row, prefs)
    current = rules.is_acknowledged(row.acknowledged_version, row.acknowledgement_version)
    return {
        "id": row.id,
        "category": row.category,
        "priority": row.priority,
        "title": title,
        "summary": summary,
        "body": body,
        "locale": locale,
        "tags": row.tags,
        "requires_acknowledgement": row.requires_acknowledgement,
        "acknowledgement_text": row.acknowledgement_text,
        "version": row.version,
        "published_at": row.published_at,
        "expires_at": row.expires_at,
        "read_at": row.read_at,
        "acknowledged_at": row.acknowledged_at if current else None,
        "acknowledge_by": row.due_at if row.requires_acknowledgement else None,
        "pulse_question": localized_pulse_question(row.pulse_question, row.translations, locale),
        "feedback": {k: row.feedback.get(k, default) for k, default in DEFAULT_FEEDBACK.items()},
        "reactions": reaction_counts(row.reaction_counts),
        "my_reaction": row.my_reaction,
        "my_pulse": row.my_pulse,
    }


async def list_feed(
    session: AsyncSession,
    principal: Principal,
    *,
    page: PageParams,
    prefs: Sequence[str] = (),
    state: FeedState | None = None,
    category: Category | None = None,
) -> Page[FeedItem]:
    """The caller's live messages, newest publication first, localized by `prefs`.

    One statement: the caller's recipient rows (index on `employee_id, message_id`) joined to
    their messages, keyset-paginated on `(published_at, id)`, with the feedback subqueries of
    `feed_columns` (evaluated for the page's rows only, after the sort and limit).
    """
    stmt = visible_to(principal, utcnow(), *feed_columns(sql.dialect_of(session)))
    if state is FeedState.UNREAD:
        stmt = stmt.where(Recipient.read_at.is_(None))
    elif state is FeedState.UNACKNOWLEDGED:
        stmt = stmt.where(rules.awaiting())
    if category is not None:
        stmt = stmt.where(Message.category == category)
    stmt = keyset(stmt, page, [Message.published_at, Message.id])
    rows = (await session.execute(stmt, {"languages": languages_of(prefs)})).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    last = rows[-1] if more else None
    # one validation of plain values in pydantic's core: measured 4x cheaper than building
    # each item with `model_construct`; the response then serializes without re-validating
    return Page[FeedItem].model_validate(
        {
            "items": [_feed_item(row, prefs) for row in rows],
            "next_cursor": encode_cursor((last.published_at, last.id)) if last else None,
        }
    )


async def get_feed_item(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID, prefs: Sequence[str] = ()
) -> FeedItem:
    """One of the caller's live messages; 404 when it is not (or no longer) in their feed."""
    columns = feed_columns(sql.dialect_of(session))
    stmt = visible_to(principal, utcnow(), *columns).where(Recipient.message_id == message_id)
    row = (await session.execute(stmt, {"languages": languages_of(prefs)})).one_or_none()
    if row is None:
        raise NotFound("No message with this id was sent to you.")
    return FeedItem.model_validate(_feed_item(row, prefs))
