"""The calling employee: who they are (found once per request from their SSO token), their
feed, reads and acknowledgements."""

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    String,
    and_,
    any_,
    bindparam,
    case,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.audit.service import record
from app.auth.signin import SignedInEmployee, profile_of
from app.core.database import JSONType, utcnow
from app.core.errors import Conflict, NotFound
from app.core.hashing import canonical_sha256
from app.core.pagination import Page, PageParams, encode_cursor, keyset
from app.core.principal import Principal
from app.feedback.counts import reaction_counts, reaction_counts_column
from app.feedback.service import localized_pulse_question, my_pulse_column, my_reaction_column
from app.me.locales import choose_locale
from app.me.schemas import AcknowledgementOut, FeedItem, FeedState, MeOut
from app.messages.models import DEFAULT_FEEDBACK, Category, Message
from app.receipts.access import (
    delivery_for,
    delivery_of,
    delivery_select,
    delivery_statement,
    not_acknowledged,
    visible_to,
)
from app.receipts.models import Acknowledgement, Recipient
from app.webhooks.outbox import emit


async def get_me(
    session: AsyncSession, principal: Principal, *, signed_in: SignedInEmployee | None = None
) -> MeOut:
    """The caller's record; reuses what sign-in loaded when it is handed over."""
    if signed_in is None or signed_in.id != principal.employee_id:
        signed_in = await profile_of(session, principal.employee_id)
        if signed_in is None:
            raise NotFound("Your employee record no longer exists.")
    return MeOut.model_validate(dict(signed_in.record))


# The feed, the reads and the acknowledgements: the hottest paths of the service. Each answers
# from Core statements selecting only the columns it returns (never ORM entities), and the
# visibility rules come from `app.receipts.access`, the one place that decides them.
# The caller's reaction and pulse answer are correlated subqueries on the recipient row (primary
# key lookups), and the reaction counts one over the message's few count rows, so the feed stays
# one statement whatever the number of reactions.


def translations_in_languages(dialect: str) -> ColumnElement[Any]:
    """The message's translations whose language is one of the `languages` parameter (a list
    of bare language codes): the only ones `choose_locale` can serve to preferences in those
    languages. A feed page otherwise carries every translation of its messages (about 10 KB of
    JSON a message in the company bench, 80% of the page) to be decoded and mostly dropped."""
    if dialect == "postgresql":
        each = func.jsonb_each(Message.translations).table_valued("key", "value").alias("t")
        language = func.split_part(func.lower(each.c.key), "-", 1)
        chosen = func.jsonb_object_agg(each.c.key, each.c.value)
        wanted = language == any_(bindparam("languages", type_=ARRAY(String)))
    else:
        each = func.json_each(Message.translations).table_valued("key", "value").alias("t")
        key = func.lower(each.c.key)
        dash = func.instr(key, "-")
        language = case((dash > 0, func.substr(key, 1, dash - 1)), else_=key)
        chosen = func.json_group_object(each.c.key, func.json(each.c.value))
        wanted = language.in_(bindparam("languages", expanding=True))
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


def localized(row: Any, prefs: Sequence[str]) -> tuple[str, str, str | None, str]:
    """(locale, title, summary, body) of a row with the message's content columns."""
    locale = choose_locale(prefs, row.locale, row.translations)
    if locale == row.locale:
        return locale, row.title, row.summary, row.body
    content = row.translations[locale]
    return locale, content["title"], content.get("summary"), content.get("body") or ""


def _feed_item(row: Any, prefs: Sequence[str]) -> dict[str, Any]:
    locale, title, summary, body = localized(row, prefs)
    current = row.acknowledged_version is not None and (
        row.acknowledged_version >= row.acknowledgement_version
    )
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
    stmt = visible_to(principal, utcnow(), *feed_columns(session.bind.dialect.name))
    if state is FeedState.UNREAD:
        stmt = stmt.where(Recipient.read_at.is_(None))
    elif state is FeedState.UNACKNOWLEDGED:
        stmt = stmt.where(Message.requires_acknowledgement.is_(True), not_acknowledged())
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
    columns = feed_columns(session.bind.dialect.name)
    stmt = visible_to(principal, utcnow(), *columns).where(Recipient.message_id == message_id)
    row = (await session.execute(stmt, {"languages": languages_of(prefs)})).one_or_none()
    if row is None:
        raise NotFound("No message with this id was sent to you.")
    return FeedItem.model_validate(_feed_item(row, prefs))


def _recipient_row(principal: Principal, message_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(Recipient.message_id == message_id, Recipient.employee_id == principal.employee_id)


async def mark_read(session: AsyncSession, principal: Principal, *, message_id: uuid.UUID) -> None:
    """Record the caller's first read; later reads change nothing."""
    now = utcnow()
    await delivery_for(session, principal, message_id=message_id, now=now)
    result = await session.execute(
        update(Recipient)
        .where(_recipient_row(principal, message_id), Recipient.read_at.is_(None))
        .values(read_at=now)
    )
    if result.rowcount:
        await record(
            session,
            principal,
            action="message.read",
            entity_type="receipt",
            entity_id=message_id,
        )


def content_sha256(*, title: str, body: str, locale: str) -> str:
    """The evidence hash of content shown: SHA-256 of its canonical JSON (sorted keys, no
    whitespace, UTF-8), recomputable by anyone from the text of the version and locale."""
    return canonical_sha256({"body": body, "locale": locale, "title": title})


_ACKS, _MESSAGES, _RECIPIENTS = (
    Acknowledgement.__table__.c,
    Message.__table__.c,
    Recipient.__table__.c,
)
_ACK_RECORD = (
    _ACKS.id.label("ack_id"),
    _ACKS.version.label("ack_version"),
    _ACKS.statement.label("ack_statement"),
    _ACKS.locale.label("ack_locale"),
    _ACKS.content_sha256.label("ack_sha256"),
    _ACKS.acknowledged_at.label("ack_at"),
)
_ACK_CONTENT = (
    _MESSAGES.title,
    _MESSAGES.summary,
    _MESSAGES.body,
    _MESSAGES.locale,
    _MESSAGES.translations,
    _MESSAGES.acknowledgement_text,
)
# the acknowledgement of the message's current round, if the caller gave one
_CURRENT_ACK = and_(
    _ACKS.message_id == _RECIPIENTS.message_id,
    _ACKS.employee_id == _RECIPIENTS.employee_id,
    _ACKS.acknowledgement_version == _MESSAGES.acknowledgement_version,
)


def _ack_out(message_id: uuid.UUID, row: Any) -> AcknowledgementOut:
    return AcknowledgementOut.model_construct(
        id=row.ack_id,
        message_id=message_id,
        version=row.ack_version,
        statement=row.ack_statement,
        locale=row.ack_locale,
        content_sha256=row.ack_sha256,
        acknowledged_at=row.ack_at,
    )


# The acknowledgement's statements are built once, with bound parameters and on the tables:
# building them per request and the ORM's bulk-DML bookkeeping cost more than the database
# work (bench/RESULTS.md).
_ACK_DELIVERY = delivery_statement(
    bindparam("employee_id"), bindparam("message_id"), (*_ACK_CONTENT, *_ACK_RECORD)
).outerjoin(Acknowledgement.__table__, _CURRENT_ACK)
_INSERT_ACK = {
    name: dialect.insert(Acknowledgement.__table__)
    .on_conflict_do_nothing(index_elements=["message_id", "employee_id", "acknowledgement_version"])
    .returning(_ACKS.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_RECORD_ACK = (
    update(Recipient.__table__)
    .where(
        _RECIPIENTS.message_id == bindparam("b_message_id"),
        _RECIPIENTS.employee_id == bindparam("b_employee_id"),
    )
    .values(
        acknowledged_at=bindparam("b_at"),
        acknowledged_version=bindparam("b_version"),
        read_at=func.coalesce(_RECIPIENTS.read_at, bindparam("b_at")),
    )
)


async def acknowledge(
    session: AsyncSession,
    principal: Principal,
    *,
    message_id: uuid.UUID,
    prefs: Sequence[str] = (),
) -> tuple[AcknowledgementOut, bool]:
    """Acknowledge the current version; returns the record and whether it was created now.

    Idempotent, also under concurrency: the unique constraint on (message, employee, round)
    lets one `INSERT … ON CONFLICT DO NOTHING` win; the others read the winner's row (on
    PostgreSQL their insert waits for the winner's commit). The first time this is four
    statements (delivery with content, insert, recipient update, audit); after that, one.
    """
    now = utcnow()
    ids = {"employee_id": principal.employee_id, "message_id": message_id}
    row = (await session.execute(_ACK_DELIVERY, ids)).one_or_none()
    delivery = delivery_of(row)
    if not delivery.requires_acknowledgement:
        raise Conflict("This message asks for no acknowledgement.")
    if row.ack_id is not None:
        return _ack_out(message_id, row), False
    delivery_of(row, open_at=now)  # 409 once archived or expired
    locale, title, _summary, body = localized(row, prefs)
    values = {
        "id": uuid.uuid4(),
        "message_id": message_id,
        "employee_id": principal.employee_id,
        "acknowledgement_version": delivery.acknowledgement_version,
        "version": delivery.version,
        "statement": row.acknowledgement_text or "",
        "locale": locale,
        "content_sha256": content_sha256(title=title, body=body, locale=locale),
        "acknowledged_at": now,
    }
    inserted = (
        await session.execute(_INSERT_ACK[session.bind.dialect.name], values)
    ).scalar_one_or_none()
    if inserted is None:  # a concurrent request of the same caller won
        winner = (
            await session.execute(
                select(*_ACK_RECORD).where(
                    Acknowledgement.message_id == message_id,
                    Acknowledgement.employee_id == principal.employee_id,
                    Acknowledgement.acknowledgement_version == delivery.acknowledgement_version,
                )
            )
        ).one()
        return _ack_out(message_id, winner), False
    await session.execute(
        _RECORD_ACK,
        {
            "b_message_id": message_id,
            "b_employee_id": principal.employee_id,
            "b_at": now,
            "b_version": delivery.version,
        },
    )
    await record(
        session,
        principal,
        action="acknowledgement.created",
        entity_type="acknowledgement",
        entity_id=values["id"],
        details={
            "message_id": str(message_id),
            "version": delivery.version,
            "acknowledgement_version": delivery.acknowledgement_version,
            "locale": locale,
        },
    )
    await emit(
        session,
        type="acknowledgement.created",
        message_id=message_id,
        data={
            **{k: values[k] for k in AcknowledgementOut.model_fields},
            "employee_external_id": principal.external_id,
        },
    )
    return AcknowledgementOut.model_construct(
        **{k: values[k] for k in AcknowledgementOut.model_fields}
    ), True


async def get_acknowledgement(
    session: AsyncSession, principal: Principal, *, message_id: uuid.UUID
) -> AcknowledgementOut:
    """The caller's acknowledgement of the message's current version (404 when none)."""
    stmt = delivery_select(principal, message_id=message_id, columns=_ACK_RECORD).outerjoin(
        Acknowledgement.__table__, _CURRENT_ACK
    )
    row = (await session.execute(stmt)).one_or_none()
    delivery_of(row)
    if row.ack_id is None:
        raise NotFound("You have not acknowledged the current version of this message.")
    return _ack_out(message_id, row)
