"""The calling employee: their record and their feed.

The feed is the hottest path of the service. It is one statement, compiled once and run on the
driver (`app.core.direct`): the caller's recipient rows read in the order of an index on
(employee_id, published_at, message_id), newest first, joined to their live messages and
stopped after a page, so its cost follows the page, not the number of messages a company has
published. It selects what an item shows but the long texts, which come from the per-process
cache of `app.messages.content` (validated by the message's revision). The caller's reaction
and pulse answer are correlated subqueries on the recipient row (primary-key lookups), the
reaction counts one over the message's few count rows. Items are plain values, serialized once
by the router. Reads and acknowledgements are `app.receipts.acknowledgements`.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, Uuid, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.signin import SignedInEmployee, profile_of
from app.core.database import UTCDateTime, utcnow
from app.core.direct import Direct, Prepared, Row, on_session
from app.core.errors import NotFound
from app.core.pagination import PageParams, cursor_after, encode_cursor
from app.core.principal import Principal
from app.editions.serve import (
    EDITION_COLUMNS,
    EDITION_TEXTS,
    EDITIONS_TABLE,
    EditionText,
    served_content,
    served_edition_on,
)
from app.feedback.counts import reaction_counts, reaction_counts_column
from app.feedback.service import localized_pulse_question, my_pulse_column, my_reaction_column
from app.me.schemas import FeedState, MeOut
from app.messages.content import Content, ContentCache
from app.messages.models import DEFAULT_FEEDBACK, Category, Message
from app.quizzes import rules as quizzes
from app.quizzes.service import standing, standing_column
from app.receipts import rules
from app.receipts.models import Recipient

_R = Recipient.__table__.c
_M = Message.__table__.c


async def get_me(
    session: AsyncSession, principal: Principal, *, signed_in: SignedInEmployee | None = None
) -> MeOut:
    """The caller's record; reuses what sign-in loaded when it is handed over."""
    if signed_in is None or signed_in.id != principal.employee_id:
        assert principal.employee_id is not None
        signed_in = await profile_of(on_session(session), principal.employee_id)
        if signed_in is None:
            raise NotFound("Your employee record no longer exists.")
    return MeOut.model_validate(dict(signed_in.record))


# What a feed item is made of, besides the long texts.
_ITEM_COLUMNS = (
    _R.message_id,
    _M.revision,
    _M.category,
    _M.priority,
    _M.title,
    _M.summary,
    _M.locale,
    _M.tags,
    _M.requires_acknowledgement,
    _M.acknowledgement_text,
    _M.version,
    _M.acknowledgement_version,
    _R.published_at,
    _M.expires_at,
    _R.read_at,
    _R.acknowledged_at,
    _R.acknowledged_version,
    _R.due_at,
    _M.pulse_question,
    _M.feedback,
    reaction_counts_column(_R.message_id).label("reaction_counts"),
    my_reaction_column(_R.employee_id, _R.message_id).label("my_reaction"),
    my_pulse_column(_R.employee_id, _R.message_id).label("my_pulse"),
    # issue 21: the caller's standing at the quiz in its current round
    standing_column(_R.employee_id, _R.message_id, _M.acknowledgement_version, _M.quiz).label(
        "quiz_standing"
    ),
    *EDITION_COLUMNS,
)


def _items() -> Select[Any]:
    """The caller's live deliveries (`employee_id`, `now` bound at execution)."""
    return (
        select(*_ITEM_COLUMNS)
        .select_from(Recipient.__table__)
        .join(Message.__table__, _M.id == _R.message_id)
        .outerjoin(EDITIONS_TABLE, served_edition_on(_R.edition_id))
        .where(
            _R.employee_id == bindparam("employee_id", type_=Uuid()),
            rules.live(bindparam("now", type_=UTCDateTime())),
        )
    )


@lru_cache(maxsize=16)
def _feed_page(state: FeedState | None, by_category: bool, after: bool) -> Prepared:
    """The feed statement for one combination of filters, built and compiled once."""
    stmt = _items()
    if state is FeedState.UNREAD:
        stmt = stmt.where(_R.read_at.is_(None))
    elif state is FeedState.UNACKNOWLEDGED:
        stmt = stmt.where(rules.awaiting())
    if by_category:
        stmt = stmt.where(_M.category == bindparam("category"))
    if after:
        cursor = tuple_(
            bindparam("after_published_at", type_=UTCDateTime()),
            bindparam("after_id", type_=Uuid()),
        )
        stmt = stmt.where(tuple_(_R.published_at, _R.message_id) < cursor)
    stmt = stmt.order_by(_R.published_at.desc(), _R.message_id.desc()).limit(
        bindparam("limit", type_=Integer())
    )
    return Prepared(lambda _: stmt)


_ONE = Prepared(lambda _: _items().where(_R.message_id == bindparam("message_id", type_=Uuid())))


def feed_item(
    row: Row,
    texts: Content,
    prefs: Sequence[str],
    *,
    body: bool,
    edition: EditionText | None = None,
) -> dict[str, Any]:
    """A feed item (the shape of `FeedItem`) from a row of the feed, the message's texts and
    the recipient's edition (if served)."""
    served = served_content(
        prefs,
        locale=row["locale"],
        title=row["title"],
        summary=row["summary"],
        body=texts.body,
        translations=texts.translations,
        acknowledgement_text=row["acknowledgement_text"],
        locked=texts.locked,
        edition=edition,
    )
    locale = served.locale
    required = row["requires_acknowledgement"]
    current = rules.is_acknowledged(row["acknowledged_version"], row["acknowledgement_version"])
    feedback = row["feedback"] or {}
    return {
        "id": row["message_id"],
        "category": row["category"],
        "priority": row["priority"],
        "title": served.title,
        "summary": served.summary,
        "body": served.body if body else None,
        "locale": locale,
        "edition": served.edition,
        "local_note": served.local_note,
        "tags": row["tags"],
        "requires_acknowledgement": required,
        "acknowledgement_text": served.acknowledgement_text,
        "version": row["version"],
        "published_at": row["published_at"],
        "expires_at": row["expires_at"],
        "read_at": row["read_at"],
        "acknowledged_at": row["acknowledged_at"] if current else None,
        "acknowledge_by": row["due_at"] if required else None,
        "pulse_question": localized_pulse_question(
            row["pulse_question"], texts.translations, locale
        ),
        "feedback": {k: feedback.get(k, default) for k, default in DEFAULT_FEEDBACK.items()},
        "reactions": reaction_counts(row["reaction_counts"]),
        "my_reaction": row["my_reaction"],
        "my_pulse": row["my_pulse"],
        # issue 21: questions and options only (`app.quizzes.rules.view`)
        "quiz": quizzes.view(
            texts.quiz,
            own_locale=row["locale"],
            translations=texts.translations,
            served=locale,
            standing=standing(row["quiz_standing"]),
        )
        if texts.quiz is not None
        else None,
    }


async def _with_texts(
    conn: Direct, cache: ContentCache, rows: Sequence[Row], prefs: Sequence[str], *, body: bool
) -> list[dict[str, Any]]:
    texts = await cache.contents(conn, [(row["message_id"], row["revision"]) for row in rows])
    editions = await EDITION_TEXTS.texts(
        conn, [(row["edition_id"], row["edition_revision"]) for row in rows]
    )
    return [
        feed_item(
            row,
            texts[row["message_id"]],
            prefs,
            body=body,
            edition=editions.get(row["edition_id"]) if row["edition_id"] else None,
        )
        for row in rows
        if row["message_id"] in texts  # a message deleted since: only drafts can be
    ]


async def list_feed(
    conn: Direct,
    principal: Principal,
    *,
    page: PageParams,
    cache: ContentCache,
    prefs: Sequence[str] = (),
    state: FeedState | None = None,
    category: Category | None = None,
    body: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The caller's live messages, newest publication first, localized by `prefs`: a page
    (`{"items": [...], "next_cursor": ...}`) of plain values; bodies only with `body`."""
    after = cursor_after(page, (datetime, uuid.UUID))
    params: dict[str, Any] = {
        "employee_id": principal.employee_id,
        "now": now or utcnow(),
        "limit": page.limit + 1,
    }
    if category is not None:
        params["category"] = category.value
    if after is not None:
        params["after_published_at"], params["after_id"] = after
    statement = _feed_page(state, category is not None, after is not None)
    rows = await conn.fetch(statement, params)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    last = rows[-1] if more else None
    return {
        "items": await _with_texts(conn, cache, rows, prefs, body=body),
        "next_cursor": encode_cursor((last["published_at"], last["message_id"])) if last else None,
    }


async def get_feed_item(
    conn: Direct,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    cache: ContentCache,
    prefs: Sequence[str] = (),
) -> dict[str, Any]:
    """One of the caller's live messages, with its body; 404 when it is not in their feed."""
    params = {"employee_id": principal.employee_id, "now": utcnow(), "message_id": message_id}
    row = await conn.fetchrow(_ONE, params)
    items = await _with_texts(conn, cache, [row] if row is not None else [], prefs, body=True)
    if not items:
        raise NotFound("No message with this id was sent to you.")
    return items[0]
